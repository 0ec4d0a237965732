/* endpoints: see endpoints.h. */
#include "endpoints.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "curlloop.h"
#include "log.h"

/* ---- the slice table (pure) ---- */

static struct ep_slice *find_slice(struct ep_slices *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].name, name) == 0)
            return &s->v[i];
    return NULL;
}

static void drop_slice(struct ep_slices *s, struct ep_slice *sl)
{
    size_t i = (size_t)(sl - s->v);
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof s->v[0]);
    s->n--;
}

/* A condition the API left out (null or absent): ready and serving
 * count as true then (the EndpointConditions type says consumers should
 * take an unknown state as ready), terminating as false. */
static int condition(const json_t *conditions, const char *key, int absent)
{
    const json_t *v = json_object_get(conditions, key);
    return json_is_boolean(v) ? json_is_true(v) : absent;
}

int ep_slices_apply(struct ep_slices *s, const char *type, const json_t *slice, const char *pod_uid)
{
    const char *name =
        json_string_value(json_object_get(json_object_get(slice, "metadata"), "name"));
    if (name == NULL || strlen(name) >= sizeof s->v[0].name)
        return -1;
    struct ep_slice *sl = find_slice(s, name);
    int lists = 0, ready = 0, publishes_all = 0;
    if (strcmp(type, "DELETED") != 0) {
        size_t i;
        const json_t *e;
        json_array_foreach(json_object_get(slice, "endpoints"), i, e)
        {
            const char *uid =
                json_string_value(json_object_get(json_object_get(e, "targetRef"), "uid"));
            if (uid == NULL || strcmp(uid, pod_uid) != 0)
                continue;
            const json_t *c = json_object_get(e, "conditions");
            int r = condition(c, "ready", 1);
            lists = 1;
            ready |= r;
            /* The controller makes a terminating endpoint ready only
             * for a Service with publishNotReadyAddresses. */
            publishes_all |= r && condition(c, "terminating", 0);
        }
    }
    if (!lists) {
        if (sl != NULL)
            drop_slice(s, sl);
        return 0;
    }
    if (sl == NULL) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 4;
            struct ep_slice *v = realloc(s->v, cap * sizeof *v);
            if (v == NULL)
                return -1;
            s->v = v;
            s->cap = cap;
        }
        sl = &s->v[s->n++];
        snprintf(sl->name, sizeof sl->name, "%s", name);
    }
    sl->ready = ready;
    sl->publishes_all = publishes_all;
    s->ever_listed = 1;
    return 0;
}

enum ep_judgement ep_slices_judge(const struct ep_slices *s)
{
    if (!s->ever_listed)
        return EP_NONE_LISTS;
    size_t counted = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].publishes_all)
            continue;
        if (s->v[i].ready)
            return EP_WAIT;
        counted++;
    }
    return counted == 0 && s->n > 0 ? EP_ONLY_PUBLISHING : EP_NOT_READY;
}

