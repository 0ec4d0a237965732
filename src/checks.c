/* checks: see checks.h. */
#include "checks.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procs.h"
#include "child.h"
#include "helper.h"
#include "curlloop.h"
#include "lazylib.h"
#include "log.h"
#include "waitstatus.h"

/* As the kubelet's prober (docs/kubernetes.md): a body is read up to 10 KiB,
 * the status decides; redirects are followed to the same host only, at
 * most 10 (another host's 3xx counts as success, with a warning). */
#define BODY_MAX 10240
#define MAX_REDIRECTS 10
/* libcurl takes its timeout as a long of milliseconds; longer ones (600h)
 * are cut here, and a caller with a longer deadline keeps its own. */
#define CURL_TIMEOUT_MAX_MS 2000000000LL

/* What an exec check wrote, kept for its failure text (the kubelet shows
 * a probe's output too); the rest is read and dropped. */
#define OUTPUT_KEEP 150

struct check_run {
    struct checks *cs;
    int index;
    int live;
    struct check_spec spec;
    char *url;      /* http: the URL; tcp: http://HOST:PORT/, connect only */
    char *location; /* http: the same-host redirect being followed, or NULL */
    int redirects;
    char **argv;            /* exec: parse_command_words block */
    struct loop_timer next; /* the next run; notify (live): the watchdog deadline */
    CURL *easy;             /* in flight, or NULL */
    int64_t started_ms;
    size_t body;
    char errbuf[CURL_ERROR_SIZE];
    /* exec: the running command, until it is reaped. */
    struct helper h;
    int abandoned; /* killed when the checks stopped: reaped without a result */
    int timed_out;
    struct loop_timer deadline;
};

struct checks {
    struct loop *loop;
    checks_result_fn on_result;
    void *ctx;
    int64_t interval_ms, timeout_ms, watchdog_ms;
    struct curl_slist *headers; /* extra request headers (probe --header) */
    int verify_tls;
    const char *user_agent;
    int active;
    struct curlloop *cl; /* made on the first http or tcp run */
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
    cs->on_result(cs->ctx, r->index, ok, took, why);
}

/* The exec check ran past --check-timeout: its whole group goes, as the
 * kubelet kills a timed-out exec probe; the result comes with its reaping. */
static void on_exec_deadline(void *ctx)
{
    struct check_run *r = ctx;
    if (r->h.pid <= 0)
        return;
    r->timed_out = 1;
    child_signal(r->h.pid, 0, SIGKILL, 1);
}

/* Stops an exec check in flight; its reaping then reports nothing. */
static void abandon_exec(struct check_run *r)
{
    loop_timer_disarm(r->cs->loop, &r->deadline);
    helper_close(&r->h);
    if (r->h.pid > 0 && !r->abandoned) {
        r->abandoned = 1;
        child_signal(r->h.pid, 0, SIGKILL, 1);
    }
}

static void run_exec(struct check_run *r)
{
    struct checks *cs = r->cs;
    if (r->h.pid > 0) {
        /* The last one, killed, is not reaped yet: try again shortly. */
        loop_timer_arm(cs->loop, &r->next, 50);
        return;
    }
    int rc = helper_spawn(&r->h, r->argv);
    if (rc < 0) {
        char why[96];
        snprintf(why, sizeof why, "cannot start it: %s", strerror(-rc));
        finish(r, 0, why);
        return;
    }
    r->abandoned = r->timed_out = 0;
    loop_timer_arm(cs->loop, &r->deadline, cs->timeout_ms);
}

int checks_owns(const struct checks *cs, pid_t pid)
{
    if (cs == NULL || pid <= 0)
        return 0;
    for (int i = 0; i < cs->n; i++) {
        pid_t h = cs->runs[i].h.pid;
        if (h > 0 && (pid == h || procs_descends_from(pid, h)))
            return 1;
    }
    return 0;
}

