/* memlimit: the container's memory limit and use (the pod's
 * resources.limits.memory), read from podvisor's own cgroup, and whether a
 * second generation of the app fits beside the first (start-first runs two
 * at once under that one limit). */
#ifndef PODVISOR_MEMLIMIT_H
#define PODVISOR_MEMLIMIT_H

/** Reads the limit and use: cgroup v2 (memory.max, memory.current) or v1
 * (memory.limit_in_bytes, memory.usage_in_bytes), at the path the cgroup
 * file (/proc/self/cgroup) names under cgroup_root (/sys/fs/cgroup; v1 at
 * its memory/), or at the mount's root in a cgroup namespace. -1 in *max:
 * not known, or no limit; -1 in *used: not known. */
void memlimit_read(const char *cgroup_file, const char *cgroup_root, long long *max,
                   long long *used);

enum memlimit_fit {
    MEMLIMIT_FITS,       /* no limit known, or room for another of it */
    MEMLIMIT_TIGHT,      /* less room left than it uses: it may not fit */
    MEMLIMIT_TOO_LITTLE, /* less than half of it left: it would not fit */
};

/** Whether another `used` fits under `max` beside the first. Pure. */
enum memlimit_fit memlimit_second_fits(long long max, long long used);

#endif
