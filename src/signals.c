/* signals: see signals.h. */
#include "signals.h"

#include <errno.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* Signals the kernel raises for a fault in podvisor itself. Blocking them
 * would not stop the fault (the kernel kills the process anyway when they
 * are blocked) but would hide the reason; leaving them unblocked keeps a
 * podvisor crash an ordinary, visible crash. */
static const int fault_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT};

int signals_open(void)
{
    sigset_t all;
    sigfillset(&all);
    for (size_t i = 0; i < sizeof fault_signals / sizeof fault_signals[0]; i++)
        sigdelset(&all, fault_signals[i]);
    if (sigprocmask(SIG_SETMASK, &all, NULL) < 0)
        return -errno;
    int fd = signalfd(-1, &all, SFD_CLOEXEC | SFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

int signals_read(int fd, pid_t *sender, int *code)
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
    *sender = (pid_t)si.ssi_pid;
    *code = si.ssi_code;
    return (int)si.ssi_signo;
}

int signals_forwardable(int sig)
{
    if (sig == SIGCHLD || sig == SIGKILL || sig == SIGSTOP || sig < 1 || sig > SIGRTMAX)
        return 0;
    for (size_t i = 0; i < sizeof fault_signals / sizeof fault_signals[0]; i++)
        if (sig == fault_signals[i])
            return 0;
    return 1;
}