int checks_reaped(struct checks *cs, pid_t pid, int status)
{
    if (cs == NULL || pid <= 0)
        return 0;
    for (int i = 0; i < cs->n; i++) {
        struct check_run *r = &cs->runs[i];
        if (r->h.pid != pid)
            continue;
        if (!WIFEXITED(status) && !WIFSIGNALED(status))
            return 1; /* stopped or continued: still ours, still running */
        r->h.pid = 0;
        loop_timer_disarm(cs->loop, &r->deadline);
        int err = helper_exec_errno(&r->h);
        helper_read_output(&r->h);
        helper_close(&r->h);
        if (r->abandoned) {
            r->abandoned = 0;
            return 1;
        }
        char why[256], how[64];
        /* The output's first line says why, as a failed probe's does. */
        size_t line = strcspn(r->h.out, "\n");
        if (err)
            snprintf(why, sizeof why, "cannot run %s: %s", r->argv[0], strerror(err));
        else if (r->timed_out)
            snprintf(why, sizeof why, "timed out after %lldms (killed)", (long long)cs->timeout_ms);
        else
            snprintf(why, sizeof why, "%s%s%.*s", waitstatus_describe(status, how, sizeof how),
                     line ? ": " : "", (int)line, r->h.out);
        finish(r, !err && !r->timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0, why);
        return 1;
    }
    return 0;
}

/* The watchdog's deadline passed without a WATCHDOG=1. */
static void on_watchdog_missed(struct check_run *r)
{
    char why[96];
    snprintf(why, sizeof why, "no WATCHDOG=1 within --watchdog %lldms",
             (long long)r->cs->watchdog_ms);
    r->cs->on_result(r->cs->ctx, r->index, 0, 0, why);
}

void checks_notify(struct checks *cs, const struct notify_msg *m)
{
    if (cs == NULL || !cs->active)
        return;
    for (int i = 0; i < cs->n; i++) {
        struct check_run *r = &cs->runs[i];
        if (r->spec.kind != CHECK_NOTIFY)
            continue;
        if (r->live) {
            if (m->watchdog_trigger) {
                loop_timer_disarm(cs->loop, &r->next);
                cs->on_result(cs->ctx, r->index, 0, 0,
                              "WATCHDOG=trigger: the app says it is stuck");
            } else if (m->watchdog) {
                loop_timer_arm(cs->loop, &r->next, cs->watchdog_ms);
                cs->on_result(cs->ctx, r->index, 1, 0, NULL);
            }
            continue;
        }
        /* In the order systemd reads them: STOPPING and RELOADING win over
         * a READY=1 in the same datagram. */
        if (m->stopping)
            cs->on_result(cs->ctx, r->index, 0, 0, "STOPPING=1: the app is stopping");
        else if (m->reloading)
            cs->on_result(cs->ctx, r->index, 0, 0, "RELOADING=1: the app is reloading");
        else if (m->ready)
            cs->on_result(cs->ctx, r->index, 1, 0, NULL);
    }
}

static void drop_easy(struct check_run *r)
{
    if (r->easy == NULL)
        return;
    curlloop_remove(r->cs->cl, r->easy);
    curl.curl_easy_cleanup(r->easy);
    r->easy = NULL;
}

