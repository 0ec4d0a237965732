/* child: see child.h. */
#include "child.h"
#include "hotpath.h"

#include "procs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "parse.h"

extern char **environ;

void child_plan_free(struct child_exec_plan *p)
{
    for (size_t i = 0; i < p->npaths; i++)
        free(p->paths[i]);
    free(p->paths);
    free(p->sh_argv);
}

int child_plan_build(struct child_exec_plan *p, char *const *argv)
{
    memset(p, 0, sizeof *p);
    p->argv = argv;
    p->envp = environ;
    const char *file = argv[0];
    size_t argc = 0;
    while (argv[argc])
        argc++;
    p->sh_argv = calloc(argc + 2, sizeof *p->sh_argv);
    if (p->sh_argv == NULL)
        return -ENOMEM;
    p->sh_argv[0] = "/bin/sh";
    for (size_t i = 1; i < argc; i++)
        p->sh_argv[i + 1] = argv[i];

    if (strchr(file, '/') != NULL || *file == '\0') {
        p->paths = calloc(1, sizeof *p->paths);
        if (p->paths == NULL || (p->paths[0] = strdup(file)) == NULL)
            return -ENOMEM;
        p->npaths = 1;
        return 0;
    }
    /* glibc's execvp default when PATH is unset. */
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/bin:/usr/bin";
    size_t n = 1;
    for (const char *c = path; *c; c++)
        n += *c == ':';
    p->paths = calloc(n, sizeof *p->paths);
    if (p->paths == NULL)
        return -ENOMEM;
    const char *start = path;
    for (;;) {
        const char *end = strchrnul(start, ':');
        size_t dl = (size_t)(end - start);
        /* An empty PATH element means the current directory. */
        if (asprintf(&p->paths[p->npaths], "%.*s%s%s", (int)dl, start, dl ? "/" : "", file) < 0)
            return -ENOMEM;
        p->npaths++;
        if (*end == '\0')
            break;
        start = end + 1;
    }
    return 0;
}

/* execvp's search, from the prepared plan. Returns the errno to report. */
static int exec_plan_run(struct child_exec_plan *p)
{
    int seen_eacces = 0, last = ENOENT;
    for (size_t i = 0; i < p->npaths; i++) {
        execve(p->paths[i], p->argv, p->envp);
        int e = errno;
        if (e == ENOEXEC) {
            /* Not a binary and no #!: run it with the shell, as execvp does. */
            p->sh_argv[1] = p->paths[i];
            execve("/bin/sh", p->sh_argv, p->envp);
            return errno;
        }
        if (e == EACCES)
            seen_eacces = 1;
        else if (e != ENOENT && e != ENOTDIR && e != ESTALE && e != ENODEV && e != ETIMEDOUT)
            return e; /* a real error: stop, as execvp does */
        last = e;
    }
    return seen_eacces ? EACCES : last;
}

/* Without close_range (kernels before 5.9): the fds listed in
 * /proc/self/fd, read with the raw getdents64 syscall into a stack buffer
 * (opendir would allocate: not async-signal-safe). Closing while listing
 * may skip entries, hence the passes. */
static int kept(const int *keep, int nkeep, long fd)
{
    for (int i = 0; i < nkeep; i++)
        if (keep[i] == fd)
            return 1;
    return 0;
}

static int close_listed_fds(const int *keep, int nkeep)
{
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -1;
    /* A pass that closed something starts over; an fd whose close fails
     * (valgrind keeps a few of its own) must not make that endless. */
    for (int again = 1, pass = 0; again && pass < 16; pass++) {
        again = 0;
        if (lseek(dir, 0, SEEK_SET) < 0)
            break;
        char buf[4096] __attribute__((aligned(8)));
        long n;
        while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
            for (long off = 0; off < n;) {
                /* struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name */
                unsigned short reclen;
                memcpy(&reclen, buf + off + 16, sizeof reclen);
                const char *name = buf + off + 19;
                off += reclen;
                int fd = 0, digits = 0;
                for (; *name >= '0' && *name <= '9' && fd < INT_MAX / 10; name++, digits++)
                    fd = fd * 10 + (*name - '0');
                if (digits == 0 || *name != '\0' || fd < 3 || kept(keep, nkeep, fd) || fd == dir)
                    continue;
                if (close(fd) == 0)
                    again = 1;
            }
        }
        if (n < 0)
            break;
    }
    close(dir);
    return 0;
}

