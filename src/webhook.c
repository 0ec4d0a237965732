/* webhook: see webhook.h. */
#include "webhook.h"

#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "lazylib.h"
#include "log.h"

#define CURL_FUNCS(X)                                                                        \
    X(curl_global_init) X(curl_easy_init) X(curl_easy_setopt) X(curl_easy_getinfo)            \
    X(curl_easy_cleanup) X(curl_easy_strerror) X(curl_slist_append) X(curl_slist_free_all)  \
    X(curl_multi_init) X(curl_multi_cleanup) X(curl_multi_setopt) X(curl_multi_add_handle)   \
    X(curl_multi_remove_handle) X(curl_multi_socket_action) X(curl_multi_info_read)          \
    X(curl_multi_assign)
LAZYLIB_DEFINE(curl, CURL_FUNCS);

/* One socket libcurl asked us to watch. */
struct wh_sock {
    struct loop_watch lw;
    curl_socket_t fd;
    struct webhook *wh;
};

struct webhook {
    char *url;
    struct loop *loop;
    webhook_result_fn on_result;
    void *ctx;
    CURLM *multi;
    CURL *easy;                 /* the POST in flight, or NULL */
    struct curl_slist *headers;
    char *body;
    struct loop_timer curl_timer;  /* libcurl's own timeouts */
    struct loop_timer retry;
    int64_t next_retry_ms;
    int64_t retry_ms;           /* the last retry delay; 0 after a new post */
    char errbuf[CURL_ERROR_SIZE];
};

static void check_done(struct webhook *wh);