void ep_slices_clear(struct ep_slices *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* ---- talking to the API ---- */

enum ep_phase { EP_GET_POD = 0, EP_LIST, EP_WATCH };

/* Most times a watch may close or fail, or the list go stale (410), in a
 * row before the API counts as not answering. */
#define EP_MAX_RETRIES 5
/* A watch event is one line: a slice of a big Service can be large, but
 * not this large. */
#define EP_MAX_LINE (16u << 20)

struct endpoints {
    struct loop *loop;
    struct curlloop *cl;
    endpoints_verdict_fn fn;
    void *ctx;
    char sa_dir[256];
    char base[300];      /* https://HOST:PORT */
    char pod_path[600];  /* /api/v1/namespaces/NS/pods/NAME */
    char list_path[400]; /* /apis/discovery.k8s.io/v1/namespaces/NS/endpointslices */
    char pod_uid[128];
    char rv[128]; /* the resourceVersion to watch from */
    enum ep_phase phase;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    size_t len, cap;
    int auth_retried; /* a 401 was retried with the token read again */
    int retries;      /* closes, failures, relists in a row */
    int events;       /* watch events taken since the watch (re)started */
    int relist;       /* the stream said 410 Gone: list again */
    int located;      /* base and paths are known */
    int said;         /* the verdict is decided */
    enum lc_endpoints verdict;
    char why[512];
    struct ep_slices slices;
    struct loop_timer kick; /* the next request */
    struct loop_timer say;  /* the verdict, told from a turn of its own: never from
                             * inside libcurl, as the listener may free us */
    char errbuf[CURL_ERROR_SIZE];
};

static void start_request(struct endpoints *ep);

static void verdict(struct endpoints *ep, enum lc_endpoints v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void verdict(struct endpoints *ep, enum lc_endpoints v, const char *fmt, ...)
{
    if (ep->said)
        return;
    ep->said = 1;
    ep->verdict = v;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ep->why, sizeof ep->why, fmt, ap);
    va_end(ap);
    loop_timer_disarm(ep->loop, &ep->kick);
    loop_timer_arm(ep->loop, &ep->say, 0);
}

static void on_say(void *ctx)
{
    struct endpoints *ep = ctx;
    ep->fn(ep->ctx, ep->verdict, ep->why);
}

static int read_small_file(const char *dir, const char *name, char *buf, size_t len)
{
    char path[320];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -errno;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    return n > 0 ? 0 : -ENODATA;
}

int endpoints_missing(const char *sa_dir, char *buf, size_t len)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    char path[320];
    if (host == NULL || *host == '\0' || port == NULL || *port == '\0') {
        snprintf(buf, len,
                 "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set "
                 "(not in a Kubernetes pod?)");
        return 1;
    }
    const char *files[] = {"token", "ca.crt"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", sa_dir, files[i]);
        if (access(path, R_OK) < 0) {
            snprintf(buf, len, "%s: %s (automountServiceAccountToken: false?)", path,
                     strerror(errno));
            return 1;
        }
    }
    if (getenv("POD_NAMESPACE") == NULL) {
        snprintf(path, sizeof path, "%s/namespace", sa_dir);
        if (access(path, R_OK) < 0) {
            snprintf(buf, len, "POD_NAMESPACE is not set and %s: %s", path, strerror(errno));
            return 1;
        }
    }
    return 0;
}

/* The request paths, from the environment and the service account. */
static int locate(struct endpoints *ep, char *why, size_t len)
{
    if (endpoints_missing(ep->sa_dir, why, len))
        return -1;
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    snprintf(ep->base, sizeof ep->base, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
             host, port);
    char ns[254], name[254];
    const char *v = getenv("POD_NAMESPACE");
    if (v != NULL && *v != '\0')
        snprintf(ns, sizeof ns, "%s", v);
    else if (read_small_file(ep->sa_dir, "namespace", ns, sizeof ns) < 0) {
        snprintf(why, len, "the pod's namespace: neither POD_NAMESPACE nor %s/namespace",
                 ep->sa_dir);
        return -1;
    }
    v = getenv("POD_NAME");
    if (v != NULL && *v != '\0')
        snprintf(name, sizeof name, "%s", v);
    else if (gethostname(name, sizeof name) < 0) {
        snprintf(why, len, "the pod's name: POD_NAME is not set and the hostname: %s",
                 strerror(errno));
        return -1;
    }
    name[sizeof name - 1] = '\0';
    /* Names and namespaces are DNS labels and subdomains: nothing to
     * escape, and anything else is not a pod's. */
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.') {
            snprintf(why, len, "\"%s\" is not a pod name (set POD_NAME from the downward API)",
                     name);
            return -1;
        }
    for (const char *p = ns; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-') {
            snprintf(why, len, "\"%s\" is not a namespace", ns);
            return -1;
        }
    snprintf(ep->pod_path, sizeof ep->pod_path, "/api/v1/namespaces/%s/pods/%s", ns, name);
    snprintf(ep->list_path, sizeof ep->list_path,
             "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices", ns);
    v = getenv("POD_UID");
    if (v != NULL)
        snprintf(ep->pod_uid, sizeof ep->pod_uid, "%s", v);
    return 0;
}

static void drop_easy(struct endpoints *ep)
{
    if (ep->easy != NULL) {
        curlloop_remove(ep->cl, ep->easy);
        curl.curl_easy_cleanup(ep->easy);
        ep->easy = NULL;
    }
    curl.curl_slist_free_all(ep->headers);
    ep->headers = NULL;
    ep->len = 0;
}

/* One event of the watch: the slices move, a bookmark moves the
 * resourceVersion, a 410 Gone asks for a new list. */
