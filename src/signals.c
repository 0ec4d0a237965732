/* signals: see signals.h. */
#include "signals.h"
#include "hotpath.h"

#include "child.h"

#include <errno.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A switch, not a table: no read-only data page on the signal path. */
HOT_PATH static int is_fault_signal(int sig)
{
    switch (sig) {
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGSYS:
    case SIGABRT:
        return 1;
    default:
        return 0;
    }
}

int signals_open(void)
{
    /* Before anything is blocked: the app gets what podvisor got. */
    child_record_inherited_signals();
    sigset_t all;
    sigfillset(&all);
#ifdef PODVISOR_SANITIZER
    /* ASan reports faults from its own SEGV/BUS/FPE handlers, which a
     * blocked signal would bypass (the kernel resets it to the default). */
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
#endif
    if (sigprocmask(SIG_SETMASK, &all, NULL) < 0)
        return -errno;
    /* The C library keeps its reserved signals (glibc 32-33, musl 32-34)
     * out of any set it builds, yet the kernel delivers them: a `kill -34`
     * would end podvisor (not PID 1, the kernel does not shield it) and
     * orphan the app. Blocked through the kernel directly, they stay
     * pending. podvisor never calls setuid() nor cancels a thread, the two
     * things the C library uses them for. */
    uint64_t reserved = 0;
    for (int sig = 32; sig < SIGRTMIN; sig++)
        reserved |= UINT64_C(1) << (sig - 1);
    if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, &reserved, NULL, sizeof reserved) < 0)
        return -errno;
    int fd = signalfd(-1, &all, SFD_CLOEXEC | SFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

HOT_PATH int signals_read_one(int fd, struct signals_info *out)
{
    struct signalfd_siginfo si;
    ssize_t n;
    do
        n = read(fd, &si, sizeof si);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN ? 0 : -errno;
    if (n != sizeof si)
        return -EIO;
    out->sig = (int)si.ssi_signo;
    out->sender = (pid_t)si.ssi_pid;
    out->code = si.ssi_code;
    return 1;
}

static int sent_by_a_process(int code)
{
    return code == SI_USER || code == SI_QUEUE || code == SI_TKILL;
}

HOT_PATH int signals_forwardable(const struct signals_info *si, pid_t self)
{
    int sig = si->sig;
    /* _NSIG - 1 is SIGRTMAX, known at compile time (the C library's
     * SIGRTMAX is a function call into another page of the binary). */
    if (sig == SIGCHLD || sig == SIGKILL || sig == SIGSTOP || sig < 1 || sig > _NSIG - 1)
        return 0;
    if (si->sender == self && (si->code == SI_USER || si->code == SI_TKILL))
        return 0;
    /* dumb-init forwards these too (its proxies_signals test): `kill -SEGV`
     * or `docker kill -s SEGV` is a message for the app. */
    if (is_fault_signal(sig) && !sent_by_a_process(si->code))
        return 0;
    return 1;
}
