/* procs: reads the process table in /proc. Finds the processes a sidecar signals (--signal-process
 * NAME) in a shared PID namespace (shareProcessNamespace: true). A process matches when its
 * executable's base name or its /proc/PID/comm is NAME; only the top of each matching tree is taken
 * (nginx's master, not its workers, which are nginx too), and never podvisor or its own children (a
 * `nginx -t` run by --validate is named nginx as well). */
#ifndef PODVISOR_PROCS_H
#define PODVISOR_PROCS_H

#include <stddef.h>
#include <sys/types.h>

struct proc_entry {
    pid_t pid, ppid;
    char comm[16];  /* /proc/PID/comm: at most 15 bytes */
    char exe[64];   /* base name of /proc/PID/exe; "" when unreadable */
    char argv0[64]; /* base name of argv[0] (/proc/PID/cmdline, readable by all) */
    char state;     /* /proc/PID/stat's state: 'Z' for a zombie */
};

/** Whether e is named name: its exe's base name, or its comm, which the
 * kernel cuts to 15 bytes: for a name of 15 bytes or more the cut comm is
 * not enough (another name may share those bytes), argv[0] must say it. */
int procs_match(const struct proc_entry *e, const char *name);

/** Picks from the n entries those matching any of names whose ancestors
 * (within the table) do not match, skipping `self` and its descendants,
 * and zombies (a dead process cannot take a signal).
 * Writes their indexes to out (room for n); returns how many. Pure. */
size_t procs_select(const struct proc_entry *e, size_t n, char *const *names, size_t nnames,
                    pid_t self, size_t *out);

/** pid's parent from /proc/PID/stat, or -1 when pid is gone. */
pid_t procs_parent(pid_t pid);

/** pid's process group from /proc/PID/stat, or -1 when pid is gone. */
pid_t procs_group(pid_t pid);

/** Whether pid belongs to the tree of root, a process group leader that
 * podvisor started: root itself, a descendant, or a process that left the
 * tree (re-parented after its parent exited) but kept root's group. */
int procs_in_tree(pid_t pid, pid_t root);

/** Whether pid descends from ancestor (parent links in /proc, at most 256
 * levels). 0 when pid is gone, is ancestor itself, or /proc says no. */
int procs_descends_from(pid_t pid, pid_t ancestor);

/** Reads /proc into a malloc'd table (*n entries). Returns 0 or -errno. */
int procs_scan(struct proc_entry **table, size_t *n);

/** The sidecar's lookup: scans /proc and selects as procs_select does.
 * Returns how many (their pids in pids, room for max), or -errno. */
int procs_find(char *const *names, size_t nnames, pid_t self, pid_t *pids, size_t max);

#endif
