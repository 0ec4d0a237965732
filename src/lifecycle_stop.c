/* lifecycle_stop: the drain (SIGTERM, the prestop delay, the stop signal
 * and timeout), the main child's exit and the clean-up after it: nothing
 * left behind, within a deadline. Part of the lifecycle (lifecycle.h). */
#include "lifecycle_internal.h"
#include "hotpath.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "waitstatus.h"

static void exit_without_child(struct lifecycle *lc, const struct lc_event *ev,
                               struct lc_result *out, int code, const char *why);
static void on_sigterm_restarting(struct lifecycle *lc, const struct lc_event *ev,
                                  struct lc_result *out);

/* The end of the prestop delay: the child gets its stop signal, and the stop
 * timeout starts, after which its whole group is SIGKILLed. */
HOT_PATH void lc_send_stop_signal(struct lifecycle *lc, struct lc_result *out)
{
    int sig = lc->drain_signal ? lc->drain_signal : lc->cfg->stop_signal;
    if (sig <= 0 || !lc_main_alive(lc))
        return; /* --rewrite TERM:0: the child is not told, only killed */
    if (sig < OPTIONS_NSIG)
        lc->forwarded[sig]++;
    lc_act_on(lc, out, LC_ACT_STOP_CHILD, lc->current, sig);
    /* A stopped child would never act on the stop signal. */
    if (lc->children[lc->current].stopped_by)
        lc_act_on(lc, out, LC_ACT_FORWARD, lc->current, SIGCONT);
}

/* The stop step, for a drain and for a restart alike. */
HOT_PATH void lc_stop_main(struct lifecycle *lc, struct lc_result *out)
{
    lc_send_stop_signal(lc, out);
    lc_arm(out, LC_EV_STOP_TIMEOUT, lc->current, lc->cfg->stop_timeout_ms);
    lc_cur(lc)->kill_at_ms = lc->now_ms + lc->cfg->stop_timeout_ms;
}

HOT_PATH void lc_begin_stopping(struct lifecycle *lc, struct lc_result *out, const char *why)
{
    lc_move(lc, out, LC_STOPPING, why);
    lc_stop_main(lc, out);
}

/* The restart that kept readiness up is over (ready, crashed, or
 * podvisor is stopping). */
HOT_PATH void lc_end_keep_ready(struct lifecycle *lc, struct lc_result *out)
{
    if (!lc->restart_keeps_ready)
        return;
    lc->restart_keeps_ready = 0;
    lc_cancel(out, LC_EV_READY_TIMEOUT, 0);
}

HOT_PATH void lc_drain(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out,
                       const char *why)
{
    lc_end_keep_ready(lc, out);
    lc->restart_began_ms = 0;
    /* docs/kubernetes.md: endpoints learn of the deletion seconds after it
     * starts, so readiness fails now and the app keeps serving for the
     * prestop delay while traffic drains away. */
    lc->drain_started_ms = ev->now_ms;
    lc_move(lc, out, LC_DRAINING, why);
    if (lc->cfg->prestop_delay_ms > 0)
        lc_arm_prestop(lc, out, lc->cfg->prestop_delay_ms);
    else
        lc_begin_stopping(lc, out, "no prestop delay");
}

/* Ends podvisor with no main child to wait for: whatever is left (helpers,
 * orphans) goes through the usual clean-up, which a reap pass starts. */
static void exit_without_child(struct lifecycle *lc, const struct lc_event *ev,
                               struct lc_result *out, int code, const char *why)
{
    for (enum lc_slot r = LC_GEN_A; r < LC_MAX_CHILDREN; r++)
        if (r != lc->current && lc->children[r].in_use && lc->children[r].pid > 0)
            lc_act_on(lc, out, LC_ACT_KILL_GROUP, r, SIGKILL);
    lc->exit_code = code;
    lc_end_keep_ready(lc, out);
    if (lc->drain_started_ms >= 0 && lc->drain_ended_ms < 0)
        lc->drain_ended_ms = ev->now_ms;
    lc_move(lc, out, LC_EXITED, why);
    lc->cleanup = LC_CLEANUP_REAPING;
    lc_act(out, (struct lc_action){.type = LC_ACT_REAP});
}

/* SPEC: a SIGTERM during a restart wins: podvisor drains and exits as
 * usual, from wherever the restart got to. */
