/* http: see http.h. */
#include "http.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "lazylib.h"
#include "log.h"
#include "net.h"
#include "report.h"
#include "waitstatus.h"

/* Limits that keep a flood of connections from starving the kubelet's probe
 * (docs/kubernetes.md: a probe times out after 1 s by default, and the probe
 * port is reachable from the whole cluster). One client address holds at
 * most PER_IP_LIMIT connections, so one noisy or hostile peer cannot take
 * the slots the kubelet (from the node's address) needs. A connection gets
 * HEADER_TIMEOUT_S of silence before its headers are complete, then
 * CONN_TIMEOUT_S idle between keep-alive requests; headers larger than
 * CONN_MEMORY are answered 431 without being read further. */
#define CONN_LIMIT_MAX 1000
#define PER_IP_LIMIT 32
#define HEADER_TIMEOUT_S 3
#define CONN_TIMEOUT_S 10
#define CONN_MEMORY (16 * 1024)

/* libmicrohttpd is loaded when the server starts (see lazylib.h). */
/* One function a line: clang-format reflows X lists differently on every
 * pass, so it leaves them alone. */
/* clang-format off */
#define MHD_FUNCS(X)                    \
    X(MHD_start_daemon)                 \
    X(MHD_get_version)                  \
    X(MHD_stop_daemon)                  \
    X(MHD_run)                          \
    X(MHD_get_timeout)                  \
    X(MHD_get_daemon_info)              \
    X(MHD_create_response_from_buffer)  \
    X(MHD_add_response_header)          \
    X(MHD_queue_response)               \
    X(MHD_destroy_response)             \
    X(MHD_get_connection_values)        \
    X(MHD_lookup_connection_value)      \
    X(MHD_set_connection_option)        \
    X(MHD_get_connection_info)
/* clang-format on */
LAZYLIB_DEFINE(mhd, MHD_FUNCS);

const char *http_library_version(char *err, size_t errlen)
{
    if (LAZYLIB_LOAD(mhd, MHD_SONAME, err, errlen) < 0)
        return NULL;
    return mhd.MHD_get_version();
}
_Static_assert(sizeof MHD_SONAME > 1, "MHD_SONAME is empty: the Makefile could not find "
                                      "libmicrohttpd's soname (is libmicrohttpd-dev installed?)");

/* A listener that dies (destroyed with `ss -K`, say) is re-created after
 * RETRY_FIRST_MS, doubling up to RETRY_MAX_MS: the kubelet keeps probing. */
#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 30000

struct http_server {
    struct MHD_Daemon *daemon; /* NULL until served, and while the listener is re-created */
    int listen_fd;             /* owned by the daemon once there is one */
    struct loop *loop;
    struct loop_watch watch;
    struct loop_timer timer;
    struct loop_timer retry;
    int64_t retry_ms;
    struct listen_addr addr;
    const struct lifecycle *lc;
    const struct http_admin *admin; /* NULL: the probe server */
    const char *name;               /* "probe server" or "admin listener", for the log */
    int rerun;                      /* a connection closed during the last run */
    char address[80];
};

static void close_daemon(struct http_server *srv);
static int open_daemon(struct http_server *srv, char *err, size_t errlen, int *config_fault);

/* The format comes from libmicrohttpd itself, with its own arguments. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    if (!log_enabled(LOG_DEBUG))
        return;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t l = strlen(buf);
    while (l > 0 && buf[l - 1] == '\n')
        buf[--l] = '\0';
    log_debug("http: %s", buf);
}
#pragma GCC diagnostic pop

static enum MHD_Result has_key(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    if (strcmp(key, "verbose") == 0) {
        *(int *)cls = 1;
        return MHD_NO; /* found: stop iterating */
    }
    return MHD_YES;
}

static enum MHD_Result respond_allow(struct MHD_Connection *conn, unsigned status, char *body,
                                     const char *content_type, const char *allow)
{
    if (body == NULL)
        return MHD_NO; /* out of memory: MHD closes the connection */
    struct MHD_Response *r =
        mhd.MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    mhd.MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    mhd.MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        mhd.MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == MHD_HTTP_UNAUTHORIZED)
        mhd.MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ret = mhd.MHD_queue_response(conn, status, r);
    mhd.MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, char *body,
                               const char *content_type)
{
    return respond_allow(conn, status, body, content_type, "GET, HEAD");
}

