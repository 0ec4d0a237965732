/* conncount: how many TCP connections the app has on its listening ports,
 * asked of the kernel through NETLINK_SOCK_DIAG (inet_diag), IPv4 and IPv6,
 * in podvisor's own network namespace (the pod's; no capability needed).
 * Holds nothing between two counts. Used by --drain-idle. */
#ifndef PODVISOR_CONNCOUNT_H
#define PODVISOR_CONNCOUNT_H

#include <stddef.h>
#include <stdint.h>

/** The TCP sockets whose local port is one of ports[0..n) and whose state
 * is ESTABLISHED or CLOSE_WAIT (a peer that closed its half may still wait
 * for the answer): connections the app holds or has not accepted yet.
 * Returns the count, or -errno. */
int conncount_established(const uint16_t *ports, size_t n);

#endif