static void on_sigterm_restarting(struct lifecycle *lc, const struct lc_event *ev,
                                  struct lc_result *out)
{
    lc_end_keep_ready(lc, out);
    int delay_over = lc->stop_after_validate;
    lc->start_after_validate = lc->stop_after_validate = lc->next_ready_waits = 0;
    lc->restart_again = 0;
    lc->queued_hash[0] = '\0';
    lc->drain_started_ms = ev->now_ms;
    switch (lc->state) {
    case LC_RESTART_DELAY:
        /* Readiness is off already; the delay running goes on as the
         * drain's (or is over already: the stop waited for a verdict). */
        lc_move(lc, out, LC_DRAINING, "SIGTERM during a restart");
        if (delay_over)
            lc_begin_stopping(lc, out, "SIGTERM during a restart: the prestop delay is over");
        break;
    case LC_RESTART_STOPPING:
        lc_move(lc, out, LC_STOPPING, "SIGTERM during a restart");
        break;
    case LC_RESTART_OLD_GROUP:
    case LC_RESTART_BACKOFF:
        lc_cancel(out, LC_EV_BACKOFF_ELAPSED, lc->current);
        lc_cancel(out, LC_EV_OLD_GROUP_DEADLINE, lc->current);
        exit_without_child(lc, ev, out,
                           options_remap_exit(lc->cfg, waitstatus_code(lc->last_exit_status)),
                           "SIGTERM while waiting to restart the child");
        break;
    case LC_RESTART_NEXT:
        /* The next generation never served as the current one: it is
         * stopped, and the current one drains as usual. */
        lc_cancel(out, LC_EV_READY_TIMEOUT, 0);
        lc_stop_other(lc, out, LC_ROLE_ROLLED_BACK,
                      "SIGTERM during a start-first restart: stopping the next generation");
        lc_drain(lc, ev, out, "SIGTERM during a restart");
        break;
    default:
        lc_drain(lc, ev, out, "SIGTERM");
        break;
    }
}

HOT_PATH void lc_on_sigterm(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    if (lc->cfg->sidecar) {
        /* A sidecar has nothing to drain: the app container does that. */
        if (lc->state != LC_EXITED)
            exit_without_child(lc, ev, out, 0, "SIGTERM: the sidecar stops");
        return;
    }
    switch (lc->state) {
    case LC_STARTING:
    case LC_RUNNING:
    case LC_READY:
        lc_drain(lc, ev, out, "SIGTERM");
        break;
    case LC_DRAINING:
        lc_cancel_prestop(lc, out);
        lc_begin_stopping(lc, out, "second SIGTERM");
        break;
    case LC_STOPPING:
        /* Asked again: repeat the stop signal; the deadline stays. */
        lc_send_stop_signal(lc, out);
        break;
    case LC_EXITED:
        break;
    default:
        on_sigterm_restarting(lc, ev, out);
        break;
    }
}

/* No process could be made for the main child: podvisor exits 1, after
 * the usual clean-up of what else runs (a --validate, an exec: action). */
void lc_on_spawn_failed(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    memset(&lc->children[lc->current], 0, sizeof lc->children[lc->current]);
    exit_without_child(lc, ev, out, 1, "the child could not be started");
}

void lc_record_exit(struct lifecycle *lc, const struct lc_event *ev)
{
    memset(&lc->children[lc->current], 0, sizeof lc->children[lc->current]);
    lc->has_exited = 1;
    lc->last_exit_status = ev->status;
}

void lc_on_main_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    int exec_error = lc->children[lc->current].exec_error_code;
    lc_record_exit(lc, ev);
    if (lc->drain_started_ms >= 0 && lc->drain_ended_ms < 0)
        lc->drain_ended_ms = ev->now_ms;
    /* A failed exec _exit()s with 127 whatever the cause: its own code
     * (126 or 127) came through the exec-result pipe. */
    lc->exit_code =
        exec_error ? exec_error : options_remap_exit(lc->cfg, waitstatus_code(ev->status));
    lc_cancel_prestop(lc, out);
    lc_cancel(out, LC_EV_STOP_TIMEOUT, lc->current);
    lc_end_keep_ready(lc, out);
    const char *why = "child exited";
    if (exec_error)
        why = "the child could not be executed";
    else if (waitstatus_signal(ev->status))
        why = "child killed by a signal";
    lc_move(lc, out, LC_EXITED, why);
    /* Whether anything is left to clean up, the next LC_EV_REAPED says. */
    lc->cleanup = LC_CLEANUP_REAPING;
}

/* After each reap pass: with the main child gone, what is left of its
 * process tree is stopped (TERM, then KILL), and podvisor exits once it has
 * no child left. Orphans re-parented to podvisor while it kills (the
 * children of a process it just killed) get SIGKILL on the pass that sees
 * them: nothing is waited for blocking, and a deadline bounds the whole. */
