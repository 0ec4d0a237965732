/* net: listening sockets. Owns turning a parsed listen address into a bound,
 * listening, non-blocking, close-on-exec socket, with an error that names
 * the cause, for podvisor's own listeners and for the --socket ones it holds
 * for the app. */
#ifndef PODVISOR_NET_H
#define PODVISOR_NET_H

#include <stddef.h>

#include "parse.h"

/** Binds and listens. ":PORT" binds [::] dual stack, falling back to
 * 0.0.0.0 where IPv6 is not available; a host is resolved numerically first,
 * then as a name. Returns the fd, or -errno with a reason in err (a name
 * that does not resolve is -EADDRNOTAVAIL). option: the flag that gave the
 * address ("--probe-listen"), named in the hint when it is in use. */
int net_listen(const struct listen_addr *addr, int backlog, const char *option, char *err,
               size_t errlen);

/** Binds and listens on a --socket: blocking (as systemd passes them: the
 * app may accept blocking), close-on-exec (only the main child gets it,
 * through the fd map), SO_REUSEADDR and never SO_REUSEPORT (closing a
 * SO_REUSEPORT listener resets the connections in its queue). A stale unix
 * socket file is replaced; a live one is refused. Returns the fd, or
 * -errno with a reason in err. */
int net_hold_socket(const struct socket_spec *spec, char *err, size_t errlen);

/** Writes the socket's local address as "HOST:PORT" ("[V6]:PORT"). */
void net_local_name(int fd, char *buf, size_t len);

struct sockaddr;
/** Writes an IPv4 or IPv6 address as "HOST:PORT" ("[V6]:PORT"). */
void net_sockaddr_name(const struct sockaddr *sa, char *buf, size_t len);

/** Whether the address is loopback only (127.0.0.0/8, ::1, localhost). */
int net_is_loopback(const struct listen_addr *addr);

#endif