int child_close_other_fds(const int *keep, int nkeep, int use_close_range)
{
    /* close_range(2) is a plain syscall and so async-signal-safe: the gaps
     * between the kept fds (sorted), then everything above the last. */
    if (use_close_range) {
        unsigned from = 3;
        int ok = 1;
        for (int i = 0; i < nkeep && ok; i++) {
            if ((unsigned)keep[i] > from)
                ok = syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0U) == 0;
            from = (unsigned)keep[i] + 1;
        }
        if (ok && syscall(SYS_close_range, from, ~0U, 0U) == 0)
            return 0;
    }
    if (close_listed_fds(keep, nkeep) == 0)
        return 0;
    /* No /proc either: every fd up to the limit, one by one. */
    struct rlimit rl;
    long max = 1L << 20;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)max)
        max = (long)rl.rlim_cur;
    for (long fd = 3; fd < max; fd++)
        if (!kept(keep, nkeep, fd))
            close((int)fd);
    return 0;
}

/* The kernel's own struct sigaction (x86-64, arm64 and the generic ABI);
 * all zero is SIG_DFL with no flags and an empty mask. */
struct kernel_sigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};

/* What podvisor was started with (child_record_inherited_signals): the
 * app gets the same. */
static sigset_t inherited_mask;
static unsigned char inherited_ignored[NSIG];

/* The signals a child sets before its exec (see child_after_fork). */
static int reset_sigs[NSIG];
static int n_reset;

static void reset_in_child(int sig)
{
    for (int i = 0; i < n_reset; i++)
        if (reset_sigs[i] == sig)
            return;
    if (n_reset < NSIG)
        reset_sigs[n_reset++] = sig;
}

/* Whether sig is ignored now. podvisor never changes a disposition itself
 * (its signals come through the signalfd), so for every signal but
 * SIGPIPE this is what its parent left it: asked only for the few signals
 * that matter, not for all 64 at start-up (61 system calls on the path of
 * every start). SIGPIPE is read at start-up: a library may ignore it for a
 * while (libcurl does around a transfer). */
static int ignored_now(int sig)
{
    struct sigaction old;
    return sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN;
}

/* The signals child_deliver_signal took already. */
static unsigned char delivered[NSIG];

void child_record_inherited_signals(void)
{
    sigemptyset(&inherited_mask);
    sigprocmask(SIG_SETMASK, NULL, &inherited_mask);
    for (int sig = 32; sig < SIGRTMIN; sig++)
        sigdelset(&inherited_mask, sig); /* the C library's own: never passed on */
    inherited_ignored[SIGPIPE] = (unsigned char)ignored_now(SIGPIPE);
    reset_in_child(SIGPIPE);
}

int child_deliver_signal(int sig)
{
    if (sig <= 0 || sig >= NSIG || (sig >= 32 && sig < SIGRTMIN) || delivered[sig])
        return 0;
    delivered[sig] = 1;
    int ignored = sig == SIGPIPE ? inherited_ignored[sig] : ignored_now(sig);
    int changed = ignored || sigismember(&inherited_mask, sig) == 1;
    if (ignored)
        reset_in_child(sig);
    inherited_ignored[sig] = 0;
    sigdelset(&inherited_mask, sig);
    return changed;
}

/* Writes the child's pid after the slot's '=' (async-signal-safe: no
 * stdio, no allocation). */