void lc_on_reaped(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    if (lc->state != LC_EXITED || lc->cleanup == LC_CLEANUP_DONE || lc->cleanup == LC_CLEANUP_NONE)
        return;
    if (!ev->left) {
        lc_cancel(out, LC_EV_CLEANUP_TERM_ELAPSED, 0);
        lc_cancel(out, LC_EV_CLEANUP_DEADLINE, 0);
        lc->cleanup = LC_CLEANUP_DONE;
        lc_act(out, (struct lc_action){.type = LC_ACT_EXIT, .code = lc->exit_code});
        return;
    }
    if (lc->cleanup == LC_CLEANUP_REAPING) {
        lc->cleanup = LC_CLEANUP_TERM;
        lc_act(out, (struct lc_action){.type = LC_ACT_SIGNAL_REMAINING,
                                       .sig = SIGTERM,
                                       .why = "stopping the processes the child left behind "
                                              "(SIGTERM, then SIGKILL)"});
        /* A generation still within its own stop timeout (an old one
         * draining after a promotion, a rolled-back next one) keeps it:
         * the SIGKILL to everything waits for the latest such deadline. */
        int64_t term_ms = LC_CLEANUP_TERM_MS;
        for (int g = 0; g < LC_MAX_CHILDREN; g++)
            if (lifecycle_is_generation(g) && lc->children[g].in_use &&
                lc->children[g].kill_at_ms - ev->now_ms > term_ms)
                term_ms = lc->children[g].kill_at_ms - ev->now_ms;
        lc_arm(out, LC_EV_CLEANUP_TERM_ELAPSED, 0, term_ms);
    } else if (lc->cleanup == LC_CLEANUP_KILL) {
        lc_act(out, (struct lc_action){.type = LC_ACT_SIGNAL_REMAINING, .sig = SIGKILL});
    }
}

void lc_on_cleanup_term_elapsed(struct lifecycle *lc, struct lc_result *out)
{
    if (lc->cleanup != LC_CLEANUP_TERM)
        return;
    lc->cleanup = LC_CLEANUP_KILL;
    lc_act(out, (struct lc_action){.type = LC_ACT_SIGNAL_REMAINING,
                                   .sig = SIGKILL,
                                   .why = "processes left behind did not exit on SIGTERM: "
                                          "SIGKILL"});
    lc_arm(out, LC_EV_CLEANUP_DEADLINE, 0, LC_CLEANUP_KILL_MS);
}

void lc_on_cleanup_deadline(struct lifecycle *lc, struct lc_result *out)
{
    if (lc->cleanup != LC_CLEANUP_KILL)
        return;
    lc->cleanup = LC_CLEANUP_DONE;
    lc_act(out, (struct lc_action){.type = LC_ACT_EXIT,
                                   .code = lc->exit_code,
                                   .why = "processes left behind were not reaped in time; "
                                          "exiting anyway"});
}

void lc_arm_prestop(struct lifecycle *lc, struct lc_result *out, int64_t ms)
{
    lc_arm(out, LC_EV_PRESTOP_ELAPSED, lc->current, ms);
    lc->prestop_until_ms = lc->now_ms + ms;
    lc->prestop_why = NULL;
}

void lc_cancel_prestop(struct lifecycle *lc, struct lc_result *out)
{
    lc_cancel(out, LC_EV_PRESTOP_ELAPSED, lc->current);
    lc->prestop_until_ms = 0;
    lc->prestop_why = NULL;
}

void lc_on_prestop_elapsed(struct lifecycle *lc, struct lc_result *out)
{
    const char *why = lc->prestop_why ? lc->prestop_why : "prestop delay elapsed";
    lc->prestop_until_ms = 0;
    lc->prestop_why = NULL;
    if (lc->state == LC_DRAINING)
        lc_begin_stopping(lc, out, why);
    else if (lc->state == LC_RESTART_DELAY && lc->children[LC_VALIDATE].in_use)
        lc->stop_after_validate = 1; /* a refusal would cancel the restart */
    else if (lc->state == LC_RESTART_DELAY)
        lc_restart_stop(lc, out);
}

int lifecycle_counts_connections(const struct lifecycle *lc)
{
    return lc->cfg->drain_idle && lc->state == LC_STOPPING && lc_main_alive(lc) &&
           !lc->drain_idle_ended;
}

int lifecycle_drain_connections(const struct lifecycle *lc)
{
    return lc->drain_connections;
}

