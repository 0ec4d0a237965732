/* checks: runs the --ready-check and --live-check probes of the main child
 * from the event loop and reports each result; the lifecycle decides what
 * they mean (readiness, liveness). HTTP and TCP go through libcurl's multi
 * interface (its sockets are loop watches, its timeouts a loop timer; a TCP
 * check is a connect-only request), so a hanging app delays neither probes
 * nor signals; a file check is one stat(); an exec check is a child of
 * podvisor (its own process group, killed whole at the timeout, reaped by
 * the supervisor's waitpid like any other); a notify check is told by the
 * sd_notify socket instead of run. Checks run every --check-interval while
 * active, each bounded by --check-timeout. */
#ifndef PODVISOR_CHECKS_H
#define PODVISOR_CHECKS_H

#include <sys/types.h>

#include "loop.h"
#include "notify.h"
#include "options.h"

struct checks;

/* index: the check's place in the lifecycle (ready checks, then live
 * checks, in the order given); ok; how long it took; why it failed (or,
 * when it passed, a warning worth showing, or NULL). HTTP checks follow
 * the kubelet: 200-399 passes; redirects are followed to the same host
 * only, at most 10. */
typedef void (*checks_result_fn)(void *ctx, int index, int ok, int64_t took_ms, const char *why);

/** NULL when out of memory. Nothing runs until checks_set_active(1). */
struct checks *checks_new(const struct podvisor_config *cfg, struct loop *loop,
                          checks_result_fn on_result, void *ctx);

/* Checks without a config: `podvisor probe` and `wait-for`. specs[0..
 * n_ready) are ready checks, the next n_live live ones, each valid for
 * parse_check (at most OPTIONS_MAX_CHECKS in all). */
struct checks_params {
    char *const *specs;
    int n_ready, n_live;
    int64_t interval_ms, timeout_ms, watchdog_ms;
    char *const *headers; /* extra HTTP request headers, "Name: value" */
    int n_headers;
    int verify_tls;         /* check https certificates (the kubelet does not) */
    const char *user_agent; /* NULL: podvisor-check/VERSION */
};
/** NULL when out of memory (or, with headers, when libcurl cannot be
 * loaded). */
struct checks *checks_new_list(const struct checks_params *p, struct loop *loop,
                               checks_result_fn on_result, void *ctx);

/** Stops one check for good (wait-for: that target answered). */
void checks_stop_one(struct checks *cs, int index);

/** Starts every check at once (when active becomes 1), or stops them and
 * drops what is in flight (0). Results come from the loop, never from
 * inside this call. */
void checks_set_active(struct checks *cs, int active);

/** exec checks are children of podvisor, reaped by its one waitpid loop:
 * returns 1 when pid was one of them (its result is then reported), 0
 * when it is not a check's. */
int checks_reaped(struct checks *cs, pid_t pid, int status);

/** Whether pid is a running exec check's process, or of its tree: never
 * a successor of the app (a pid file naming one is refused). */
int checks_owns(const struct checks *cs, pid_t pid);

/** An sd_notify message from the child's tree: READY=1, RELOADING=1 and
 * STOPPING=1 are results of a notify ready check; WATCHDOG=1 pushes the
 * notify live check's deadline (--watchdog) out again. Ignored while the
 * checks are not active. */
void checks_notify(struct checks *cs, const struct notify_msg *m);

void checks_free(struct checks *cs);

#endif
