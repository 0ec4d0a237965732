/* child: spawns, signals and reaps processes. Owns fork/exec (PATH search,
 * exec-errno pipe, signal mask and dispositions reset, process group,
 * terminal foreground, fd hygiene) and the kill/reap mechanics podvisor needs
 * as PID 1 or as a subreaper. Knows nothing of HTTP, config or lifecycle. */
#ifndef PODVISOR_CHILD_H
#define PODVISOR_CHILD_H

#include <sys/types.h>

/* Where the spawn failed: before exec (podvisor's fault, exit 1) or at exec
 * (the command's fault: 126 or 127). */
enum child_spawn_error { CHILD_SPAWN_OK = 0, CHILD_SPAWN_SYSTEM, CHILD_SPAWN_EXEC };

/** Starts argv[0] (searched in PATH like execvp) as a new process-group
 * leader with an empty signal mask, default dispositions, only fds 0, 1, 2,
 * and the terminal's foreground when podvisor holds it. Waits only until the
 * exec has succeeded or failed. On failure sets *err to the errno and
 * returns the kind of failure; the failed child is already reaped. */
enum child_spawn_error child_spawn(char *const *argv, pid_t *pid, int *err);

/** The exit code for a failed exec: 127 when the command was not found,
 * 126 when it exists but cannot be executed. */
int child_exec_error_code(int err);

/** Sends sig to pid, or to pid's process group when `group` (and to pid
 * itself too, in case it left the group). Returns 0 or -errno. */
int child_signal(pid_t pid, int sig, int group);

/* What one reaped status was. */
struct child_reaped {
    pid_t pid;
    int status;      /* as from waitpid */
};

/** Reaps without blocking; calls `on_reaped` for each process that exited
 * or was killed, and `on_stopped` (may be NULL) for processes that stopped
 * or continued. Returns 1 while podvisor still has children, 0 when it has
 * none left, -errno on failure. */
int child_reap(void (*on_reaped)(void *ctx, const struct child_reaped *r),
               void (*on_stopped)(void *ctx, const struct child_reaped *r), void *ctx);

/** Sends sig to every process podvisor should not leave behind: as PID 1,
 * everything in the PID namespace (kill(-1)); otherwise each of its own
 * children (adopted orphans included). Returns how many were signalled. */
int child_signal_all_remaining(int sig);

/** 128+N for a signal death, the exit code otherwise. */
int child_status_code(int status);

#endif
