/* report: what the probe server says, as pure functions of the lifecycle's
 * state and the time: /livez, /readyz (with ?verbose), /startupz texts,
 * /status JSON (jansson) and /metrics (Prometheus text format 0.0.4).
 * No I/O, so cmocka tests check every body directly. */
#ifndef PODVISOR_REPORT_H
#define PODVISOR_REPORT_H

#include <stdint.h>

#include "lifecycle.h"

/* The clocks a report is made at: monotonic (as lifecycle times) and wall
 * (Unix ms, for timestamps people read). */
struct report_now {
    int64_t mono_ms;
    int64_t wall_ms;
};

/** Each returns the HTTP status (200 or 503) and sets *body to a malloc'd
 * text ending in a newline (NULL when out of memory). */
int report_livez(const struct lifecycle *lc, char **body);
int report_readyz(const struct lifecycle *lc, int verbose, struct report_now now, char **body);
int report_startupz(const struct lifecycle *lc, char **body);

/** /status: a malloc'd JSON document, or NULL when out of memory. */
char *report_status(const struct lifecycle *lc, struct report_now now);

/** /metrics: a malloc'd Prometheus text exposition, or NULL. */
char *report_metrics(const struct lifecycle *lc, struct report_now now);

/* One answer of the probe server. */
struct report_answer {
    unsigned status; /* 200, 404, 405 (with Allow: GET, HEAD) or 503 */
    char *body;      /* malloc'd; NULL when out of memory */
    const char *content_type;
};

/** Answers one request: the method (GET and HEAD only), the path (query
 * excluded) and whether ?verbose was given. Pure, like the rest. */
void report_route(const struct lifecycle *lc, const char *method, const char *path, int verbose,
                  struct report_now now, struct report_answer *out);

#endif