static void take_event(struct endpoints *ep, const char *line, size_t n)
{
    json_error_t jerr;
    json_t *ev = json_loadb(line, n, 0, &jerr);
    if (ev == NULL) {
        log_debug("--drain-endpoints: a watch line that is not JSON: %s", jerr.text);
        return;
    }
    ep->events++;
    const char *type = json_string_value(json_object_get(ev, "type"));
    const json_t *obj = json_object_get(ev, "object");
    const char *rv =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    if (type == NULL) {
        /* not an event */
    } else if (strcmp(type, "ERROR") == 0) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        if (code == 410)
            ep->relist = 1;
        else
            verdict(ep, LC_ENDPOINTS_UNKNOWN,
                    "the watch of EndpointSlices ended with an error "
                    "(%lld %s)",
                    (long long)code, json_string_value(json_object_get(obj, "message")) ?: "");
    } else {
        if (strcmp(type, "BOOKMARK") != 0 &&
            ep_slices_apply(&ep->slices, type, obj, ep->pod_uid) < 0)
            log_debug("--drain-endpoints: a %s event that is not an EndpointSlice", type);
        if (rv != NULL)
            snprintf(ep->rv, sizeof ep->rv, "%s", rv);
    }
    json_decref(ev);
}

static int judge(struct endpoints *ep)
{
    switch (ep_slices_judge(&ep->slices)) {
    case EP_WAIT:
        return 0;
    case EP_NOT_READY:
        verdict(ep, LC_ENDPOINTS_NOT_READY,
                "every EndpointSlice listing the pod shows it not "
                "ready");
        return 1;
    case EP_NONE_LISTS:
        verdict(ep, LC_ENDPOINTS_UNKNOWN,
                "no EndpointSlice in the namespace lists the pod "
                "(uid %s)",
                ep->pod_uid);
        return 1;
    case EP_ONLY_PUBLISHING:
        verdict(ep, LC_ENDPOINTS_UNKNOWN,
                "every Service of the pod publishes not-ready addresses (its EndpointSlices "
                "keep the pod ready by design)");
        return 1;
    }
    return 1;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    struct endpoints *ep = ctx;
    size_t add = size * n;
    if (ep->said)
        return 0; /* ends the transfer */
    if (ep->len + add + 1 > ep->cap) {
        size_t cap = ep->cap ? ep->cap : 16384;
        while (cap < ep->len + add + 1)
            cap *= 2;
        char *b = cap > EP_MAX_LINE + 1 ? NULL : realloc(ep->body, cap);
        if (b == NULL)
            return 0;
        ep->body = b;
        ep->cap = cap;
    }
    memcpy(ep->body + ep->len, data, add);
    ep->len += add;
    ep->body[ep->len] = '\0';
    if (ep->phase != EP_WATCH)
        return add;
    char *nl, *start = ep->body;
    while ((nl = memchr(start, '\n', ep->len - (size_t)(start - ep->body))) != NULL) {
        take_event(ep, start, (size_t)(nl - start));
        start = nl + 1;
        if (ep->said || ep->relist)
            return 0;
        if (judge(ep))
            return 0;
    }
    ep->len -= (size_t)(start - ep->body);
    memmove(ep->body, start, ep->len);
    return add;
}

static void on_pod(struct endpoints *ep, json_t *pod)
{
    const json_t *meta = json_object_get(pod, "metadata");
    const char *uid = json_string_value(json_object_get(meta, "uid"));
    if (ep->pod_uid[0] != '\0' && uid != NULL && strcmp(uid, ep->pod_uid) != 0) {
        /* A new pod took the name (a StatefulSet's): ours is gone. */
    } else if (json_object_get(meta, "deletionTimestamp") == NULL ||
               json_is_null(json_object_get(meta, "deletionTimestamp"))) {
        verdict(ep, LC_ENDPOINTS_NOT_DELETING,
                "the pod has no deletionTimestamp: the kubelet stops the container on its own "
                "(liveness, eviction, node shutdown) and no endpoint will change");
        return;
    } else if (ep->pod_uid[0] == '\0' && uid != NULL) {
        snprintf(ep->pod_uid, sizeof ep->pod_uid, "%s", uid);
    }
    if (ep->pod_uid[0] == '\0') {
        verdict(ep, LC_ENDPOINTS_UNKNOWN, "the pod object has no metadata.uid");
        return;
    }
    ep->phase = EP_LIST;
    start_request(ep);
}

