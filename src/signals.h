/* signals: podvisor receives every signal synchronously through a signalfd.
 * Owns the blocked mask and the signalfd, and knows which signals are
 * forwarded to the child and which are podvisor's own (SIGCHLD). */
#ifndef PODVISOR_SIGNALS_H
#define PODVISOR_SIGNALS_H

#include <signal.h>
#include <sys/types.h>

/** Blocks every signal except the synchronous fault signals (SEGV, BUS, FPE,
 * ILL, TRAP, SYS, ABRT), which must keep killing podvisor itself, and opens
 * a non-blocking, close-on-exec signalfd for the blocked set.
 * Returns the fd, or -errno. */
int signals_open(void);

/** Reads one pending signal. Returns the signal number, 0 when none is
 * pending, or -errno. *sender is the sending pid (0 for the kernel). */
int signals_read(int fd, pid_t *sender, int *code);

/** Whether podvisor forwards `sig` to the child: every catchable signal
 * except SIGCHLD, which reports podvisor's own children. */
int signals_forwardable(int sig);

#endif
