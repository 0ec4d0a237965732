/* checks: see checks.h. */
#include "checks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "curlloop.h"
#include "lazylib.h"
#include "log.h"

#define CURL_FUNCS(X)                                                                        \
    X(curl_easy_init) X(curl_easy_setopt) X(curl_easy_getinfo) X(curl_easy_cleanup)         \
    X(curl_easy_strerror)
LAZYLIB_DEFINE(curl, CURL_FUNCS);

/* As the kubelet's prober: a body is read up to 10 KiB, the status decides. */
#define BODY_MAX 10240

struct check_run {
    struct checks *cs;
    int index;
    struct check_spec spec;
    char *url;                  /* http: the URL; tcp: http://HOST:PORT/, connect only */
    struct loop_timer next;
    CURL *easy;                 /* in flight, or NULL */
    int64_t started_ms;
    size_t body;
    char errbuf[CURL_ERROR_SIZE];
};

struct checks {
    struct loop *loop;
    checks_result_fn on_result;
    void *ctx;
    int64_t interval_ms, timeout_ms;
    int active;
    struct curlloop *cl;        /* made on the first http or tcp run */
    int n;
    struct check_run runs[OPTIONS_MAX_CHECKS];
};

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    struct check_run *r = userp;
    r->body += size * n;
    return r->body > BODY_MAX ? 0 : size * n; /* 0 ends the transfer */
}

/* Reports one result and plans the next run, an interval after this one
 * started (the kubelet's periodSeconds). */
static void finish(struct check_run *r, int ok, const char *why)
{
    struct checks *cs = r->cs;
    int64_t took = loop_now_ms() - r->started_ms;
    int64_t wait = cs->interval_ms - took;
    loop_timer_arm(cs->loop, &r->next, wait > 0 ? wait : 0);
    cs->on_result(cs->ctx, r->index, ok, took, ok ? NULL : why);
}

static void drop_easy(struct check_run *r)
{
    if (r->easy == NULL)
        return;
    curlloop_remove(r->cs->cl, r->easy);
    curl.curl_easy_cleanup(r->easy);
    r->easy = NULL;
}

static void on_done(void *ctx, CURL *easy, CURLcode rc)
{
    struct checks *cs = ctx;
    struct check_run *r = NULL;
    for (int i = 0; i < cs->n; i++)
        if (cs->runs[i].easy == easy)
            r = &cs->runs[i];
    if (r == NULL)
        return;
    long status = 0;
    curl.curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    char why[CURL_ERROR_SIZE + 32];
    int ok;
    if (r->spec.kind == CHECK_TCP) {
        ok = rc == CURLE_OK;
        snprintf(why, sizeof why, "%s", r->errbuf[0] ? r->errbuf : curl.curl_easy_strerror(rc));
    } else if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && status > 0)) {
        ok = status >= 200 && status < 400;
        snprintf(why, sizeof why, "HTTP %ld", status);
    } else {
        ok = 0;
        snprintf(why, sizeof why, "%s", r->errbuf[0] ? r->errbuf : curl.curl_easy_strerror(rc));
    }
    drop_easy(r);
    finish(r, ok, why);
}

static void run_check(void *ctx)
{
    struct check_run *r = ctx;
    struct checks *cs = r->cs;
    r->started_ms = loop_now_ms();
    if (r->spec.kind == CHECK_FILE) {
        struct stat st;
        char why[160];
        int ok = stat(r->spec.target, &st) == 0;
        if (!ok)
            snprintf(why, sizeof why, "%s", strerror(errno));
        finish(r, ok, why);
        return;
    }
    char err[256];
    if (LAZYLIB_LOAD(curl, LIBCURL_SONAME, err, sizeof err) < 0 ||
        (cs->cl == NULL && (cs->cl = curlloop_new(cs->loop, on_done, cs, err, sizeof err)) == NULL)) {
        finish(r, 0, err);
        return;
    }
    CURL *e = curl.curl_easy_init();
    if (e == NULL) {
        finish(r, 0, "libcurl: cannot make a handle");
        return;
    }
    r->errbuf[0] = '\0';
    r->body = 0;
    curl.curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl.curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cs->timeout_ms);
    curl.curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl.curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl.curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    /* In-pod endpoints: never through a proxy; certificates are not
     * checked, as the kubelet does not check them. */
    curl.curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl.curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl.curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    curl.curl_easy_setopt(e, CURLOPT_USERAGENT, "podvisor-check/" PODVISOR_VERSION);
    curl.curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl.curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    if (r->spec.kind == CHECK_TCP)
        curl.curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
    r->easy = e;
    if (curlloop_add(cs->cl, e) < 0) {
        curl.curl_easy_cleanup(e);
        r->easy = NULL;
        finish(r, 0, "libcurl: cannot start the request");
    }
}

struct checks *checks_new(const struct podvisor_config *cfg, struct loop *loop,
                          checks_result_fn on_result, void *ctx)
{
    struct checks *cs = calloc(1, sizeof *cs);
    if (cs == NULL)
        return NULL;
    cs->loop = loop;
    cs->on_result = on_result;
    cs->ctx = ctx;
    cs->interval_ms = cfg->check_interval_ms;
    cs->timeout_ms = cfg->check_timeout_ms;
    const struct strlist *lists[2] = {&cfg->ready_check, &cfg->live_check};
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < lists[l]->n && cs->n < OPTIONS_MAX_CHECKS; i++) {
            struct check_run *r = &cs->runs[cs->n];
            r->cs = cs;
            r->index = cs->n++;
            if (parse_check(lists[l]->v[i], &r->spec) != NULL) /* options checked it */
                r->spec.kind = CHECK_FILE;
            loop_timer_init(&r->next, run_check, r);
            size_t len = strlen(r->spec.target) + 16;
            if ((r->url = malloc(len)) == NULL) {
                checks_free(cs);
                return NULL;
            }
            snprintf(r->url, len, "%s%s", r->spec.kind == CHECK_TCP ? "http://" : "",
                     r->spec.target);
        }
    return cs;
}

void checks_set_active(struct checks *cs, int active)
{
    if (cs == NULL || cs->active == !!active)
        return;
    cs->active = !!active;
    for (int i = 0; i < cs->n; i++) {
        struct check_run *r = &cs->runs[i];
        if (active) {
            loop_timer_arm(cs->loop, &r->next, 0);
        } else {
            loop_timer_disarm(cs->loop, &r->next);
            drop_easy(r);
        }
    }
}

void checks_free(struct checks *cs)
{
    if (cs == NULL)
        return;
    for (int i = 0; i < cs->n; i++) {
        loop_timer_disarm(cs->loop, &cs->runs[i].next);
        drop_easy(&cs->runs[i]);
        free(cs->runs[i].url);
    }
    curlloop_free(cs->cl);
    free(cs);
}