/* The host part of url, lower case; 0, or -1 when it cannot be parsed. */
static int url_host(const char *url, char *buf, size_t len)
{
    CURLU *u = curl.curl_url();
    char *host = NULL;
    int rc = -1;
    if (u != NULL && curl.curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl.curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        snprintf(buf, len, "%s", host);
        for (char *c = buf; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        rc = 0;
    }
    curl.curl_free(host);
    curl.curl_url_cleanup(u);
    return rc;
}

static void start_http(struct check_run *r);

/* A 3xx with a Location: 1 when it is being followed (the result comes
 * later), 0 when the status stands (another host), -1 on a failure to
 * report, with why written. */
static int follow_redirect(struct check_run *r, const char *location, char *why, size_t len)
{
    char from[256], to[256];
    const char *current = r->location ? r->location : r->url;
    if (url_host(current, from, sizeof from) < 0 || url_host(location, to, sizeof to) < 0 ||
        strcmp(from, to) != 0) {
        snprintf(why, len,
                 "warning: redirects to another host (%.120s): not followed, the 3xx "
                 "counts as success",
                 location);
        return 0;
    }
    if (++r->redirects >= MAX_REDIRECTS) {
        snprintf(why, len, "stopped after %d redirects", MAX_REDIRECTS);
        return -1;
    }
    char *next = strdup(location);
    if (next == NULL) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    free(r->location);
    r->location = next;
    start_http(r);
    return 1;
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
    char *location = NULL;
    curl.curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl.curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_URL, &location);
    char why[CURL_ERROR_SIZE + 300];
    const char *where = r->location ? r->location : "";
    int ok;
    if (r->spec.kind == CHECK_TCP) {
        ok = rc == CURLE_OK;
        snprintf(why, sizeof why, "%s", r->errbuf[0] ? r->errbuf : curl.curl_easy_strerror(rc));
    } else if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && status > 0 && r->body > BODY_MAX)) {
        ok = status >= 200 && status < 400;
        snprintf(why, sizeof why, "%s%sHTTP %ld", where, *where ? ": " : "", status);
        if (status >= 300 && status < 400 && location != NULL) {
            char *loc = strdup(location); /* the handle, and location with it, goes next */
            drop_easy(r);
            int f = loc ? follow_redirect(r, loc, why, sizeof why) : -1;
            free(loc);
            if (f == 1)
                return;
            finish(r, f == 0, why);
            return;
        }
    } else {
        ok = 0;
        snprintf(why, sizeof why, "%s%s%s", where, *where ? ": " : "",
                 r->errbuf[0] ? r->errbuf : curl.curl_easy_strerror(rc));
    }
    drop_easy(r);
    finish(r, ok, ok ? NULL : why);
}

/* One HTTP (or TCP connect-only) request to the check's URL, or to the
 * redirect being followed, within what is left of --check-timeout. */
static void start_http(struct check_run *r)
{
    struct checks *cs = r->cs;
    CURL *e = curl.curl_easy_init();
    if (e == NULL) {
        finish(r, 0, "libcurl: cannot make a handle");
        return;
    }
    int64_t left = cs->timeout_ms - (loop_now_ms() - r->started_ms);
    if (left < 1)
        left = 1;
    if (left > CURL_TIMEOUT_MAX_MS)
        left = CURL_TIMEOUT_MAX_MS;
    r->errbuf[0] = '\0';
    r->body = 0;
    curl.curl_easy_setopt(e, CURLOPT_URL, r->location ? r->location : r->url);
    curl.curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)left);
    curl.curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl.curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl.curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    /* In-pod endpoints: never through a proxy (a proxy cannot reach the
     * pod's loopback, and would answer for a dead app); certificates are
     * not checked unless asked for, as the kubelet does not check them. */
    curl.curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl.curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, cs->verify_tls ? 1L : 0L);
    curl.curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, cs->verify_tls ? 2L : 0L);
    curl.curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl.curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl.curl_easy_setopt(e, CURLOPT_USERAGENT, cs->user_agent);
    curl.curl_easy_setopt(e, CURLOPT_HTTPHEADER, cs->headers);
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

static void run_check(void *ctx)
{
    struct check_run *r = ctx;
    struct checks *cs = r->cs;
    if (r->spec.kind == CHECK_NOTIFY) {
        if (r->live)
            on_watchdog_missed(r);
        return; /* a ready one is told, never run */
    }
    r->started_ms = loop_now_ms();
    if (r->spec.kind == CHECK_EXEC) {
        run_exec(r);
        return;
    }
    if (r->spec.kind == CHECK_FILE) {
        struct stat st;
        char why[160];
        int ok = stat(r->spec.target, &st) == 0;
        if (!ok)
            snprintf(why, sizeof why, "%s", strerror(errno));
        finish(r, ok, ok ? NULL : why);
        return;
    }
    char err[256];
    if (LAZYLIB_LOAD(curl, LIBCURL_SONAME, err, sizeof err) < 0 ||
        (cs->cl == NULL &&
         (cs->cl = curlloop_new(cs->loop, on_done, cs, err, sizeof err)) == NULL)) {
        finish(r, 0, err);
        return;
    }
    free(r->location);
    r->location = NULL;
    r->redirects = 0;
    start_http(r);
}

