/* waitfor: see waitfor.h. */
#include "waitfor.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checks.h"
#include "loop.h"
#include "parse.h"
#include "tools.h"

/* Each attempt's own limit: long enough for a cold service across the
 * cluster, short enough that a black-holed one is tried again soon. */
#define ATTEMPT_TIMEOUT_MS 5000
/* A still-waiting line this often, so a log shows the init container is
 * alive and what it waits for. */
#define PROGRESS_MS 10000

static const char USAGE[] =
    "usage: podvisor wait-for [--timeout D] [--interval D] [--] TARGET...\n"
    "  TARGET: http://HOST:PORT/PATH, https://..., or tcp://HOST:PORT\n"
    "  waits until every TARGET has answered once (HTTP 200-399, or a TCP connect),\n"
    "  trying each every --interval (1s); --timeout (60s; 0: no limit)\n"
    "  exit 0 when all answered, 1 at the timeout (naming what did not), 2 usage\n";

struct waiting {
    struct loop loop;
    struct checks *checks;
    char *const *targets;
    int n, left;
    int answered[OPTIONS_MAX_CHECKS];
    int tried[OPTIONS_MAX_CHECKS];
    char why[OPTIONS_MAX_CHECKS][160];
    int64_t started_ms;
    struct loop_timer deadline, progress;
    int timed_out;
};

#define usage_error(...) tools_usage_error("wait-for", __VA_ARGS__)

static double since(const struct waiting *w)
{
    return (double)(loop_now_ms() - w->started_ms) / 1000.0;
}

static void on_result(void *ctx, int index, int ok, int64_t took_ms, const char *why)
{
    struct waiting *w = ctx;
    if (w->answered[index])
        return;
    if (ok) {
        w->answered[index] = 1;
        checks_stop_one(w->checks, index);
        printf("podvisor wait-for: %s answers (after %.1fs)\n", w->targets[index], since(w));
        fflush(stdout);
        if (--w->left == 0)
            loop_stop(&w->loop);
        return;
    }
    /* The first failure of each target is worth a line; the rest show in
     * the periodic still-waiting line. */
    if (!w->tried[index])
        printf("podvisor wait-for: %s: not yet (%s)\n", w->targets[index], why);
    fflush(stdout);
    w->tried[index] = 1;
    snprintf(w->why[index], sizeof w->why[index], "%s", why ? why : "failed");
}

static void list_waiting(const struct waiting *w, FILE *f)
{
    const char *sep = "";
    for (int i = 0; i < w->n; i++)
        if (!w->answered[i]) {
            fprintf(f, "%s%s (%s)", sep, w->targets[i], w->why[i][0] ? w->why[i] : "no answer yet");
            sep = ", ";
        }
}

static void on_progress(void *ctx)
{
    struct waiting *w = ctx;
    printf("podvisor wait-for: still waiting after %.0fs for ", since(w));
    list_waiting(w, stdout);
    printf("\n");
    fflush(stdout);
    loop_timer_arm(&w->loop, &w->progress, PROGRESS_MS);
}

static void on_deadline(void *ctx)
{
    struct waiting *w = ctx;
    w->timed_out = 1;
    loop_stop(&w->loop);
}

/* An init container's podvisor may be PID 1, where SIGTERM's default is to
 * be ignored: the kubelet's stop must still end it at once. */
static void on_term(int sig)
{
    _exit(128 + sig);
}

int waitfor_main(int argc, char **argv)
{
    int64_t timeout_ms = 60000, interval_ms = 1000;
    int first = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            first = i + 1;
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (strcmp(a, "--timeout") == 0 || strcmp(a, "--interval") == 0) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", a);
            int64_t *into = strcmp(a, "--timeout") == 0 ? &timeout_ms : &interval_ms;
            const char *why = parse_duration(argv[++i], into);
            if (why == NULL && into == &interval_ms && interval_ms == 0)
                why = "must be more than 0";
            if (why)
                return usage_error("%s: \"%s\" %s", a, argv[i], why);
            continue;
        }
        if (a[0] == '-' && a[1] != '\0')
            return usage_error("unknown option \"%s\"", a);
        first = i;
        break;
    }
    int n = argc - first;
    if (n <= 0)
        return usage_error("no TARGET given");
    if (n > OPTIONS_MAX_CHECKS)
        return usage_error("%d TARGETs given; at most %d", n, OPTIONS_MAX_CHECKS);
    for (int i = first; i < argc; i++) {
        struct check_spec spec;
        const char *why = parse_check(argv[i], &spec);
        if (why == NULL && spec.kind != CHECK_HTTP && spec.kind != CHECK_TCP)
            why = "is not a TARGET (http://, https:// or tcp://HOST:PORT)";
        if (why)
            return usage_error("\"%s\" %s", argv[i], why);
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);

    static struct waiting w; /* static: ~3 KiB of reasons kept off the stack */
    memset(&w, 0, sizeof w);
    w.targets = argv + first;
    w.n = w.left = n;
    w.loop.epfd = w.loop.timer_fd = -1;
    int rc = loop_init(&w.loop);
    if (rc < 0) {
        fprintf(stderr, "podvisor wait-for: setting up the event loop: %s\n", strerror(-rc));
        return 1;
    }
    int64_t attempt = interval_ms > ATTEMPT_TIMEOUT_MS ? interval_ms : ATTEMPT_TIMEOUT_MS;
    if (timeout_ms > 0 && attempt > timeout_ms)
        attempt = timeout_ms;
    struct checks_params p = {.specs = argv + first,
                              .n_ready = n,
                              .interval_ms = interval_ms,
                              .timeout_ms = attempt,
                              .user_agent = "podvisor-wait-for/" PODVISOR_VERSION};
    w.checks = checks_new_list(&p, &w.loop, on_result, &w);
    if (w.checks == NULL) {
        fprintf(stderr, "podvisor wait-for: out of memory\n");
        loop_close(&w.loop);
        return 1;
    }
    w.started_ms = loop_now_ms();
    loop_timer_init(&w.deadline, on_deadline, &w);
    loop_timer_init(&w.progress, on_progress, &w);
    if (timeout_ms > 0)
        loop_timer_arm(&w.loop, &w.deadline, timeout_ms);
    loop_timer_arm(&w.loop, &w.progress, PROGRESS_MS);
    if (timeout_ms > 0)
        printf("podvisor wait-for: waiting for %d target%s (--timeout %.1fs)\n", n,
               n == 1 ? "" : "s", (double)timeout_ms / 1000.0);
    else
        printf("podvisor wait-for: waiting for %d target%s (no --timeout)\n", n, n == 1 ? "" : "s");
    fflush(stdout);
    checks_set_active(w.checks, 1);
    rc = loop_run(&w.loop);
    int code = 0;
    if (rc < 0) {
        fprintf(stderr, "podvisor wait-for: epoll_wait: %s\n", strerror(-rc));
        code = 1;
    } else if (w.left > 0) {
        fprintf(stderr, "podvisor wait-for: timed out after %.1fs; no answer from ", since(&w));
        list_waiting(&w, stderr);
        fprintf(stderr, "\n");
        code = 1;
    } else {
        printf("podvisor wait-for: all %d answered in %.1fs\n", n, since(&w));
    }
    checks_free(w.checks);
    loop_timer_disarm(&w.loop, &w.deadline);
    loop_timer_disarm(&w.loop, &w.progress);
    loop_close(&w.loop);
    return code;
}
