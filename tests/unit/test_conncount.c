/* Unit tests for src/conncount.c: real sockets on the loopback, counted
 * through the kernel's inet_diag, as --drain-idle counts them. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "conncount.h"

/* The loopback address of family at port, in ss; returns its length. */
static socklen_t loopback(int family, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a->sin_port = htons(port);
        return sizeof *a;
    }
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    a->sin6_port = htons(port);
    return sizeof *a;
}

static int listener(int family, uint16_t *port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_storage ss;
    socklen_t len = loopback(family, 0, &ss);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 8) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static int connect_to(int family, uint16_t port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss;
    socklen_t len = loopback(family, port, &ss);
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
    return fd;
}

/* The server's side of each connection counts, pending in the backlog or
 * accepted, and while its peer has closed (CLOSE_WAIT); the client's side
 * (its local port is another) and the listener do not. */
static void counts_the_server_side_of_each_connection(int family)
{
    uint16_t port, other;
    int l = listener(family, &port);
    if (l < 0)
        skip(); /* no IPv6 on this machine */
    int l2 = listener(family, &other);
    assert_true(l2 >= 0);
    int none = conncount_established(&port, 1);
    if (none == -EPROTONOSUPPORT && getenv("PODVISOR_EMULATOR") != NULL) {
        /* qemu-user (make qemu-unit) has no NETLINK_SOCK_DIAG. */
        print_message("skipped: %s lacks NETLINK_SOCK_DIAG\n", getenv("PODVISOR_EMULATOR"));
        close(l);
        close(l2);
        skip();
    }
    assert_int_equal(none, 0);
    int c1 = connect_to(family, port);
    assert_int_equal(conncount_established(&port, 1), 1); /* in the backlog */
    int s1 = accept(l, NULL, NULL);
    assert_true(s1 >= 0);
    int c2 = connect_to(family, port);
    int c3 = connect_to(family, other);
    assert_int_equal(conncount_established(&port, 1), 2);
    uint16_t both[] = {port, other};
    assert_int_equal(conncount_established(both, 2), 3);
    close(c1); /* s1 is in CLOSE_WAIT: the app may still owe an answer */
    assert_int_equal(conncount_established(&port, 1), 2);
    close(s1);
    close(c2);
    int s2 = accept(l, NULL, NULL);
    close(s2);
    assert_int_equal(conncount_established(&port, 1), 0);
    close(c3);
    close(l);
    close(l2);
}

static void ipv4(void **state)
{
    counts_the_server_side_of_each_connection(AF_INET);
}

static void ipv6(void **state)
{
    counts_the_server_side_of_each_connection(AF_INET6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ipv4),
        cmocka_unit_test(ipv6),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
