/* webhook: the on-change action webhook:URL. POSTs through libcurl's multi
 * interface driven by the event loop (its sockets are loop watches, its
 * timeouts a loop timer), so a slow or dead endpoint never holds up
 * signals, reaping or probes. A failed POST (no connection, a timeout, a
 * status other than 2xx) is retried with doubling backoff until one
 * succeeds or the next change replaces it. libcurl is loaded on the first
 * POST (see lazylib.h). */
#ifndef PODVISOR_WEBHOOK_H
#define PODVISOR_WEBHOOK_H

#include "loop.h"

struct webhook;

/* Each attempt's outcome: ok, and a short text ("HTTP 200", "HTTP 500,
 * retrying in 2s", a curl error). */
typedef void (*webhook_result_fn)(void *ctx, int ok, const char *result);

/* One POST's time limit, and the retry backoff. */
#define WEBHOOK_TIMEOUT_MS 10000
#define WEBHOOK_RETRY_FIRST_MS 1000
#define WEBHOOK_RETRY_MAX_MS 30000

/** Prepares posts to url; nothing is sent yet. NULL when out of memory. */
struct webhook *webhook_new(const char *url, struct loop *loop, webhook_result_fn on_result,
                            void *ctx);

/** POSTs body (JSON), replacing any post or retry still in progress. */
void webhook_post(struct webhook *wh, const char *body);

void webhook_free(struct webhook *wh);

#endif
