/* curlloop: see curlloop.h. */
#include "curlloop.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "lazylib.h"

LAZYLIB_SHARED(curl, CURL_FUNCS);

/* One socket libcurl asked us to watch. */
struct curlloop_sock {
    struct loop_watch lw;
    curl_socket_t fd;
    struct curlloop *cl;
};

struct curlloop {
    struct loop *loop;
    CURLM *multi;
    struct loop_timer timer; /* libcurl's own timeouts */
    curlloop_done_fn done;
    void *ctx;
};

/* Hands every finished transfer to its owner. The message is read before
 * the call: the owner removes the handle, which ends the message. */
static void collect(struct curlloop *cl)
{
    CURLMsg *m;
    int left;
    while ((m = curl.curl_multi_info_read(cl->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result;
        cl->done(cl->ctx, easy, rc);
    }
}

static void on_sock(void *ctx, uint32_t events)
{
    struct curlloop_sock *sk = ctx;
    struct curlloop *cl = sk->cl; /* sk may be freed inside the call below */
    int flags = (events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                (events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                (events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    int running;
    curl.curl_multi_socket_action(cl->multi, sk->fd, flags, &running);
    collect(cl);
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct curlloop *cl = userp;
    struct curlloop_sock *sk = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            loop_del(cl->loop, &sk->lw);
            curl.curl_multi_assign(cl->multi, s, NULL);
            free(sk);
        }
        return 0;
    }
    uint32_t ev = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (sk == NULL) {
        sk = calloc(1, sizeof *sk);
        if (sk == NULL)
            return -1;
        sk->fd = s;
        sk->cl = cl;
        if (loop_add(cl->loop, &sk->lw, s, ev, on_sock, sk) < 0) {
            free(sk);
            return -1;
        }
        curl.curl_multi_assign(cl->multi, s, sk);
        return 0;
    }
    return loop_mod(cl->loop, &sk->lw, ev) < 0 ? -1 : 0;
}

static void on_timer(void *ctx)
{
    struct curlloop *cl = ctx;
    int running;
    curl.curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect(cl);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct curlloop *cl = userp;
    if (timeout_ms < 0)
        return loop_timer_disarm(cl->loop, &cl->timer) < 0 ? -1 : 0;
    return loop_timer_arm(cl->loop, &cl->timer, timeout_ms) < 0 ? -1 : 0;
}

struct curlloop *curlloop_new(struct loop *loop, curlloop_done_fn done, void *ctx, char *err,
                              size_t errlen)
{
    if (LAZYLIB_LOAD(curl, LIBCURL_SONAME, err, errlen) < 0)
        return NULL;
    struct curlloop *cl = calloc(1, sizeof *cl);
    if (cl == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    curl.curl_global_init(CURL_GLOBAL_DEFAULT);
    cl->multi = curl.curl_multi_init();
    if (cl->multi == NULL) {
        free(cl);
        snprintf(err, errlen, "libcurl: cannot make a multi handle");
        return NULL;
    }
    cl->loop = loop;
    cl->done = done;
    cl->ctx = ctx;
    loop_timer_init(&cl->timer, on_timer, cl);
    curl.curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl.curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
    curl.curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl.curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
    return cl;
}

int curlloop_add(struct curlloop *cl, CURL *easy)
{
    return curl.curl_multi_add_handle(cl->multi, easy) == CURLM_OK ? 0 : -1;
}

void curlloop_remove(struct curlloop *cl, CURL *easy)
{
    curl.curl_multi_remove_handle(cl->multi, easy);
}

void curlloop_free(struct curlloop *cl)
{
    if (cl == NULL)
        return;
    loop_timer_disarm(cl->loop, &cl->timer);
    curl.curl_multi_cleanup(cl->multi);
    free(cl);
}
