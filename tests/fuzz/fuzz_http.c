/* libFuzzer target: the probe server's answers (report_route, which the
 * request callback calls with the method, path and ?verbose). The input
 * first drives the lifecycle through a sequence of events, so requests meet
 * every state (draining, a stopped child, an exit by a signal...), then
 * names one request. Every answer must be a known status with a body, and
 * /status valid JSON; never a crash or a leak. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"
#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct podvisor_config cfg;
    struct lifecycle lc;
    memset(&cfg, 0, sizeof cfg);
    for (int i = 0; i < OPTIONS_NSIG; i++)
        cfg.rewrite[i] = -1;
    cfg.stop_signal = 15;
    cfg.prestop_delay_ms = 1000;
    cfg.stop_timeout_ms = 1000;
    lifecycle_init(&lc, &cfg);
    if (size < 2)
        return 0;
    size_t nev = data[0] % 24, o = 1;
    int64_t now = 1000;
    for (size_t i = 0; i < nev && o + 3 <= size; i++, o += 3) {
        struct lc_event ev = {.type = (enum lc_event_type)(data[o] % LC_N_EVENTS),
                              .child = data[o + 1] % 2 ? 0 : (int)(data[o + 1] % 5) - 2};
        int arg = data[o + 2];
        ev.pid = arg + 2;
        ev.sig = arg % 70;
        ev.status = arg & 1 ? arg >> 1 : (arg << 7) & 0xff00;
        ev.code = arg;
        ev.left = arg & 1;
        now += arg * 10;
        ev.now_ms = now;
        struct lc_result res;
        lifecycle_step(&lc, &ev, &res);
    }
    /* The rest: METHOD \0 PATH \0 VERBOSE-BYTE (missing parts are empty). */
    char buf[512];
    size_t n = size - o < sizeof buf - 3 ? size - o : sizeof buf - 3;
    memcpy(buf, data + o, n);
    buf[n] = buf[n + 1] = buf[n + 2] = '\0';
    const char *method = buf;
    const char *path = method + strlen(method) + 1;
    int verbose = path[strlen(path) + 1] & 1;
    struct report_answer a;
    struct report_now at = {now + 500, 1790000000000LL};
    report_route(&lc, method, path, verbose, at, &a);
    if (a.body == NULL)
        return 0; /* out of memory: the server closes the connection */
    if (a.status != 200 && a.status != 404 && a.status != 405 && a.status != 503)
        abort();
    if (strcmp(a.content_type, "application/json") == 0) {
        json_error_t err;
        json_t *doc = json_loads(a.body, 0, &err);
        if (doc == NULL)
            abort();
        json_decref(doc);
    }
    free(a.body);
    return 0;
}
