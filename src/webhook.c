/* webhook: see webhook.h. */
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curlloop.h"
#include "lazylib.h"
#include "log.h"

#define CURL_FUNCS(X)                                                                        \
    X(curl_easy_init) X(curl_easy_setopt) X(curl_easy_getinfo) X(curl_easy_cleanup)         \
    X(curl_easy_strerror) X(curl_slist_append) X(curl_slist_free_all)
LAZYLIB_DEFINE(curl, CURL_FUNCS);

struct webhook {
    char *url;
    struct loop *loop;
    webhook_result_fn on_result;
    void *ctx;
    struct curlloop *cl;
    CURL *easy;                 /* the POST in flight, or NULL */
    struct curl_slist *headers;
    char *body;
    struct loop_timer retry;
    int64_t retry_ms;           /* the last retry delay; 0 after a new post */
    char errbuf[CURL_ERROR_SIZE];
};

static void on_done(void *ctx, CURL *easy, CURLcode rc);

static void drop_easy(struct webhook *wh)
{
    if (wh->easy == NULL)
        return;
    curlloop_remove(wh->cl, wh->easy);
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
    if (wh->cl == NULL) {
        if ((wh->cl = curlloop_new(wh->loop, on_done, wh, err, sizeof err)) == NULL) {
            fail_attempt(wh, err);
            return;
        }
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
    if (curlloop_add(wh->cl, e) < 0) {
        curl.curl_easy_cleanup(e);
        wh->easy = NULL;
        fail_attempt(wh, "libcurl: cannot start the request");
    }
}

static void on_done(void *ctx, CURL *easy, CURLcode rc)
{
    struct webhook *wh = ctx;
    if (easy != wh->easy)
        return;
    long status = 0;
    curl.curl_easy_getinfo(wh->easy, CURLINFO_RESPONSE_CODE, &status);
    char what[CURL_ERROR_SIZE + 32];
    if (rc != CURLE_OK)
        snprintf(what, sizeof what, "%s", wh->errbuf[0] ? wh->errbuf : curl.curl_easy_strerror(rc));
    else
        snprintf(what, sizeof what, "HTTP %ld", status);
    drop_easy(wh);
    if (rc == CURLE_OK && status >= 200 && status < 300) {
        log_info("webhook %s: %s", wh->url, what);
        wh->on_result(wh->ctx, 1, what);
    } else {
        fail_attempt(wh, what);
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
    curlloop_free(wh->cl);
    if (wh->headers)
        curl.curl_slist_free_all(wh->headers);
    free(wh->body);
    free(wh->url);
    free(wh);
}