static void on_sock(void *ctx, uint32_t events)
{
    struct wh_sock *sk = ctx;
    struct webhook *wh = sk->wh; /* sk may be freed inside the call below */
    int flags = (events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                (events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                (events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    int running;
    curl.curl_multi_socket_action(wh->multi, sk->fd, flags, &running);
    check_done(wh);
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct webhook *wh = userp;
    struct wh_sock *sk = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            loop_del(wh->loop, &sk->lw);
            curl.curl_multi_assign(wh->multi, s, NULL);
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
        sk->wh = wh;
        if (loop_add(wh->loop, &sk->lw, s, ev, on_sock, sk) < 0) {
            free(sk);
            return -1;
        }
        curl.curl_multi_assign(wh->multi, s, sk);
        return 0;
    }
    return loop_mod(wh->loop, &sk->lw, ev) < 0 ? -1 : 0;
}

static void on_curl_timer(void *ctx)
{
    struct webhook *wh = ctx;
    int running;
    curl.curl_multi_socket_action(wh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(wh);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct webhook *wh = userp;
    if (timeout_ms < 0)
        return loop_timer_disarm(wh->loop, &wh->curl_timer) < 0 ? -1 : 0;
    return loop_timer_arm(wh->loop, &wh->curl_timer, timeout_ms) < 0 ? -1 : 0;
}

static void drop_easy(struct webhook *wh)
{
    if (wh->easy == NULL)
        return;
    curl.curl_multi_remove_handle(wh->multi, wh->easy);
    curl.curl_easy_cleanup(wh->easy);
    wh->easy = NULL;
}

static void fail_attempt(struct webhook *wh, const char *what)
{
    wh->retry_ms = loop_backoff_next(wh->retry_ms, WEBHOOK_RETRY_FIRST_MS, WEBHOOK_RETRY_MAX_MS);
    int64_t delay = wh->retry_ms;
    char result[CURL_ERROR_SIZE + 64];
    snprintf(result, sizeof result, "%s; retrying in %.1fs", what, (double)delay / 1000.0);
    log_warn("webhook %s: %s", wh->url, result);
    loop_timer_arm(wh->loop, &wh->retry, delay);
    wh->on_result(wh->ctx, 0, result);
}

static void start_attempt(struct webhook *wh)
{
    char err[256];
    if (LAZYLIB_LOAD(curl, LIBCURL_SONAME, err, sizeof err) < 0) {
        fail_attempt(wh, err);
        return;
    }
    if (wh->multi == NULL) {
        curl.curl_global_init(CURL_GLOBAL_DEFAULT);
        wh->multi = curl.curl_multi_init();
        if (wh->multi == NULL) {
            fail_attempt(wh, "libcurl: cannot make a multi handle");
            return;
        }
        curl.curl_multi_setopt(wh->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
        curl.curl_multi_setopt(wh->multi, CURLMOPT_SOCKETDATA, wh);
        curl.curl_multi_setopt(wh->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
        curl.curl_multi_setopt(wh->multi, CURLMOPT_TIMERDATA, wh);
        wh->headers = curl.curl_slist_append(NULL, "Content-Type: application/json");
    }
    CURL *e = curl.curl_easy_init();
    if (e == NULL) {
        fail_attempt(wh, "libcurl: cannot make a handle");
        return;
    }
    wh->errbuf[0] = '\0';
    curl.curl_easy_setopt(e, CURLOPT_URL, wh->url);
    curl.curl_easy_setopt(e, CURLOPT_POSTFIELDS, wh->body);
    curl.curl_easy_setopt(e, CURLOPT_HTTPHEADER, wh->headers);
    curl.curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)WEBHOOK_TIMEOUT_MS);
    curl.curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl.curl_easy_setopt(e, CURLOPT_ERRORBUFFER, wh->errbuf);
    curl.curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl.curl_easy_setopt(e, CURLOPT_USERAGENT, "podvisor/" PODVISOR_VERSION);
    /* The answer's body is not ours to print: read and dropped. */
    curl.curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, NULL);
    curl.curl_easy_setopt(e, CURLOPT_WRITEDATA, stderr);
    wh->easy = e;
    if (curl.curl_multi_add_handle(wh->multi, e) != CURLM_OK) {
        curl.curl_easy_cleanup(e);
        wh->easy = NULL;
        fail_attempt(wh, "libcurl: cannot start the request");
    }
}

static void check_done(struct webhook *wh)
{
    CURLMsg *m;
    int left;
    while ((m = curl.curl_multi_info_read(wh->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE || m->easy_handle != wh->easy)
            continue;
        CURLcode rc = m->data.result;
        long status = 0;
        curl.curl_easy_getinfo(wh->easy, CURLINFO_RESPONSE_CODE, &status);
        char what[CURL_ERROR_SIZE + 32];
        if (rc != CURLE_OK)
            snprintf(what, sizeof what, "%s",
                     wh->errbuf[0] ? wh->errbuf : curl.curl_easy_strerror(rc));
        else
            snprintf(what, sizeof what, "HTTP %ld", status);
        drop_easy(wh);
        if (rc == CURLE_OK && status >= 200 && status < 300) {
            log_info("webhook %s: %s", wh->url, what);
            wh->on_result(wh->ctx, 1, what);
        } else {
            fail_attempt(wh, what);
        }
        return;
    }
}

static void on_retry(void *ctx) { start_attempt(ctx); }

struct webhook *webhook_new(const char *url, struct loop *loop, webhook_result_fn on_result,
                            void *ctx)
{
    struct webhook *wh = calloc(1, sizeof *wh);
    if (wh == NULL || (wh->url = strdup(url)) == NULL) {
        free(wh);
        return NULL;
    }
    wh->loop = loop;
    wh->on_result = on_result;
    wh->ctx = ctx;
    loop_timer_init(&wh->curl_timer, on_curl_timer, wh);
    loop_timer_init(&wh->retry, on_retry, wh);
    return wh;
}

void webhook_post(struct webhook *wh, const char *body)
{
    drop_easy(wh);
    loop_timer_disarm(wh->loop, &wh->retry);
    char *copy = strdup(body);
    if (copy == NULL) {
        wh->on_result(wh->ctx, 0, "out of memory");
        return;
    }
    free(wh->body);
    wh->body = copy;
    wh->retry_ms = 0;
    start_attempt(wh);
}

void webhook_free(struct webhook *wh)
{
    if (wh == NULL)
        return;
    drop_easy(wh);
    loop_timer_disarm(wh->loop, &wh->retry);
    loop_timer_disarm(wh->loop, &wh->curl_timer);
    if (wh->multi)
        curl.curl_multi_cleanup(wh->multi);
    if (wh->headers)
        curl.curl_slist_free_all(wh->headers);
    free(wh->body);
    free(wh->url);
    free(wh);
}
