/* webhook: the on-change action webhook:URL. POSTs through libcurl's multi
 * interface driven by the event loop (its sockets are loop watches, its
 * timeouts a loop timer), so a slow or dead endpoint never holds up
 * signals, reaping or probes.
 *
 * Never more than one POST in flight: the app's reload may take long (a
 * large Prometheus config: 12 s), and two reloads at once on the app are
 * worse than a late one. A change that comes meanwhile waits and is posted
 * when the answer comes (only the latest: changes coalesce). A POST that
 * fails before the server had it (no connection, an answer other than
 * 2xx) is retried with doubling backoff until one succeeds or a newer
 * change replaces it; one that times out is not retried (the server may
 * still be working on it): the next change posts again, at once if one
 * waits. So --webhook-timeout is how long one reload may take: past it two
 * reloads may overlap on the app (logged). No proxy, ever
 * (the app is in the pod), and the answer's body is read and dropped.
 * libcurl is loaded on the first POST (see lazylib.h). */
#ifndef PODVISOR_WEBHOOK_H
#define PODVISOR_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

struct webhook;

/* Each attempt's outcome: ok, and a short text ("HTTP 200", "HTTP 500,
 * retrying in 2s", a curl error). */
typedef void (*webhook_result_fn)(void *ctx, int ok, const char *result);

/* The retry backoff (the time limit is --webhook-timeout). */
#define WEBHOOK_RETRY_FIRST_MS 1000
#define WEBHOOK_RETRY_MAX_MS 30000

/** Prepares posts to url; nothing is sent yet. NULL when out of memory. */
/** ca: webhook:https:// verifies the server against this CA file (NULL:
 * the system's). */
struct webhook *webhook_new(const char *url, int64_t timeout_ms, const char *ca, struct loop *loop,
                            webhook_result_fn on_result, void *ctx);

/** POSTs body (JSON) now, or when the POST in flight is answered; a
 * retry still waiting is replaced. */
void webhook_post(struct webhook *wh, const char *body);

/** POSTs a config change: {"event": "config-changed", "hash": HASH,
 * "paths": [the watched paths]}, so the receiver can tell stale from new.
 * Returns 0, or -1 when out of memory (nothing posted). */
int webhook_post_change(struct webhook *wh, const char *hash, char *const *paths, size_t npaths);

void webhook_free(struct webhook *wh);

#endif
