/* childenv: the main child's environment. Owns what podvisor adds to its
 * own environment for the app (NOTIFY_SOCKET and WATCHDOG_USEC for
 * sd_notify, LISTEN_FDS, LISTEN_FDNAMES and the LISTEN_PID slot for held
 * sockets) and what it takes out (the same names as podvisor got them:
 * they described podvisor, not the app). Built before fork; the pid slot
 * is filled in the child after fork (child.h). */
#ifndef PODVISOR_CHILDENV_H
#define PODVISOR_CHILDENV_H

#include <stddef.h>
#include <stdint.h>

#include "child.h"

struct childenv {
    char **envp; /* NULL-terminated; strings of environ or owned below */
    char *owned[4];
    char pid_slot[CHILD_PID_SLOT_LEN]; /* "LISTEN_PID=" (filled after fork) */
    int has_pid_slot;
};

/** Builds it from `base` (podvisor's environ). notify_socket NULL: no
 * sd_notify; watchdog_ms 0: no watchdog; nfds 0: no LISTEN_* at all.
 * Returns 0 or -ENOMEM (childenv_free is safe after either). */
int childenv_build(struct childenv *e, char *const *base, const char *notify_socket,
                   int64_t watchdog_ms, const char *const *fd_names, size_t nfds);
void childenv_free(struct childenv *e);

#endif