struct checks *checks_new_list(const struct checks_params *p, struct loop *loop,
                               checks_result_fn on_result, void *ctx)
{
    struct checks *cs = calloc(1, sizeof *cs);
    if (cs == NULL)
        return NULL;
    cs->loop = loop;
    cs->on_result = on_result;
    cs->ctx = ctx;
    cs->interval_ms = p->interval_ms;
    cs->timeout_ms = p->timeout_ms;
    cs->watchdog_ms = p->watchdog_ms;
    cs->verify_tls = p->verify_tls;
    cs->user_agent = p->user_agent ? p->user_agent : "podvisor-check/" PODVISOR_VERSION;
    if (p->n_headers > 0) {
        char err[256];
        if (LAZYLIB_LOAD(curl, LIBCURL_SONAME, err, sizeof err) < 0) {
            free(cs);
            return NULL;
        }
        for (int i = 0; i < p->n_headers; i++) {
            struct curl_slist *l = curl.curl_slist_append(cs->headers, p->headers[i]);
            if (l == NULL) {
                checks_free(cs);
                return NULL;
            }
            cs->headers = l;
        }
    }
    for (int i = 0; i < p->n_ready + p->n_live && cs->n < OPTIONS_MAX_CHECKS; i++) {
        struct check_run *r = &cs->runs[cs->n];
        r->cs = cs;
        r->index = cs->n++;
        r->live = i >= p->n_ready;
        helper_init(&r->h, loop, OUTPUT_KEEP);
        loop_timer_init(&r->next, run_check, r);
        loop_timer_init(&r->deadline, on_exec_deadline, r);
        if (parse_check(p->specs[i], &r->spec) != NULL) { /* the caller checked it */
            r->spec.kind = CHECK_FILE;
            r->spec.target = "/";
        }
        size_t len = strlen(r->spec.target) + 16;
        if ((r->url = malloc(len)) == NULL ||
            (r->spec.kind == CHECK_EXEC && parse_command_words(r->spec.target, &r->argv))) {
            checks_free(cs);
            return NULL;
        }
        snprintf(r->url, len, "%s%s", r->spec.kind == CHECK_TCP ? "http://" : "", r->spec.target);
    }
    return cs;
}

struct checks *checks_new(const struct podvisor_config *cfg, struct loop *loop,
                          checks_result_fn on_result, void *ctx)
{
    char *specs[OPTIONS_MAX_CHECKS];
    int n = 0;
    for (size_t i = 0; i < cfg->ready_check.n && n < OPTIONS_MAX_CHECKS; i++)
        specs[n++] = cfg->ready_check.v[i];
    int n_ready = n;
    for (size_t i = 0; i < cfg->live_check.n && n < OPTIONS_MAX_CHECKS; i++)
        specs[n++] = cfg->live_check.v[i];
    struct checks_params p = {.specs = specs,
                              .n_ready = n_ready,
                              .n_live = n - n_ready,
                              .interval_ms = cfg->check_interval_ms,
                              .timeout_ms = cfg->check_timeout_ms,
                              .watchdog_ms = cfg->watchdog_ms};
    return checks_new_list(&p, loop, on_result, ctx);
}

void checks_stop_one(struct checks *cs, int index)
{
    if (cs == NULL || index < 0 || index >= cs->n)
        return;
    struct check_run *r = &cs->runs[index];
    loop_timer_disarm(cs->loop, &r->next);
    drop_easy(r);
    abandon_exec(r);
}

void checks_set_active(struct checks *cs, int active)
{
    if (cs == NULL || cs->active == !!active)
        return;
    cs->active = !!active;
    for (int i = 0; i < cs->n; i++) {
        struct check_run *r = &cs->runs[i];
        if (active) {
            if (r->spec.kind != CHECK_NOTIFY)
                loop_timer_arm(cs->loop, &r->next, 0);
            else if (r->live) /* the watchdog runs from the child's start */
                loop_timer_arm(cs->loop, &r->next, cs->watchdog_ms);
        } else {
            loop_timer_disarm(cs->loop, &r->next);
            drop_easy(r);
            abandon_exec(r);
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
        abandon_exec(&cs->runs[i]);
        free(cs->runs[i].url);
        free(cs->runs[i].location);
        free(cs->runs[i].argv);
    }
    if (cs->headers)
        curl.curl_slist_free_all(cs->headers);
    curlloop_free(cs->cl);
    free(cs);
}
