/* webhook: see webhook.h. */
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "curlloop.h"
#include "lazylib.h"
#include "log.h"
#include "waitstatus.h"

struct webhook {
    char *url;
    struct loop *loop;
    webhook_result_fn on_result;
    void *ctx;
    struct curlloop *cl;
    CURL *easy; /* the POST in flight, or NULL */
    struct curl_slist *headers;
    char *body;     /* the body of the POST in flight or to retry */
    const char *ca; /* --webhook-ca, or NULL */
    char *pending;  /* a newer body, posted when the answer comes */
    int64_t timeout_ms;
    struct loop_timer retry;
    int64_t retry_ms; /* the last retry delay; 0 after a new post */
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
    wh->retry_ms = backoff_next(wh->retry_ms, WEBHOOK_RETRY_FIRST_MS, WEBHOOK_RETRY_MAX_MS);
    int64_t delay = wh->retry_ms;
    char result[CURL_ERROR_SIZE + 64];
    snprintf(result, sizeof result, "%s; retrying in %.1fs", what, (double)delay / 1000.0);
    log_warn("webhook %s: %s", wh->url, result);
    loop_timer_arm(wh->loop, &wh->retry, delay);
    wh->on_result(wh->ctx, 0, result);
}

/* The answer's body is not ours to print (a server could inject log lines
 * or break --log-format json): read and dropped. */
static size_t discard(char *data, size_t size, size_t n, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * n;
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
    curl.curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                          (long)(wh->timeout_ms < 2147483647 ? wh->timeout_ms : 2147483647));
    /* The app is in the pod: never through http_proxy (as the checks). */
    curl.curl_easy_setopt(e, CURLOPT_PROXY, "");
    /* https: always verified (a POST makes the app act: unlike a probe, it
     * must reach the right server); --webhook-ca names the CA to trust. */
    if (wh->ca != NULL)
        curl.curl_easy_setopt(e, CURLOPT_CAINFO, wh->ca);
    curl.curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl.curl_easy_setopt(e, CURLOPT_ERRORBUFFER, wh->errbuf);
    curl.curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl.curl_easy_setopt(e, CURLOPT_USERAGENT, "podvisor/" PODVISOR_VERSION);
    curl.curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
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
    long status = 0, sent = 0;
    curl.curl_easy_getinfo(wh->easy, CURLINFO_RESPONSE_CODE, &status);
    /* Bytes of the request written: the server has it (or part of it). */
    curl.curl_easy_getinfo(wh->easy, CURLINFO_REQUEST_SIZE, &sent);
    char what[CURL_ERROR_SIZE + 32];
    if (rc != CURLE_OK)
        snprintf(what, sizeof what, "%s", wh->errbuf[0] ? wh->errbuf : curl.curl_easy_strerror(rc));
    else
        snprintf(what, sizeof what, "HTTP %ld", status);
    drop_easy(wh);
    if (wh->pending) {
        /* A newer change waited for this answer: it supersedes any retry.
         * After a timeout the app may still be reloading the last one:
         * --webhook-timeout is how long one reload may take, and past it
         * the two may overlap; said so, not hidden. */
        if (rc == CURLE_OPERATION_TIMEDOUT && status == 0 && sent > 0)
            log_warn("webhook %s: no answer within --webhook-timeout %lldms; posting the newer "
                     "change now, while the app may still be reloading the last one (set "
                     "--webhook-timeout above the app's longest reload)",
                     wh->url, (long long)wh->timeout_ms);
        else
            log_info("webhook %s: %s; posting the newer change", wh->url, what);
        free(wh->body);
        wh->body = wh->pending;
        wh->pending = NULL;
        wh->retry_ms = 0;
        start_attempt(wh);
        return;
    }
    if (rc == CURLE_OK && status >= 200 && status < 300) {
        log_info("webhook %s: %s", wh->url, what);
        wh->on_result(wh->ctx, 1, what);
    } else if (rc == CURLE_OPERATION_TIMEDOUT && status == 0 && sent > 0) {
        char result[CURL_ERROR_SIZE + 160];
        snprintf(result, sizeof result,
                 "no answer within --webhook-timeout %lldms; not retried (the server may still "
                 "be working on it): the next change posts again",
                 (long long)wh->timeout_ms);
        log_warn("webhook %s: %s", wh->url, result);
        wh->on_result(wh->ctx, 0, result);
    } else {
        fail_attempt(wh, what);
    }
}

static void on_retry(void *ctx)
{
    start_attempt(ctx);
}

struct webhook *webhook_new(const char *url, int64_t timeout_ms, const char *ca, struct loop *loop,
                            webhook_result_fn on_result, void *ctx)
{
    struct webhook *wh = calloc(1, sizeof *wh);
    if (wh == NULL || (wh->url = strdup(url)) == NULL) {
        free(wh);
        return NULL;
    }
    wh->loop = loop;
    wh->timeout_ms = timeout_ms;
    wh->ca = ca;
    wh->on_result = on_result;
    wh->ctx = ctx;
    loop_timer_init(&wh->retry, on_retry, wh);
    return wh;
}

void webhook_post(struct webhook *wh, const char *body)
{
    char *copy = strdup(body);
    if (copy == NULL) {
        wh->on_result(wh->ctx, 0, "out of memory");
        return;
    }
    if (wh->easy != NULL) {
        /* One POST in flight: this one waits for its answer. */
        if (wh->pending == NULL)
            log_info("webhook %s: a POST is in flight; the change is posted when it is "
                     "answered",
                     wh->url);
        free(wh->pending);
        wh->pending = copy;
        return;
    }
    loop_timer_disarm(wh->loop, &wh->retry);
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
    free(wh->pending);
    free(wh->url);
    free(wh);
}

int webhook_post_change(struct webhook *wh, const char *hash, char *const *paths, size_t npaths)
{
    json_t *list = json_array();
    for (size_t i = 0; i < npaths && list; i++)
        json_array_append_new(list, json_string(paths[i]));
    json_t *doc =
        list ? json_pack("{s:s, s:s, s:o}", "event", "config-changed", "hash", hash, "paths", list)
             : NULL;
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (body == NULL)
        return -1;
    webhook_post(wh, body);
    free(body);
    return 0;
}
