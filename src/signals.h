/* signals: podvisor receives every signal synchronously through a signalfd.
 * Owns the blocked mask and the signalfd, and knows which signals are
 * forwarded to the child and which are podvisor's own (SIGCHLD). */
#ifndef PODVISOR_SIGNALS_H
#define PODVISOR_SIGNALS_H

#include <signal.h>
#include <sys/types.h>

/** Blocks every signal and opens a non-blocking, close-on-exec signalfd for
 * them. The fault signals (SEGV, BUS, FPE, ILL, TRAP, SYS, ABRT) are
 * blocked too: a real fault in podvisor still kills it, because the kernel
 * forces a synchronous fault's default action on a blocked signal
 * (force_sig_fault), while the same signals sent with kill() reach the
 * signalfd and are forwarded. (A sanitizer build leaves SEGV, BUS and FPE
 * unblocked so that its own handlers can report a fault.)
 * Returns the fd, or -errno. */
int signals_open(void);

/* One signal as the signalfd reported it. */
struct signals_info {
    int sig;
    pid_t sender; /* 0 for the kernel */
    int code;     /* si_code: SI_USER, SI_QUEUE, SI_TKILL, or a kernel code */
};

/** Reads one pending signal. Returns 1, 0 when none is pending, or
 * -errno. One at a time: a read of more makes the kernel look for a second
 * signal before the first one can be forwarded, and a caller on a
 * level-triggered epoll is woken again for the rest. */
int signals_read_one(int fd, struct signals_info *out);

/** Whether podvisor forwards this signal to the child: every catchable
 * signal except SIGCHLD (it reports podvisor's own children), except those
 * podvisor raised on itself (a SIGPIPE from a write to a closed stderr),
 * and except fault signals the kernel raised rather than a process. */
int signals_forwardable(const struct signals_info *si, pid_t self);

#endif