static void fill_pid_slot(char *slot)
{
    char *p = slot;
    while (*p && *p != '=' && p < slot + CHILD_PID_SLOT_LEN - 12)
        p++;
    if (*p != '=')
        return;
    p++;
    char digits[12];
    int n = 0;
    for (unsigned long v = (unsigned long)getpid(); n == 0 || v > 0; v /= 10)
        digits[n++] = (char)('0' + v % 10);
    while (n > 0)
        *p++ = digits[--n];
    *p = '\0';
}

/* Puts each source fd at its target, with no other fd inherited; the
 * exec-result pipe (*errfd) is moved above every source and target first,
 * so that no target overwrites it. Async-signal-safe. Returns 0, or the
 * errno to report as the exec's. */
static int map_fds(const struct child_fd_map *fds, int nfds, int *errfd)
{
    int top = *errfd;
    for (int i = 0; i < nfds; i++) {
        if (fds[i].source > top)
            top = fds[i].source;
        if (fds[i].target > top)
            top = fds[i].target;
    }
    /* F_DUPFD above the fd limit is EINVAL: out of fds, as EMFILE says. */
    int moved = fcntl(*errfd, F_DUPFD_CLOEXEC, top + 1);
    if (moved < 0)
        return errno == EINVAL ? EMFILE : errno;
    *errfd = moved;
    /* Each source copied above the range first: a source that is another
     * entry's target would otherwise be overwritten before it is used. */
    int copy[CHILD_MAX_MAPPED_FDS];
    for (int i = 0; i < nfds; i++)
        if ((copy[i] = fcntl(fds[i].source, F_DUPFD_CLOEXEC, moved + 1)) < 0)
            return errno == EINVAL ? EMFILE : errno;
    for (int i = 0; i < nfds; i++)
        if (dup2(copy[i], fds[i].target) < 0) /* dup2 clears FD_CLOEXEC: inherited */
            return errno;
    int keep[CHILD_MAX_MAPPED_FDS + 1];
    int nkeep = 0;
    for (int i = 0; i < nfds; i++) {
        /* insertion sort: keep must be sorted, and n is small */
        int j = nkeep++;
        while (j > 0 && keep[j - 1] > fds[i].target) {
            keep[j] = keep[j - 1];
            j--;
        }
        keep[j] = fds[i].target;
    }
    keep[nkeep++] = moved; /* above every target */
    child_close_other_fds(keep, nkeep, 1);
    return 0;
}

/* Runs in the forked child: async-signal-safe calls only. */
static __attribute__((noreturn)) void child_after_fork(struct child_exec_plan *p, int errfd,
                                                       int take_terminal, int output_fd,
                                                       const struct child_spawn_opts *opts)
{
    struct sigaction dfl, ign;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    /* Every disposition as podvisor's parent left it for podvisor: ignored
     * where it was (SIG_IGN survives exec; nohup's SIGHUP), the default
     * everywhere else. A handler never survives exec, and podvisor itself
     * ignores nothing (its signals come through the signalfd), so only
     * what differs from podvisor's own needs a call: the signals it is
     * told to send (child_deliver_signal), and SIGPIPE, which a library
     * may ignore (libcurl does around a transfer). Not all 64: this runs
     * on every spawn, before the exec. */
    for (int i = 0; i < n_reset; i++)
        sigaction(reset_sigs[i], inherited_ignored[reset_sigs[i]] ? &ign : &dfl, NULL);
    /* glibc's sigaction refuses its two internal signals (32, 33), so an
     * ignored one would survive; seen under make, which leaves 32 ignored.
     * The raw syscall resets them. */
    struct kernel_sigaction kdfl = {0};
    for (int sig = 32; sig < SIGRTMIN; sig++)
        syscall(SYS_rt_sigaction, sig, &kdfl, NULL, sizeof(uint64_t));
    setpgid(0, 0);
    /* Still with every signal blocked, so the SIGTTOU that tcsetpgrp raises
     * for a background process cannot stop us here. */
    if (take_terminal)
        tcsetpgrp(STDIN_FILENO, getpid());
    if (output_fd >= 0) {
        dup2(output_fd, STDOUT_FILENO);
        dup2(output_fd, STDERR_FILENO);
    }
    if (opts && opts->pid_slot)
        fill_pid_slot(opts->pid_slot);
    int err = map_fds(opts ? opts->fds : NULL, opts ? opts->nfds : 0, &errfd);
    /* The mask podvisor was started with (empty unless its parent blocked
     * something), as tini restores it. */
    if (err == 0) {
        sigprocmask(SIG_SETMASK, &inherited_mask, NULL);
        err = exec_plan_run(p);
    }
    ssize_t unused = write(errfd, &err, sizeof err);
    (void)unused;
    _exit(127);
}

