/* checks: runs the --ready-check and --live-check probes of the main child
 * from the event loop and reports each result; the lifecycle decides what
 * they mean (readiness, liveness). HTTP and TCP go through libcurl's multi
 * interface (its sockets are loop watches, its timeouts a loop timer; a TCP
 * check is a connect-only request), so a hanging app delays neither probes
 * nor signals; a file check is one stat(). Checks run every
 * --check-interval while active, each bounded by --check-timeout. */
#ifndef PODVISOR_CHECKS_H
#define PODVISOR_CHECKS_H

#include "loop.h"
#include "options.h"

struct checks;

/* index: the check's place in the lifecycle (ready checks, then live
 * checks, in the order given); ok; how long it took; why it failed. */
typedef void (*checks_result_fn)(void *ctx, int index, int ok, int64_t took_ms,
                                 const char *why);

/** NULL when out of memory. Nothing runs until checks_set_active(1). */
struct checks *checks_new(const struct podvisor_config *cfg, struct loop *loop,
                          checks_result_fn on_result, void *ctx);

/** Starts every check at once (when active becomes 1), or stops them and
 * drops what is in flight (0). Results come from the loop, never from
 * inside this call. */
void checks_set_active(struct checks *cs, int active);

void checks_free(struct checks *cs);

#endif
