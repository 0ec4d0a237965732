/* net: see net.h. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int bind_listen(int family, const struct sockaddr *sa, socklen_t salen, int v6only,
                       int backlog, int nonblock, int *err)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    int one = 1;
    /* A restarted pod reuses the port while old connections sit in
     * TIME_WAIT; without this the restart would fail to bind. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0) ||
        bind(fd, sa, salen) < 0 || listen(fd, backlog) < 0) {
        *err = errno;
        close(fd);
        return -1;
    }
    return fd;
}

/* Containers of one pod share its network namespace: two podvisors there
 * both default to :8099. Said only for podvisor's own listener (probe,
 * admin): a --socket's address is the app's. */
static void in_use_hint(int e, const char *option, char *buf, size_t len)
{
    if (option != NULL && e == EADDRINUSE)
        snprintf(buf, len, " (another podvisor in this pod? give each its own %s)", option);
    else
        buf[0] = '\0';
}

/* option: podvisor's own listener (--probe-listen, --admin-listen: non-
 * blocking, and named in an in-use hint); NULL: a --socket for the app. */
static int listen_tcp(const struct listen_addr *addr, int backlog, const char *option, char *err,
                      size_t errlen)
{
    int e = 0, nonblock = option != NULL;
    char hint[96];
    if (addr->any) {
        struct sockaddr_in6 a6;
        memset(&a6, 0, sizeof a6);
        a6.sin6_family = AF_INET6;
        a6.sin6_addr = in6addr_any;
        a6.sin6_port = htons((uint16_t)addr->port);
        int fd = bind_listen(AF_INET6, (struct sockaddr *)&a6, sizeof a6, 0, backlog, nonblock, &e);
        if (fd >= 0)
            return fd;
        /* No IPv6 in this pod (a kernel or sysctl without it): IPv4 only. */
        if (e == EAFNOSUPPORT || e == EADDRNOTAVAIL) {
            struct sockaddr_in a4;
            memset(&a4, 0, sizeof a4);
            a4.sin_family = AF_INET;
            a4.sin_addr.s_addr = htonl(INADDR_ANY);
            a4.sin_port = htons((uint16_t)addr->port);
            fd = bind_listen(AF_INET, (struct sockaddr *)&a4, sizeof a4, 0, backlog, nonblock, &e);
            if (fd >= 0)
                return fd;
        }
        in_use_hint(e, option, hint, sizeof hint);
        snprintf(err, errlen, "cannot listen on port %d: %s%s", addr->port, strerror(e), hint);
        return -e;
    }
    char port[8];
    snprintf(port, sizeof port, "%d", addr->port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(addr->host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve \"%s\": %s", addr->host,
                 gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
        return gai == EAI_SYSTEM || gai == EAI_MEMORY ? -(errno ? errno : ENOMEM) : -EADDRNOTAVAIL;
    }
    int fd = -1;
    char shown[300];
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = bind_listen(ai->ai_family, ai->ai_addr, ai->ai_addrlen, 1, backlog, nonblock, &e);
    freeaddrinfo(res);
    if (fd < 0) {
        in_use_hint(e, option, hint, sizeof hint);
        snprintf(err, errlen, "cannot listen on %s: %s%s",
                 listen_addr_format(addr, shown, sizeof shown), strerror(e), hint);
        return -e;
    }
    return fd;
}

int net_listen(const struct listen_addr *addr, int backlog, const char *option, char *err,
               size_t errlen)
{
    return listen_tcp(addr, backlog, option, err, errlen);
}

/* A unix socket path left by an earlier run is replaced, but only when
 * nothing answers on it: a live server's socket is never taken over. */
static int clear_stale_unix(const struct sockaddr_un *sa, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(sa->sun_path, &st) < 0)
        return errno == ENOENT
                   ? 0
                   : (snprintf(err, errlen, "%s: %s", sa->sun_path, strerror(errno)), -errno);
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen,
                 "%s exists and is not a socket (podvisor replaces only a stale "
                 "socket)",
                 sa->sun_path);
        return -EEXIST;
    }
    /* Non-blocking: a live server whose backlog is full makes a blocking
     * connect wait (start-up hung there); it answers EAGAIN instead, and is
     * as live as one that accepts. Only ECONNREFUSED says stale. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0)
        return -errno;
    int rc = connect(probe, (const struct sockaddr *)sa, sizeof *sa), e = errno;
    close(probe);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
        snprintf(err, errlen, "%s: a server answers on it already%s", sa->sun_path,
                 rc == 0 ? "" : " (its backlog is full)");
        return -EADDRINUSE;
    }
    if (unlink(sa->sun_path) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "removing the stale socket %s: %s", sa->sun_path, strerror(errno));
        return -errno;
    }
    return 0;
}

int net_hold_socket(const struct socket_spec *spec, char *err, size_t errlen)
{
    int backlog = spec->backlog > 0 ? spec->backlog : SOMAXCONN;
    if (!spec->is_unix)
        return listen_tcp(&spec->tcp, backlog, NULL, err, errlen);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", spec->path);
    int rc = clear_stale_unix(&sa, err, errlen);
    if (rc < 0)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return rc;
    }
    const char *step = "bind";
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        goto fail;
    step = "chmod";
    /* systemd's SocketMode= default; the socket is the app's interface. */
    if (chmod(sa.sun_path, (mode_t)(spec->mode >= 0 ? spec->mode : 0666)) < 0)
        goto fail;
    step = "listen";
    if (listen(fd, backlog) < 0)
        goto fail;
    return fd;
fail:
    rc = -errno;
    snprintf(err, errlen, "cannot listen on unix:%s: %s: %s", spec->path, step, strerror(errno));
    close(fd);
    return rc;
}

void net_sockaddr_name(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(buf, len, "[%s]:%d", host, ntohs(a->sin6_port));
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(buf, len, "%s:%d", host, ntohs(a->sin_port));
    } else {
        snprintf(buf, len, "?:0");
    }
}

void net_local_name(int fd, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        net_sockaddr_name((struct sockaddr *)&ss, buf, len);
    else
        snprintf(buf, len, "?:0");
}

int net_is_loopback(const struct listen_addr *addr)
{
    if (addr->any)
        return 0;
    if (strcmp(addr->host, "localhost") == 0 || strcmp(addr->host, "::1") == 0 ||
        strcmp(addr->host, "[::1]") == 0)
        return 1;
    struct in_addr a4;
    return inet_pton(AF_INET, addr->host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}