int lifecycle_watches_endpoints(const struct lifecycle *lc)
{
    return lc->cfg->drain_endpoints && lc->state == LC_DRAINING && lc->prestop_until_ms > 0 &&
           lc->endpoints_verdict < 0;
}

int lifecycle_endpoints_verdict(const struct lifecycle *lc)
{
    return lc->endpoints_verdict;
}

/* --drain-endpoints: the API's verdict moves the prestop wait's end
 * earlier, never later (--prestop-delay stays the bound). Not ready:
 * --drain-settle from now, for the data plane (kube-proxy, ingress, load
 * balancers) to catch up with the slices, which it does seconds later
 * (docs/kubernetes.md). Not being deleted: no endpoint will change, and
 * readiness failed at SIGTERM already. Never before --drain-min. */
void lc_on_endpoints(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    if (!lifecycle_watches_endpoints(lc))
        return;
    lc->endpoints_verdict = ev->code;
    lc->endpoints_at_ms = ev->now_ms;
    const char *why;
    int64_t end = lc->drain_started_ms + lc->cfg->drain_min_ms;
    if (ev->code == LC_ENDPOINTS_NOT_READY) {
        if (ev->now_ms + lc->cfg->drain_settle_ms > end)
            end = ev->now_ms + lc->cfg->drain_settle_ms;
        why = "the endpoints show the pod not ready and --drain-settle passed";
    } else if (ev->code == LC_ENDPOINTS_NOT_DELETING) {
        why = "the pod is not being deleted (no endpoint will change) and --drain-min passed";
    } else {
        return; /* the fixed wait */
    }
    if (end >= lc->prestop_until_ms)
        return;
    if (end <= ev->now_ms) {
        lc_cancel_prestop(lc, out);
        lc_begin_stopping(lc, out, why);
        return;
    }
    lc_arm(out, LC_EV_PRESTOP_ELAPSED, lc->current, end - ev->now_ms);
    lc->prestop_until_ms = end;
    lc->prestop_why = why;
}

/* SIGKILL to a child's whole process group; code 1 says the stop timeout
 * is the reason (the executor's line), else why says it. */
static void kill_group(const struct lifecycle *lc, struct lc_result *out, enum lc_slot slot,
                       int code, const char *why)
{
    lc_act(out, (struct lc_action){.type = LC_ACT_KILL_GROUP,
                                   .child = slot,
                                   .pid = lc->children[slot].pid,
                                   .pgid = lc->children[slot].pgid,
                                   .sig = SIGKILL,
                                   .code = code,
                                   .why = why});
}

/* The log line below says 500ms. */
_Static_assert(LC_DRAIN_IDLE_SETTLE_MS == 500, "lc_on_connections says 500ms");

/* --drain-idle: once the stop signal is out, a count of 0 that holds for
 * the settle ends the drain as the stop timeout would, only sooner. A
 * keep-alive pool or a scraper keeps the count up: the stop timeout still
 * bounds the wait. */
void lc_on_connections(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    lc->drain_connections = ev->code;
    if (!lifecycle_counts_connections(lc))
        return;
    if (ev->code > 0) {
        lc->drain_idle_since_ms = -1;
        return;
    }
    if (lc->drain_idle_since_ms < 0) {
        lc->drain_idle_since_ms = ev->now_ms;
        return;
    }
    if (ev->now_ms - lc->drain_idle_since_ms < LC_DRAIN_IDLE_SETTLE_MS)
        return;
    lc->drain_idle_ended = 1;
    kill_group(lc, out, lc->current, 0,
               "--drain-idle: no connection on the app's ports for 500ms after the stop signal: "
               "the drain is over, SIGKILL to its process group");
}

/* A child's stop timeout: its group is SIGKILLed, code 1 saying the stop
 * timeout is the reason (the executor says so; it never guesses the
 * reason from the state). Each generation has its own. */
void lc_on_stop_timeout(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    const struct lc_child *c = &lc->children[ev->child];
    if (lifecycle_is_generation(ev->child) && ev->child != lc->current && c->in_use && c->pid > 0 &&
        (lc->other_role == LC_ROLE_OLD || lc->other_role == LC_ROLE_ROLLED_BACK))
        /* the old or rolled-back generation outlived its stop timeout */
        kill_group(lc, out, ev->child, 1, NULL);
    else if ((lc->state == LC_STOPPING || lc->state == LC_RESTART_STOPPING) && lc_main_alive(lc) &&
             ev->child == lc->current)
        kill_group(lc, out, lc->current, 1, NULL);
}
