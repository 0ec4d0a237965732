/* memlimit: the container's memory limit and working set (the pod's
 * resources.limits.memory), read from podvisor's own cgroup, and whether a
 * second generation of the app fits beside the first (start-first runs two
 * at once under that one limit). */
#ifndef PODVISOR_MEMLIMIT_H
#define PODVISOR_MEMLIMIT_H

/** Reads the limit and the working set: cgroup v2 (memory.max,
 * memory.current less memory.stat's inactive_file) or v1
 * (memory.limit_in_bytes, memory.usage_in_bytes less total_inactive_file),
 * at the path the cgroup file (/proc/self/cgroup) names under cgroup_root
 * (/sys/fs/cgroup; v1 at its memory/), or at the mount's root in a cgroup
 * namespace. The working set is what the kubelet counts against the limit
 * (page cache the kernel can drop is not): 300 MB of cache beside a 6 MiB
 * app is no reason to refuse a second one. -1 in *max: not known, or no
 * limit; -1 in *working_set: not known. Read anew for every decision: the
 * limit of a running pod can be resized in place. */
void memlimit_read(const char *cgroup_file, const char *cgroup_root, long long *max,
                   long long *working_set);

/** Whether a second generation needing `need` bytes (0: as much as the
 * working set) fits under `max` beside what runs now. Never "maybe": the
 * kernel's OOM killer picks the biggest process, the serving one, so a
 * second generation that might not fit is not started. No limit or no
 * reading: it fits. Pure. */
int memlimit_second_fits(long long max, long long working_set, long long need);

#endif