static void on_list(struct endpoints *ep, json_t *list)
{
    ep_slices_clear(&ep->slices);
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(list, "items"), i, item)
        ep_slices_apply(&ep->slices, "ADDED", item, ep->pod_uid);
    const char *rv =
        json_string_value(json_object_get(json_object_get(list, "metadata"), "resourceVersion"));
    snprintf(ep->rv, sizeof ep->rv, "%s", rv ? rv : "");
    if (judge(ep))
        return;
    ep->phase = EP_WATCH;
    start_request(ep);
}

/* A request that may be made again: a 401 once (with the token as it is
 * now), a closed watch or a failure a few times in a row. */
static int again(struct endpoints *ep, const char *what)
{
    if (++ep->retries > EP_MAX_RETRIES) {
        verdict(ep, LC_ENDPOINTS_UNKNOWN, "%s, %d times in a row", what, EP_MAX_RETRIES + 1);
        return 0;
    }
    log_debug("--drain-endpoints: %s; asking again", what);
    loop_timer_arm(ep->loop, &ep->kick, 100);
    return 1;
}

static void on_done(void *ctx, CURL *easy, CURLcode rc)
{
    struct endpoints *ep = ctx;
    if (easy != ep->easy)
        return;
    long status = 0;
    curl.curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    char err[CURL_ERROR_SIZE + 64];
    snprintf(err, sizeof err, "%s", ep->errbuf[0] ? ep->errbuf : curl.curl_easy_strerror(rc));
    enum ep_phase phase = ep->phase;
    const char *what = phase == EP_GET_POD ? "GET of the pod"
                       : phase == EP_LIST  ? "LIST of EndpointSlices"
                                           : "watch of EndpointSlices";
    json_t *doc = NULL;
    if (rc == CURLE_OK && status == 200 && phase != EP_WATCH) {
        json_error_t jerr;
        doc = json_loadb(ep->body ? ep->body : "", ep->len, 0, &jerr);
        if (doc == NULL)
            snprintf(err, sizeof err, "the answer is not JSON: %s", jerr.text);
    }
    drop_easy(ep);
    if (ep->said)
        goto out;
    if (ep->relist) {
        ep->relist = 0;
        ep->phase = EP_LIST;
        again(ep, "the watch said 410 Gone (its resourceVersion is too old): listing again");
        goto out;
    }
    if (status == 401 && !ep->auth_retried) {
        ep->auth_retried = 1; /* the token may have been rotated meanwhile */
        loop_timer_arm(ep->loop, &ep->kick, 0);
        goto out;
    }
    if (status == 401 || status == 403) {
        verdict(ep, LC_ENDPOINTS_UNKNOWN,
                "the API refused the %s (HTTP %ld): the service account needs get on pods and "
                "list and watch on endpointslices.discovery.k8s.io (the chart's "
                "drainEndpoints.enabled makes the Role)",
                what, status);
        goto out;
    }
    if (phase == EP_WATCH && status == 410) {
        ep->phase = EP_LIST;
        again(ep, "the watch said 410 Gone (its resourceVersion is too old): listing again");
        goto out;
    }
    if (phase == EP_GET_POD && status == 404 && ep->pod_uid[0] != '\0') {
        ep->phase = EP_LIST; /* the pod object is gone already: its slices may remain */
        start_request(ep);
        goto out;
    }
    if (rc != CURLE_OK && !(phase == EP_WATCH && rc == CURLE_WRITE_ERROR)) {
        if (phase != EP_WATCH || !again(ep, err))
            verdict(ep, LC_ENDPOINTS_UNKNOWN, "the %s at %s: %s", what, ep->base, err);
        goto out;
    }
    if (status != 200) {
        verdict(ep, LC_ENDPOINTS_UNKNOWN, "the %s at %s answered HTTP %ld", what, ep->base, status);
        goto out;
    }
    if (phase == EP_WATCH) {
        /* The stream closed (the server's timeout, a restart): watch
         * again from the last resourceVersion. */
        if (ep->events > 0)
            ep->retries = 0;
        again(ep, "the watch of EndpointSlices closed");
        goto out;
    }
    if (doc == NULL) {
        verdict(ep, LC_ENDPOINTS_UNKNOWN, "the %s at %s: %s", what, ep->base, err);
        goto out;
    }
    ep->auth_retried = 0;
    if (phase == EP_GET_POD)
        on_pod(ep, doc);
    else
        on_list(ep, doc);
out:
    json_decref(doc);
}

