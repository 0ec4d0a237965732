/* notify: see notify.h. */
#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "procs.h"

struct notify {
    struct loop *loop;
    struct loop_watch watch;
    int fd;
    pid_t self;
    notify_msg_fn on_msg;
    notify_reject_fn on_reject;
    void *ctx;
    char name[64]; /* "@podvisor-notify-<hex>" */
};

static int is_value(const char *v, size_t vlen, const char *want)
{
    return vlen == strlen(want) && memcmp(v, want, vlen) == 0;
}

const char *notify_parse(const char *buf, size_t len, struct notify_msg *out)
{
    static char why[96];
    memset(out, 0, sizeof *out);
    if (len == 0)
        return "an empty datagram";
    if (memchr(buf, '\0', len) != NULL)
        return "a NUL byte";
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        size_t n = (size_t)(line_end - p);
        if (n > 0) {
            const char *eq = memchr(p, '=', n);
            if (eq == NULL || eq == p) {
                snprintf(why, sizeof why, "a line that is not KEY=VALUE: \"%.*s%s\"",
                         (int)(n > 40 ? 40 : n), p, n > 40 ? "..." : "");
                return why;
            }
            size_t klen = (size_t)(eq - p), vlen = n - klen - 1;
            const char *v = eq + 1;
#define KEY(k) (klen == sizeof k - 1 && memcmp(p, k, klen) == 0)
            if (KEY("READY") || KEY("RELOADING") || KEY("STOPPING")) {
                if (!is_value(v, vlen, "1"))
                    return KEY("READY")       ? "READY= is not 1"
                           : KEY("RELOADING") ? "RELOADING= is not 1"
                                              : "STOPPING= is not 1";
                if (KEY("READY"))
                    out->ready = 1;
                else if (KEY("RELOADING"))
                    out->reloading = 1;
                else
                    out->stopping = 1;
            } else if (KEY("WATCHDOG")) {
                if (is_value(v, vlen, "1"))
                    out->watchdog = 1;
                else if (is_value(v, vlen, "trigger"))
                    out->watchdog_trigger = 1;
                else
                    return "WATCHDOG= is neither 1 nor trigger";
            } else if (KEY("STATUS")) {
                size_t keep = vlen < sizeof out->status - 1 ? vlen : sizeof out->status - 1;
                memcpy(out->status, v, keep);
                out->status[keep] = '\0';
                out->has_status = 1;
            } else if (KEY("FDSTORE") || KEY("FDSTOREREMOVE")) {
                if (!is_value(v, vlen, "1"))
                    return KEY("FDSTORE") ? "FDSTORE= is not 1" : "FDSTOREREMOVE= is not 1";
                if (KEY("FDSTORE"))
                    out->fdstore = 1;
                else
                    out->fdstore_remove = 1;
            } else if (KEY("FDNAME")) {
                /* sd_pid_notify_with_fds(3): printable ASCII, no ':' (the
                 * separator of LISTEN_FDNAMES), at most 255. A bad one is
                 * ignored, as systemd does, never the whole datagram (its
                 * READY=1 with it). */
                int ok = vlen > 0 && vlen < NOTIFY_FDNAME_MAX;
                for (size_t i = 0; ok && i < vlen; i++)
                    ok = v[i] > ' ' && v[i] <= '~' && v[i] != ':';
                if (ok) {
                    memcpy(out->fdname, v, vlen);
                    out->fdname[vlen] = '\0';
                } else {
                    out->fdname_invalid = 1;
                }
            } else if (KEY("MAINPID")) {
                long pid = 0;
                size_t i = 0;
                for (; i < vlen && v[i] >= '0' && v[i] <= '9' && pid < 1L << 30; i++)
                    pid = pid * 10 + (v[i] - '0');
                if (vlen == 0 || i != vlen || pid <= 1)
                    return "MAINPID= is not a process id";
                out->mainpid = (pid_t)pid;
            }
#undef KEY
        }
        p = line_end + 1;
    }
    if (out->fdname[0] == '\0')
        snprintf(out->fdname, sizeof out->fdname, "stored");
    return NULL;
}

/* Whether m would change nothing (BARRIER=1, unknown keys only). */
static int notify_msg_is_empty(const struct notify_msg *m)
{
    return !m->ready && !m->reloading && !m->stopping && !m->watchdog && !m->watchdog_trigger &&
           !m->has_status && m->mainpid == 0 && !m->fdstore && !m->fdstore_remove;
}

/* NULL when the sender belongs to the child's tree, else why not. */
static const char *sender_foreign(const struct notify *n, pid_t pid)
{
    /* A sender outside podvisor's PID namespace shows as pid 0. */
    if (pid <= 0)
        return "the sender is outside podvisor's PID namespace";
    /* PID 1 of its namespace: every process in it descends from podvisor,
     * so nothing is looked up, and a sender that already exited (a
     * `systemd-notify --no-block --ready`) counts as it should. */
    if (n->self == 1)
        return NULL;
    if (procs_parent(pid) < 0)
        return "the sender exited before its datagram was read, and podvisor, not PID 1 "
               "here, cannot tell whether it was in the child's tree (run podvisor as the "
               "container's PID 1, or keep the sender until podvisor reads it: "
               "systemd-notify without --no-block)";
    if (!procs_descends_from(pid, n->self))
        return "the sender is not in the child's process tree";
    return NULL;
}