int http_secret_equal(const char *given, size_t glen, const char *want)
{
    size_t wlen = strlen(want);
    unsigned diff = glen != wlen;
    for (size_t i = 0; i < wlen; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < glen ? given[i] : 0);
    return diff == 0;
}

static void peer_name(struct MHD_Connection *conn, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        mhd.MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(buf, len, "?");
    if (ci != NULL && ci->client_addr != NULL)
        net_sockaddr_name(ci->client_addr, buf, len);
}

/* One answer line: what, then why. */
static char *line(const char *what, const char *why)
{
    char buf[320];
    snprintf(buf, sizeof buf, "%s%s\n", what, why);
    return strdup(buf);
}

/* The admin listener's routes: POST only, with the token when one is set.
 * Every answer is one line of text. */
static enum MHD_Result admin_request(struct http_server *srv, struct MHD_Connection *conn,
                                     const char *url, const char *method)
{
    const char *text = "text/plain; charset=utf-8";
    int cmd = lifecycle_admin_lookup(url);
    if (cmd < 0) {
        /* The paths as lc_admin_commands lists them: "/a, /b or /c". */
        char why[160];
        int o = snprintf(why, sizeof why, ": not an admin path (POST ");
        for (int i = 0; i < LC_N_ADMIN && o > 0 && (size_t)o < sizeof why; i++)
            o += snprintf(why + o, sizeof why - (size_t)o, "%s%s",
                          i == 0                ? ""
                          : i == LC_N_ADMIN - 1 ? " or "
                                                : ", ",
                          lc_admin_commands[i].path);
        if (o > 0 && (size_t)o < sizeof why)
            snprintf(why + o, sizeof why - (size_t)o, ")");
        return respond(conn, MHD_HTTP_NOT_FOUND, line(url, why), text);
    }
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return respond_allow(conn, MHD_HTTP_METHOD_NOT_ALLOWED, line(url, " takes POST only"), text,
                             "POST");
    char peer[80];
    peer_name(conn, peer, sizeof peer);
    if (srv->admin->token != NULL) {
        const char *auth =
            mhd.MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        /* RFC 7235: the scheme is case-insensitive ("bearer" too). */
        int ok = auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0 &&
                 http_secret_equal(auth + 7, strlen(auth + 7), srv->admin->token);
        if (!ok) {
            log_warn("admin: POST %s from %s refused: %s", url, peer,
                     auth ? "wrong token" : "no Authorization header");
            return respond(conn, MHD_HTTP_UNAUTHORIZED,
                           line(url, " needs Authorization: Bearer <token>"), text);
        }
    }
    unsigned status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    char msg[256] = "";
    srv->admin->act(srv->admin->ctx, (enum lc_admin)cmd, peer, &status, msg, sizeof msg);
    return respond(conn, status, line(msg, ""), text);
}

static struct report_now now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (struct report_now){loop_now_ms(), (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000};
}

static int announces_body(struct MHD_Connection *conn)
{
    const char *len =
        mhd.MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return (len != NULL && strcmp(len, "0") != 0) ||
           mhd.MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                           MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

/* MHD calls this first with the headers. A GET or HEAD without a body is
 * answered on the next call, once MHD knows the request is complete, so the
 * connection can stay alive. A request that announces a body is answered at
 * once and its body never read (MHD then closes the connection): the answer
 * never depends on it (405 for other methods). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    static int headers_seen;
    struct http_server *srv = cls;
    int get_or_head =
        strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (srv->admin != NULL) /* a body-less POST is answered when complete, as a GET is */
        get_or_head = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (*req_cls == NULL) /* complete headers: the short header timeout is over */
        mhd.MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                      (unsigned)CONN_TIMEOUT_S);
    if (get_or_head && *req_cls == NULL && !announces_body(conn)) {
        *req_cls = &headers_seen;
        return MHD_YES;
    }
    if (srv->admin != NULL)
        return admin_request(srv, conn, url, method);
    int verbose = 0;
    if (strcmp(url, "/readyz") == 0)
        mhd.MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, has_key, &verbose);
    struct report_answer a;
    report_route(srv->lc, method, url, verbose, now(), &a);
    return respond(conn, a.status, a.body, a.content_type);
}