int child_output_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    int fl = fcntl(fds[0], F_GETFL);
    if (fl < 0 || fcntl(fds[0], F_SETFL, fl | O_NONBLOCK) < 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        return -err;
    }
    return 0;
}

struct spawn_args {
    struct child_exec_plan *plan;
    int readfd, errfd, take_terminal, output_fd;
    const struct child_spawn_opts *opts;
};

static int child_entry(void *arg)
{
    struct spawn_args *a = arg;
    close(a->readfd);
    child_after_fork(a->plan, a->errfd, a->take_terminal, a->output_fd, a->opts);
}

/* The child runs in podvisor's memory until its exec (CLONE_VM|CLONE_VFORK,
 * as the C library's own posix_spawn): no page tables copied, no
 * copy-on-write faults in either process, podvisor paused until the exec
 * (or the child's _exit). Safe because everything the child does is a
 * syscall on data podvisor prepared, it has its own stack and its own
 * signal dispositions (no CLONE_SIGHAND), and every signal is blocked
 * until the exec. */
static pid_t spawn_process(struct spawn_args *a)
{
#ifdef PODVISOR_SANITIZER
    /* ASan takes a child running on a stack of its own for a stack
     * overflow in progress and says so on stderr: the sanitizer build
     * forks (the plain and static builds test the clone). */
    pid_t pid = fork();
    if (pid == 0)
        child_entry(a);
    return pid < 0 ? -errno : pid;
#else
    enum { STACK = 64 * 1024 };
    static char *stack;
    if (stack == NULL) {
        stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                     -1, 0);
        if (stack == MAP_FAILED) {
            stack = NULL;
            return -errno;
        }
    }
    pid_t pid = clone(child_entry, stack + STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, a);
    return pid < 0 ? -errno : pid;
#endif
}

int child_spawn(char *const *argv, const struct child_spawn_opts *opts, pid_t *pid_out,
                int *exec_fd)
{
    int output_fd = opts ? opts->output_fd : -1;
    int helper = opts ? opts->helper : 0;
    struct child_exec_plan plan;
    int pipefd[2] = {-1, -1};
    int rc = child_plan_build(&plan, argv);
    if (rc < 0)
        goto out;
    if (opts && (opts->nfds < 0 || opts->nfds > CHILD_MAX_MAPPED_FDS)) {
        rc = -EINVAL;
        goto out;
    }
    if (opts && opts->envp)
        plan.envp = opts->envp;
    /* Non-blocking: the caller watches the read end in its event loop
     * instead of waiting for the exec here. */
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
        rc = -errno;
        goto out;
    }
    /* Take the terminal's foreground only when podvisor has it: a podvisor
     * started in the background must not steal the terminal from a shell. */
    int take_terminal = !helper && isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();

    struct spawn_args a = {&plan, pipefd[0], pipefd[1], take_terminal, output_fd, opts};
    pid_t pid = spawn_process(&a);
    if (pid < 0) {
        rc = pid;
        goto out;
    }
    /* The child wrote its pid into the slot, in podvisor's memory it
     * shares until its exec; the exec copied the environment, and podvisor
     * runs again only after it: the slot is podvisor's again, as it was. */
    if (opts && opts->pid_slot) {
        char *eq = strchr(opts->pid_slot, '=');
        if (eq != NULL)
            eq[1] = '\0';
    }
    /* Also from the parent, so the group exists before we ever signal it,
     * whichever of the two runs first; failure (EACCES once the child has
     * exec'd) means the child's own setpgid already did it. */
    (void)setpgid(pid, pid);
    *pid_out = pid;
    *exec_fd = pipefd[0];
    pipefd[0] = -1;
    rc = 0;