static void read_one(struct notify *n, int *more)
{
    char buf[NOTIFY_MAX + 1];
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * NOTIFY_MAX_FDS)];
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.space,
                        .msg_controllen = sizeof control.space};
    ssize_t len = recvmsg(n->fd, &mh, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
    *more = 0;
    if (len < 0)
        return; /* EAGAIN: nothing left; anything else is not the sender's doing */
    *more = 1;
    struct ucred cred = {0};
    int have_cred = 0;
    int *fds = NULL;
    size_t nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
            c->cmsg_len == CMSG_LEN(sizeof cred)) {
            memcpy(&cred, CMSG_DATA(c), sizeof cred);
            have_cred = 1;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            fds = (int *)(void *)CMSG_DATA(c);
            nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        }
    }
    /* Who sent it is decided before the passed fds are closed: closing
     * BARRIER=1's fd is what lets its sender go on, exit and be reaped. */
    const char *foreign = sender_foreign(n, have_cred ? cred.pid : 0);
    int too_big = (mh.msg_flags & MSG_TRUNC) || (size_t)len > NOTIFY_MAX;
    struct notify_msg m;
    const char *why = too_big ? "a datagram larger than 4096 bytes"
                      : (mh.msg_flags & MSG_CTRUNC)
                          ? "more than 768 file descriptors in one datagram (the kernel "
                            "closed the rest)"
                          : notify_parse(buf, (size_t)len, &m);
    /* A datagram that would change nothing (BARRIER=1 alone: systemd-notify
     * sends it from a helper that exits at once) needs no sender check:
     * closing its fd was all it asked. */
    if (foreign && why == NULL && notify_msg_is_empty(&m)) {
        /* (the fds are closed below: closing BARRIER=1's lets its sender go on) */
    } else if (foreign) {
        n->on_reject(n->ctx, NOTIFY_FOREIGN, have_cred ? cred.pid : 0, foreign);
    } else if (why) {
        n->on_reject(n->ctx, NOTIFY_MALFORMED, cred.pid, why);
    } else {
        m.fds = fds;
        m.nfds = nfds;
        n->on_msg(n->ctx, cred.pid, &m);
    }
    /* What the receiver did not keep (FDSTORE=1 takes its fds) is closed:
     * BARRIER=1's fd, fds sent without FDSTORE=1, a foreign sender's. */
    for (size_t i = 0; i < nfds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

void notify_drain(struct notify *n)
{
    if (n == NULL)
        return;
    /* A bounded batch: a flood from the app cannot starve the loop. */
    int more = 1;
    for (int i = 0; i < 64 && more; i++)
        read_one(n, &more);
}

static void on_readable(void *ctx, uint32_t events)
{
    notify_drain(ctx);
}

struct notify *notify_open(struct loop *loop, notify_msg_fn on_msg, notify_reject_fn on_reject,
                           void *ctx, char *err, size_t errlen)
{
    struct notify *n = calloc(1, sizeof *n);
    if (n == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    n->loop = loop;
    n->on_msg = on_msg;
    n->on_reject = on_reject;
    n->ctx = ctx;
    n->self = getpid();
    /* Random, not the pid: every PID 1 of a pod is pid 1, and the abstract
     * namespace is the pod's shared network namespace. */
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        snprintf(err, errlen, "getrandom: %s", strerror(errno));
        free(n);
        return NULL;
    }
    int o = snprintf(n->name, sizeof n->name, "@podvisor-notify-");
    for (size_t i = 0; i < sizeof rnd; i++)
        o += snprintf(n->name + o, sizeof n->name - (size_t)o, "%02x", rnd[i]);
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (n->fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        free(n);
        return NULL;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t nlen = strlen(n->name);
    memcpy(sa.sun_path + 1, n->name + 1, nlen - 1); /* sun_path[0] = '\0': abstract */
    int one = 1, rc = 0;
    const char *step = "bind";
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + nlen);
    if (bind(n->fd, (struct sockaddr *)&sa, salen) < 0 ||
        (step = "SO_PASSCRED", setsockopt(n->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one)) < 0)
        rc = -errno;
    else if ((rc = loop_add(loop, &n->watch, n->fd, EPOLLIN, on_readable, n)) < 0)
        step = "watching";
    if (rc < 0) {
        snprintf(err, errlen, "%s %s: %s", step, n->name, strerror(-rc));
        close(n->fd);
        free(n);
        return NULL;
    }
    return n;
}

const char *notify_socket_name(const struct notify *n)
{
    return n->name;
}

void notify_close(struct notify *n)
{
    if (n == NULL)
        return;
    loop_del(n->loop, &n->watch);
    close(n->fd);
    free(n);
}