/* After every run, MHD says when it next needs to run even without socket
 * activity (connection timeouts). No timeout means no timer: an idle probe
 * server never wakes podvisor up. */
static void rearm(struct http_server *srv)
{
    MHD_UNSIGNED_LONG_LONG ms;
    if (mhd.MHD_get_timeout(srv->daemon, &ms) == MHD_YES)
        loop_timer_arm(srv->loop, &srv->timer, (int64_t)ms);
    else
        loop_timer_disarm(srv->loop, &srv->timer);
}

/* A listening socket that failed stays readable (EPOLLERR) in MHD's epoll
 * set forever, and MHD cannot accept from it: podvisor would spin at 100 %
 * CPU with a dead probe server and no word of it. */
static int listener_alive(int fd)
{
    int on = 0;
    socklen_t len = sizeof on;
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

/* The listener could not be (re)made: said, and tried again after the
 * current backoff step, which then doubles. */
static void retry_later(struct http_server *srv, const char *err)
{
    log_warn("%s: %s; trying again in %llds", srv->name, err, (long long)srv->retry_ms / 1000);
    loop_timer_arm(srv->loop, &srv->retry, srv->retry_ms);
    srv->retry_ms = backoff_next(srv->retry_ms, RETRY_FIRST_MS, RETRY_MAX_MS);
}

static void retry_listener(void *ctx)
{
    struct http_server *srv = ctx;
    char err[256];
    int config_fault;
    if (open_daemon(srv, err, sizeof err, &config_fault) == 0) {
        log_info("%s listening again on %s", srv->name, srv->address);
        srv->retry_ms = RETRY_FIRST_MS;
        return;
    }
    retry_later(srv, err);
}

static void run_daemon(void *ctx)
{
    struct http_server *srv = ctx;
    if (srv->daemon == NULL)
        return;
    srv->rerun = 0;
    if (mhd.MHD_run(srv->daemon) != MHD_YES)
        log_warn("http: processing requests failed");
    if (!listener_alive(srv->listen_fd)) {
        int soerr = 0;
        socklen_t len = sizeof soerr;
        getsockopt(srv->listen_fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        log_warn("%s: the listening socket on %s failed (%s): re-creating it", srv->name,
                 srv->address, soerr ? strerror(soerr) : "no longer listening");
        close_daemon(srv);
        srv->retry_ms = RETRY_FIRST_MS;
        retry_listener(srv);
        return;
    }
    if (srv->rerun)
        loop_timer_arm(srv->loop, &srv->timer, 0);
    else
        rearm(srv);
}

static void on_ready(void *ctx, uint32_t events)
{
    run_daemon(ctx);
}

/* A new connection gets the short header timeout. A closed one may have
 * freed the slot that kept libmicrohttpd's listening socket out of its
 * epoll set (at the connection limit); MHD puts it back only on a later
 * run, so one is scheduled at once rather than on the next timeout. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        mhd.MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                      (unsigned)HEADER_TIMEOUT_S);
    else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
        srv->rerun = 1;
}

static unsigned connection_limit(void)
{
    /* Never more connections than fds: an accept() failing for lack of fds
     * would refuse the kubelet too. podvisor's own few fds stay spare. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < CONN_LIMIT_MAX + 64)
        return rl.rlim_cur > 96 ? (unsigned)rl.rlim_cur - 64 : 32;
    return CONN_LIMIT_MAX;
}

/* Whether a failure to listen is the configuration's (an address that
 * cannot be used here: exit 2, usage) or the machine's (no fds, no memory:
 * exit 1, podvisor failed). */
static int address_fault(int e)
{
    return e == EADDRINUSE || e == EADDRNOTAVAIL || e == EACCES || e == EAFNOSUPPORT || e == EINVAL;
}

/* Binds the address: from here on, connections wait in its backlog. */
static int bind_listener(struct http_server *srv, char *err, size_t errlen, int *config_fault)
{
    *config_fault = 0;
    int fd =
        net_listen(&srv->addr, 128, srv->admin ? "--admin-listen" : "--probe-listen", err, errlen);
    if (fd < 0) {
        *config_fault = address_fault(-fd);
        return -1;
    }
    net_local_name(fd, srv->address, sizeof srv->address);
    srv->listen_fd = fd;
    return 0;
}

/* Starts a daemon on the bound socket, in the loop. On failure the socket
 * is closed: a retry binds afresh. */
static int start_daemon(struct http_server *srv, char *err, size_t errlen)
{
    errno = 0;
    srv->daemon = mhd.MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET,
        srv->listen_fd, MHD_OPTION_CONNECTION_LIMIT, connection_limit(),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_IP_LIMIT, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, srv, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HEADER_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, NULL, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        int e = errno ? errno : ENOMEM;
        close(srv->listen_fd);
        srv->listen_fd = -1;
        snprintf(err, errlen, "cannot start the HTTP server on %s: %s", srv->address, strerror(e));
        return -1;
    }
    const union MHD_DaemonInfo *info =
        mhd.MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    int rc = info == NULL
                 ? -EINVAL
                 : loop_add(srv->loop, &srv->watch, info->epoll_fd, EPOLLIN, on_ready, srv);
    if (rc < 0) {
        snprintf(err, errlen, "cannot add the HTTP server to the event loop: %s", strerror(-rc));
        srv->watch.fd = -1;
        close_daemon(srv);
        return -1;
    }
    return 0;
}

/* Binds the address and starts a daemon on it in the loop. */
static int open_daemon(struct http_server *srv, char *err, size_t errlen, int *config_fault)
{
    if (bind_listener(srv, err, errlen, config_fault) < 0)
        return -1;
    return start_daemon(srv, err, errlen);
}

static void close_daemon(struct http_server *srv)
{
    if (srv->watch.fd >= 0) /* set once the daemon's epoll fd joined the loop */
        loop_del(srv->loop, &srv->watch);
    srv->watch.fd = -1;
    if (srv->daemon)
        mhd.MHD_stop_daemon(srv->daemon); /* closes the listening socket too */
    else if (srv->listen_fd >= 0)
        close(srv->listen_fd); /* bound, never served */
    srv->daemon = NULL;
    srv->listen_fd = -1;
    loop_timer_disarm(srv->loop, &srv->timer);
}

struct http_server *http_start(const struct listen_addr *addr, struct loop *loop,
                               const struct lifecycle *lc, const struct http_admin *admin,
                               char *err, size_t errlen, int *config_fault)
{
    *config_fault = 0;
    struct http_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        snprintf(err, errlen, "%s", strerror(ENOMEM));
        return NULL;
    }
    srv->loop = loop;
    srv->lc = lc;
    srv->admin = admin;
    srv->name = admin ? "admin listener" : "probe server";
    srv->addr = *addr;
    srv->watch.fd = -1;
    srv->listen_fd = -1;
    loop_timer_init(&srv->timer, run_daemon, srv);
    loop_timer_init(&srv->retry, retry_listener, srv);
    /* An image without libmicrohttpd cannot serve probes: a deployment
     * error, like an address that cannot be bound. */
    int loaded = LAZYLIB_LOAD(mhd, MHD_SONAME, err, errlen);
    if (loaded < 0) {
        *config_fault = loaded == -1;
        goto fail;
    }
    if (bind_listener(srv, err, errlen, config_fault) < 0)
        goto fail;
    return srv;
fail:
    http_stop(srv);
    return NULL;
}

void http_serve(struct http_server *srv)
{
    char err[256];
    if (srv == NULL || srv->daemon != NULL || srv->listen_fd < 0)
        return;
    if (start_daemon(srv, err, sizeof err) == 0)
        return;
    srv->retry_ms = RETRY_FIRST_MS;
    retry_later(srv, err);
}

const char *http_address(const struct http_server *srv)
{
    return srv->address;
}

void http_stop(struct http_server *srv)
{
    if (srv == NULL)
        return;
    close_daemon(srv);
    loop_timer_disarm(srv->loop, &srv->retry);
    free(srv);
}