static void start_request(struct endpoints *ep)
{
    char err[256], token[8192], url[1200], auth[8300];
    int rc = read_small_file(ep->sa_dir, "token", token, sizeof token);
    if (rc < 0) {
        verdict(ep, LC_ENDPOINTS_UNKNOWN, "the service account token %s/token: %s", ep->sa_dir,
                strerror(-rc));
        return;
    }
    if (ep->cl == NULL && (ep->cl = curlloop_new(ep->loop, on_done, ep, err, sizeof err)) == NULL) {
        verdict(ep, LC_ENDPOINTS_UNKNOWN, "%s", err);
        return;
    }
    switch (ep->phase) {
    case EP_GET_POD:
        snprintf(url, sizeof url, "%s%s", ep->base, ep->pod_path);
        break;
    case EP_LIST:
        snprintf(url, sizeof url, "%s%s", ep->base, ep->list_path);
        break;
    case EP_WATCH:
        snprintf(url, sizeof url, "%s%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s",
                 ep->base, ep->list_path, ep->rv);
        ep->events = 0;
        break;
    }
    CURL *e = curl.curl_easy_init();
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *h = e ? curl.curl_slist_append(NULL, auth) : NULL;
    struct curl_slist *h2 = h ? curl.curl_slist_append(h, "Accept: application/json") : NULL;
    explicit_bzero(auth, sizeof auth);
    explicit_bzero(token, sizeof token);
    if (e == NULL || h2 == NULL) {
        curl.curl_slist_free_all(h);
        if (e)
            curl.curl_easy_cleanup(e);
        verdict(ep, LC_ENDPOINTS_UNKNOWN, "libcurl: out of memory");
        return;
    }
    ep->headers = h2;
    ep->errbuf[0] = '\0';
    ep->len = 0;
    char ca[320];
    snprintf(ca, sizeof ca, "%s/ca.crt", ep->sa_dir);
    curl.curl_easy_setopt(e, CURLOPT_URL, url);
    curl.curl_easy_setopt(e, CURLOPT_HTTPHEADER, ep->headers);
    curl.curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    curl.curl_easy_setopt(e, CURLOPT_PROXY, ""); /* the API Service is the cluster's own */
    curl.curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl.curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ep->errbuf);
    curl.curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    curl.curl_easy_setopt(e, CURLOPT_USERAGENT, "podvisor/" PODVISOR_VERSION);
    curl.curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl.curl_easy_setopt(e, CURLOPT_WRITEDATA, ep);
    curl.curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)ENDPOINTS_ANSWER_MS);
    if (ep->phase != EP_WATCH)
        curl.curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ENDPOINTS_ANSWER_MS);
    ep->easy = e;
    if (curlloop_add(ep->cl, e) < 0) {
        drop_easy(ep);
        verdict(ep, LC_ENDPOINTS_UNKNOWN, "libcurl: cannot start the request");
    }
}

/* The first turn finds where the API is and who the pod is. */
static void on_kick(void *ctx)
{
    struct endpoints *ep = ctx;
    if (ep->said || ep->easy != NULL)
        return;
    if (!ep->located) {
        char why[400];
        if (locate(ep, why, sizeof why) < 0) {
            verdict(ep, LC_ENDPOINTS_UNKNOWN, "%s", why);
            return;
        }
        ep->located = 1;
    }
    start_request(ep);
}

struct endpoints *endpoints_start(struct loop *loop, const char *sa_dir, endpoints_verdict_fn fn,
                                  void *ctx)
{
    struct endpoints *ep = calloc(1, sizeof *ep);
    if (ep == NULL)
        return NULL;
    ep->loop = loop;
    ep->fn = fn;
    ep->ctx = ctx;
    snprintf(ep->sa_dir, sizeof ep->sa_dir, "%s", sa_dir);
    loop_timer_init(&ep->kick, on_kick, ep);
    loop_timer_init(&ep->say, on_say, ep);
    if (loop_timer_arm(loop, &ep->kick, 0) < 0) {
        free(ep);
        return NULL;
    }
    return ep;
}

void endpoints_free(struct endpoints *ep)
{
    if (ep == NULL)
        return;
    loop_timer_disarm(ep->loop, &ep->kick);
    loop_timer_disarm(ep->loop, &ep->say);
    if (ep->cl != NULL) {
        drop_easy(ep);
        curlloop_free(ep->cl);
    }
    ep_slices_clear(&ep->slices);
    free(ep->body);
    free(ep);
}
