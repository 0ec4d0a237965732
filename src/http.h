/* http: the probe server (and, configured so, the admin listener). Owns the libmicrohttpd daemon,
 * run without any thread of its own: its epoll fd sits in podvisor's loop and its timeouts on a
 * timerfd, so requests read the lifecycle's state with no locks. It only reads that state (through
 * report), never changes it. */
#ifndef PODVISOR_HTTP_H
#define PODVISOR_HTTP_H

#include <stddef.h>

#include "lifecycle.h"
#include "loop.h"
#include "parse.h"

struct http_server;

/* The admin listener: the same server, answering POST /restart, /reload,
 * /drain and /quitquitquit instead of the probe paths. act is called for
 * an authorised request to one of those paths; it fills *status and a
 * one-line answer. */
struct http_admin {
    const char *token; /* NULL: no Authorization needed */
    void (*act)(void *ctx, enum lc_admin cmd, const char *peer, unsigned *status, char *msg,
                size_t msglen);
    void *ctx;
};

/** Binds addr; connections wait in its backlog until http_serve. Returns
 * NULL with a one-line reason in err on failure; *config_fault is then 1
 * when the configuration is at fault (an address that cannot be used, no
 * libmicrohttpd in the image) and 0 when the machine is (no fds, no
 * memory). */
struct http_server *http_start(const struct listen_addr *addr, struct loop *loop,
                               const struct lifecycle *lc, const struct http_admin *admin,
                               char *err, size_t errlen, int *config_fault);

/** Starts answering on the bound address, in the loop. Called once the
 * app is started: the server's set-up then overlaps the app's exec instead
 * of delaying it. A failure here (no fds, no memory) is logged and retried
 * with a backoff, as for a listener that fails later. NULL is fine. */
void http_serve(struct http_server *srv);

/** Whether given (glen bytes) equals want, in a time that depends on
 * want's length only (a token compared byte by byte and stopping at the
 * first difference tells an attacker how much of it they have right). */
int http_secret_equal(const char *given, size_t glen, const char *want);

/** The bound address, "HOST:PORT", for the log. */
const char *http_address(const struct http_server *srv);

/** libmicrohttpd's version, loading it if need be (--version); NULL with
 * why in err when it cannot be loaded. */
const char *http_library_version(char *err, size_t errlen);

/** Stops the daemon, closes its sockets and leaves the loop. NULL is fine. */
void http_stop(struct http_server *srv);

#endif