out:
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    child_plan_free(&plan);
    return rc;
}

enum child_exec_result child_exec_result(int fd, int *err)
{
    int child_errno = 0;
    ssize_t n;
    *err = 0;
    do
        n = read(fd, &child_errno, sizeof child_errno);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return CHILD_EXEC_OK; /* EOF: the close-on-exec pipe closed at exec */
    if (n == sizeof child_errno) {
        *err = child_errno;
        return CHILD_EXEC_FAILED;
    }
    if (n < 0 && errno == EAGAIN)
        return CHILD_EXEC_PENDING;
    /* A short read or a read error: whether the exec worked is unknown, and
     * unknown is not success. */
    *err = n < 0 ? errno : EIO;
    return CHILD_EXEC_LOST;
}

int child_exec_error_code(int err)
{
    /* Out of fds before the exec is podvisor's failure, not the command's. */
    if (err == EMFILE || err == ENFILE)
        return 1;
    return err == ENOENT || err == ENOTDIR ? 127 : 126;
}

int child_kill_group_only(pid_t pgid)
{
    if (pgid <= 1)
        return -EINVAL;
    return kill(-pgid, SIGKILL) < 0 ? -errno : 0;
}

HOT_PATH int child_signal(pid_t pid, pid_t pgid, int sig, int group)
{
    if (pid <= 0)
        return -ESRCH;
    if (pgid <= 0)
        pgid = pid;
    if (group) {
        int rc = kill(-pgid, sig) < 0 ? -errno : 0;
        /* The child starts as its group's leader, and a group leader cannot
         * setsid; but it (or a successor) may have moved to another group.
         * Then it is signalled directly too, but never twice: a second
         * delivery would be a second signal to a handler that already ran. */
        if (getpgid(pid) == pgid || (kill(pid, sig) < 0 && rc < 0))
            return rc;
        return 0;
    }
    return kill(pid, sig) < 0 ? -errno : 0;
}

int child_reap(void (*on_status)(void *ctx, pid_t pid, int status), void *ctx)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG | WUNTRACED | WCONTINUED);
        if (pid == 0)
            return 1;
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            return errno == ECHILD ? 0 : -errno;
        }
        on_status(ctx, pid, status);
    }
}

/* The pids whose parent is podvisor, from /proc: an orphan adopted by a
 * subreaper is its child like any other, and no other list of them exists. */
/* Not PID 1: every process below podvisor, grandchildren included, in one
 * pass. Signalling only the direct children left a grandchild orphaned by
 * its parent's death (reparented to podvisor, a subreaper) without the
 * SIGTERM unless the reparenting won the race: it got only the SIGKILL a
 * second later. */
static int signal_descendants(int sig)
{
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    pid_t self = getpid();
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == self)
            continue;
        if (procs_descends_from((pid_t)pid, self) && kill((pid_t)pid, sig) == 0)
            count++;
    }
    closedir(d);
    return count;
}

int child_signal_all_remaining(int sig)
{
    if (getpid() == 1) {
        /* From PID 1, kill(-1) reaches every process of the namespace but
         * podvisor itself. ESRCH: nothing is left. */
        return kill(-1, sig) == 0 ? 1 : 0;
    }
    return signal_descendants(sig);
}
