/* http: the probe server. Owns the libmicrohttpd daemon, run without any
 * thread of its own: its epoll fd sits in podvisor's loop and its timeouts
 * on a timerfd, so requests read the lifecycle's state with no locks. It
 * only reads that state (through report), never changes it. */
#ifndef PODVISOR_HTTP_H
#define PODVISOR_HTTP_H

#include <stddef.h>

#include "lifecycle.h"
#include "loop.h"
#include "parse.h"

struct http_server;

/** Binds addr and joins the loop. Returns NULL with a one-line reason in
 * err on failure; *config_fault is then 1 when the configuration is at
 * fault (an address that cannot be used, no libmicrohttpd in the image)
 * and 0 when the machine is (no fds, no memory). */
struct http_server *http_start(const struct listen_addr *addr, struct loop *loop,
                               const struct lifecycle *lc, char *err, size_t errlen,
                               int *config_fault);

/** The bound address, "HOST:PORT", for the log. */
const char *http_address(const struct http_server *srv);

/** Stops the daemon, closes its sockets and leaves the loop. NULL is fine. */
void http_stop(struct http_server *srv);

#endif
