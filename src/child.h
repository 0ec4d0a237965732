/* child: spawns, signals and reaps processes. Owns clone/exec (PATH search,
 * exec-errno pipe, signal mask and dispositions reset, process group,
 * terminal foreground, fd hygiene), the kill/reap mechanics podvisor needs
 * as PID 1 or as a subreaper, and the decoding of wait statuses. Knows
 * nothing of HTTP, config or lifecycle. */
#ifndef PODVISOR_CHILD_H
#define PODVISOR_CHILD_H

#include <stddef.h>
#include <sys/types.h>

/* Everything the forked child needs, prepared before fork: between fork and
 * exec only async-signal-safe calls are allowed (the parent may hold locks
 * in malloc or stdio), so the PATH search and all allocation happen here. */
struct child_exec_plan {
    char **paths; /* candidate files, in PATH order (execvp's search) */
    size_t npaths;
    char **sh_argv; /* "/bin/sh", <path>, argv[1..]: execvp's ENOEXEC fallback */
    char *const *argv;
    char *const *envp; /* the child's environment */
};

/** Builds the plan for argv (argv[0] searched in PATH unless it has a
 * '/'). Returns 0 or -ENOMEM; child_plan_free is safe after either. */
int child_plan_build(struct child_exec_plan *p, char *const *argv);
void child_plan_free(struct child_exec_plan *p);

/** Closes every fd from 3 up but those in keep[0..nkeep) (sorted, each
 * >= 3): with close_range(2) when use_close_range and the kernel has it,
 * else those /proc/self/fd lists, else one by one up to the fd limit.
 * Async-signal-safe. Returns 0. */
int child_close_other_fds(const int *keep, int nkeep, int use_close_range);

/* One fd the child gets: podvisor's `source` becomes the child's `target`
 * (as h2o's h2o_spawnp mapped_fds). Targets from 3 up; a source may be
 * another entry's target (the map is applied through copies above it). */
struct child_fd_map {
    int source;
    int target;
};
#define CHILD_MAX_MAPPED_FDS 64

/* The after-fork slot: a string of the child's environment that gets its
 * own pid written in after fork ("LISTEN_PID=" then the digits), since
 * sd_listen_fds ignores the fds unless LISTEN_PID is the reader's pid. */
#define CHILD_PID_SLOT_LEN 32

/* How a child differs from the main one. */
struct child_spawn_opts {
    int output_fd;     /* >= 0: the child's stdout and stderr (a capture pipe) */
    int helper;        /* a podvisor helper (--validate, exec:): never takes the terminal */
    char *const *envp; /* NULL: podvisor's own environment */
    /* The fds the child gets beside 0-2 (nfds <= CHILD_MAX_MAPPED_FDS);
     * nothing else is inherited. */
    const struct child_fd_map *fds;
    int nfds;
    /* NULL, or a string of envp (CHILD_PID_SLOT_LEN bytes) whose text up
     * to its '=' is kept and the child's pid written after it. */
    char *pid_slot;
};

/** Records the signal mask podvisor itself was started with, and whether
 * SIGPIPE was ignored, before it blocks everything (signals_open): the app
 * inherits them, as tini does ("completely transparently": under `nohup
 * podvisor -- app` a SIGHUP must not kill the app). Helpers too. An ignored
 * disposition reaches the children by itself (SIG_IGN survives exec, and
 * podvisor changes none); child_deliver_signal reads the one it needs. The
 * C library's reserved signals (glibc 32-33, musl 32-34) are never passed
 * on. */
void child_record_inherited_signals(void);

/** A signal podvisor itself sends the app (the stop signal, the
 * on-change signal, a --rewrite target): children start with it at its
 * default disposition and unblocked, whatever podvisor was started with
 * (under nohup, HUP is ignored and a shell's trap could not take it back).
 * Returns 1 when that changes what was inherited, else 0. */
int child_deliver_signal(int sig);

/** A pipe for a helper's output: both ends close-on-exec, only podvisor's
 * read end non-blocking. The writer's end must block: a helper writing more
 * than the pipe holds (64 KiB) would otherwise get EAGAIN and fail (a valid
 * config refused by --validate, an exec check that never passes). Returns
 * 0 or -errno. */
int child_output_pipe(int fds[2]);

/** Forks argv[0] (searched in PATH like execvp) as a new process-group
 * leader with the signal mask and the ignored signals podvisor started with
 * (child_record_inherited_signals), every other disposition at its default, only fds 0, 1, 2,
 * and the terminal's foreground when podvisor holds it (not for helpers).
 * opts may be NULL (the main child). Does not wait for the exec: *exec_fd
 * is the non-blocking, close-on-exec read end of a pipe that
 * child_exec_result reads once it is readable. Returns 0, or -errno when no
 * process could be made. */
int child_spawn(char *const *argv, const struct child_spawn_opts *opts, pid_t *pid, int *exec_fd);

enum child_exec_result {
    CHILD_EXEC_PENDING = 0, /* nothing to read yet */
    CHILD_EXEC_OK,          /* EOF: the exec succeeded */
    CHILD_EXEC_FAILED,      /* *err: the exec's errno; the child _exits */
    CHILD_EXEC_LOST,        /* *err: a short or failed read; the outcome is unknown */
};

/** Reads the exec result from the pipe child_spawn returned. */
enum child_exec_result child_exec_result(int exec_fd, int *err);

/** The exit code for a failed exec: 127 when the command was not found,
 * 126 when it exists but cannot be executed, 1 when the child ran out of
 * fds before it could try (podvisor's failure, not the command's). */
int child_exec_error_code(int err);

/** Sends sig to pid, or to its process group pgid when `group` (and to
 * pid itself too, in case it left the group). pgid 0: pid's own (a child
 * podvisor started leads its group). Returns 0 or -errno. */
int child_signal(pid_t pid, pid_t pgid, int sig, int group);

/** SIGKILLs the process group `pgid` only (what is left of a child that
 * is gone: its pid is not signalled, it may belong to another process
 * by now, but a group id is never reused while the group has members).
 * Returns 0 or -errno (-ESRCH: the group is empty). */
int child_kill_group_only(pid_t pgid);

/** Reaps without blocking; calls on_status for each status waitpid reports
 * (exited, killed, stopped, continued). Returns 1 while podvisor still has
 * children, 0 when it has none left, -errno on failure. */
int child_reap(void (*on_status)(void *ctx, pid_t pid, int status), void *ctx);

/** Sends sig to every process podvisor should not leave behind: as PID 1,
 * everything in the PID namespace (kill(-1)); otherwise each of its own
 * children (adopted orphans included). Returns how many were signalled. */
int child_signal_all_remaining(int sig);

#endif
