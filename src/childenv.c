/* childenv: see childenv.h. */
#include "childenv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Names podvisor sets itself when it has something to pass: an inherited
 * value would name podvisor's socket, watchdog or pid, not the app's. */
static int replaced(const char *var, int notify, int sockets)
{
    static const char *const notify_vars[] = {"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="};
    static const char *const listen_vars[] = {"LISTEN_FDS=", "LISTEN_FDNAMES=", "LISTEN_PID="};
    for (int i = 0; i < 3; i++)
        if ((notify && strncmp(var, notify_vars[i], strlen(notify_vars[i])) == 0) ||
            (sockets && strncmp(var, listen_vars[i], strlen(listen_vars[i])) == 0))
            return 1;
    return 0;
}

void childenv_free(struct childenv *e)
{
    free(e->envp);
    for (size_t i = 0; i < sizeof e->owned / sizeof e->owned[0]; i++)
        free(e->owned[i]);
    memset(e, 0, sizeof *e);
}

int childenv_build(struct childenv *e, char *const *base, const char *notify_socket,
                   int64_t watchdog_ms, const char *const *fd_names, size_t nfds)
{
    memset(e, 0, sizeof *e);
    size_t n = 0;
    while (base[n])
        n++;
    e->envp = calloc(n + 6, sizeof *e->envp);
    if (e->envp == NULL)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!replaced(base[i], notify_socket != NULL, nfds > 0))
            e->envp[k++] = base[i];
    if (notify_socket != NULL) {
        if (asprintf(&e->owned[0], "NOTIFY_SOCKET=%s", notify_socket) < 0) {
            e->owned[0] = NULL;
            return -ENOMEM;
        }
        e->envp[k++] = e->owned[0];
        if (watchdog_ms > 0) {
            if (asprintf(&e->owned[1], "WATCHDOG_USEC=%lld", (long long)watchdog_ms * 1000) < 0) {
                e->owned[1] = NULL;
                return -ENOMEM;
            }
            e->envp[k++] = e->owned[1];
        }
    }
    if (nfds > 0) {
        size_t len = 32;
        for (size_t i = 0; i < nfds; i++)
            len += strlen(fd_names[i]) + 1;
        if (asprintf(&e->owned[2], "LISTEN_FDS=%zu", nfds) < 0) {
            e->owned[2] = NULL;
            return -ENOMEM;
        }
        e->envp[k++] = e->owned[2];
        char *names = malloc(len);
        if ((e->owned[3] = names) == NULL)
            return -ENOMEM;
        size_t o = (size_t)snprintf(names, len, "LISTEN_FDNAMES=");
        for (size_t i = 0; i < nfds; i++)
            o += (size_t)snprintf(names + o, len - o, "%s%s", i ? ":" : "", fd_names[i]);
        e->envp[k++] = names;
        snprintf(e->pid_slot, sizeof e->pid_slot, "LISTEN_PID=");
        e->has_pid_slot = 1;
        e->envp[k++] = e->pid_slot;
    }
    e->envp[k] = NULL;
    return 0;
}
