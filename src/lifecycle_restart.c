/* lifecycle_restart: restarts of the main child and its generations:
 * stop-first (delay, stop, old group, start), crash restarts with backoff,
 * start-first (the next generation, promotion, rollback), restarts queued
 * behind one in flight, and successions (MAINPID=, --pid-file). Part of
 * the lifecycle (lifecycle.h). */
#include "lifecycle_internal.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "waitstatus.h"

static void kill_old_group(struct lc_result *out, enum lc_slot slot, pid_t old);
static void begin_restart(struct lifecycle *lc, struct lc_result *out, enum lc_reason reason);
static void begin_start_first(struct lifecycle *lc, struct lc_result *out, enum lc_reason reason);
static void next_becomes_current(struct lifecycle *lc, struct lc_result *out,
                                 enum lc_role old_role);
static void run_queued_restart(struct lifecycle *lc, const struct lc_event *ev,
                               struct lc_result *out);

/* --- restarts ------------------------------------------------------- */

/* What the old child left in its own process group goes with it, so the
 * new one does not find its port taken; nothing else in the pod is
 * touched. The group's id is the old pid (child_spawn made it a leader). */
static void kill_old_group(struct lc_result *out, enum lc_slot slot, pid_t old)
{
    lc_act(out, (struct lc_action){.type = LC_ACT_KILL_OLD_GROUP, .child = slot, .pid = old});
}

/* why: said when the command starts (NULL: nothing worth a warning). */
void lc_start_again_why(struct lifecycle *lc, struct lc_result *out, const char *why)
{
    if (lc->children[LC_VALIDATE].in_use) {
        /* The new child must read what --validate passes or refuses, not
         * content it is still judging: the start waits for its verdict. */
        lc->start_after_validate = 1;
        return;
    }
    lc_move(lc, out, LC_RESTART_STARTING, "starting the command again");
    lc->restarts++;
    lc->restarts_by[lc->restart_reason]++;
    lc->children[lc->current].in_use = 1;
    lc_act(out, (struct lc_action){.type = LC_ACT_SPAWN, .child = lc->current, .why = why});
}

void lc_start_again(struct lifecycle *lc, struct lc_result *out)
{
    lc_start_again_why(lc, out, NULL);
}

void lc_restart_stop(struct lifecycle *lc, struct lc_result *out)
{
    lc->stop_after_validate = 0;
    lc_move(lc, out, LC_RESTART_STOPPING, "prestop delay over");
    lc_stop_main(lc, out);
}

/* A stop-first restart whose stop signal has not gone out, when the files
 * now hold content --validate refused: the child still runs what it had,
 * so it is kept (readiness back) rather than replaced by one that would
 * read the refused content. */
void lc_cancel_restart(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out,
                       const char *why)
{
    lc_cancel_prestop(lc, out);
    lc->stop_after_validate = 0;
    lc->restart_began_ms = 0;
    if (lc->restart_reason == LC_REASON_CONFIG)
        lc_copy_text(lc->config.hash, sizeof lc->config.hash, lc->config.previous_hash);
    lc_move(lc, out, lc_failing_ready_check(lc) ? LC_RUNNING : LC_READY, why);
    lc_act(out, (struct lc_action){.type = LC_ACT_WARN, .why = why});
    if (lc->config.last_action.pending)
        lc_action_result(lc, ev, 0,
                         "restart cancelled: the files hold a change --validate refused");
}

/* The graceful restart: as a lc_drain (readiness off, the prestop delay so
 * endpoints stop sending, the stop signal, the stop timeout), but the
 * command starts again at the end instead of podvisor exiting. */
static void begin_restart(struct lifecycle *lc, struct lc_result *out, enum lc_reason reason)
{
    const char *why = reason == LC_REASON_CONFIG ? "config changed" : "restart requested";
    lc->restart_reason = reason;
    if (lc->restart_began_ms == 0) /* a start-first one falling back keeps its start */
        lc->restart_began_ms = lc->now_ms;
    if (lc->holds_sockets) {
        /* podvisor holds the listening sockets: while no child accepts,
         * connections wait in their backlog instead of being refused, so
         * readiness stays up and the prestop delay (there for endpoints to
         * stop sending) has nothing to wait for. */
        lc->restart_keeps_ready = 1;
        lc_arm(out, LC_EV_READY_TIMEOUT, 0, lc->cfg->ready_timeout_ms);
        lc_move(lc, out, LC_RESTART_STOPPING, why);
        lc_stop_main(lc, out);
        return;
    }
    lc_move(lc, out, LC_RESTART_DELAY, why);
    if (lc->cfg->prestop_delay_ms > 0)
        lc_arm_prestop(lc, out, lc->cfg->prestop_delay_ms);
    else
        lc_restart_stop(lc, out);
}

/* The stopped child is gone: what it left in its process group is
 * killed, and the command starts again once that group is empty, not as
 * soon as the SIGKILL is sent: a worker still freeing 6 GB kept the port,
 * and the new child got EADDRINUSE. Bounded (LC_OLD_GROUP_WAIT_MS). */
void lc_respawn_after_stop(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    pid_t old = lc->children[lc->current].pgid;
    lc_record_exit(lc, ev);
    lc_cancel_prestop(lc, out);
    lc_cancel(out, LC_EV_STOP_TIMEOUT, lc->current);
    kill_old_group(out, lc->current, old);
    lc_move(lc, out, LC_RESTART_OLD_GROUP, "the child exited");
    lc_act(out, (struct lc_action){.type = LC_ACT_AWAIT_GROUP, .child = lc->current, .pid = old});
    lc_arm(out, LC_EV_OLD_GROUP_DEADLINE, lc->current, LC_OLD_GROUP_WAIT_MS);
}

int lc_policy_restarts(const struct lifecycle *lc, int status)
{
    switch (lc->cfg->restart_policy) {
    case RESTART_ALWAYS:
        return 1;
    case RESTART_ON_FAILURE:
        return options_remap_exit(lc->cfg, waitstatus_code(status)) != 0;
    case RESTART_NEVER:
        break;
    }
    return 0;
}

/* The child exited by itself and the policy restarts it: after a backoff
 * that doubles with each crash in a row, reset by a run at least as long
 * as --backoff-max (a child that ran that long was not crash-looping). */
void lc_crash_restart(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    pid_t old = lc->children[lc->current].pgid;
    int64_t ran = ev->now_ms - lc->children[lc->current].started_ms;
    lc_record_exit(lc, ev);
    kill_old_group(out, lc->current, old);
    if (ran >= lc->cfg->backoff_max_ms)
        lc->backoff_ms = 0;
    lc->backoff_ms =
        backoff_next(lc->backoff_ms, lc->cfg->backoff_initial_ms, lc->cfg->backoff_max_ms);
    int64_t delay = lc->backoff_ms;
    lc->restart_reason = LC_REASON_CRASH;
    lc->restart_began_ms = 0; /* measured are graceful restarts */
    lc_end_keep_ready(lc, out);
    lc->backoff_until_ms = ev->now_ms + delay;
    lc_move(lc, out, LC_RESTART_BACKOFF, "child exited; --restart-policy restarts it");
    lc_arm(out, LC_EV_BACKOFF_ELAPSED, lc->current, delay);
}

/* The graceful restart in flight is over: its new generation is ready. */
void lc_restart_done(struct lifecycle *lc)
{
    if (lc->restart_began_ms == 0)
        return;
    lc->last_restart.at_ms = lc->now_ms;
    lc->last_restart.took_ms = lc->now_ms - lc->restart_began_ms;
    lc->last_restart.reason = lc->restart_reason;
    lc->restart_began_ms = 0;
}

/* The other generation (a next one rolled back or cut short, or the old
 * one after a promotion) goes: its stop signal now, SIGKILL to its group
 * after the stop timeout. Its exit is never the app's. */
void lc_stop_other(struct lifecycle *lc, struct lc_result *out, enum lc_role role, const char *why)
{
    enum lc_slot o = lifecycle_other_generation(lc);
    struct lc_child *c = &lc->children[o];
    if (!c->in_use || c->pid <= 0)
        return;
    lc->other_role = role;
    int sig = lc->cfg->stop_signal;
    if (sig > 0) {
        lc_act(out, (struct lc_action){.type = LC_ACT_STOP_CHILD,
                                       .child = o,
                                       .pid = c->pid,
                                       .pgid = c->pgid,
                                       .sig = sig,
                                       .why = why});
        if (c->stopped_by)
            lc_act_on(lc, out, LC_ACT_FORWARD, o, SIGCONT);
    } else {
        lc_act(
            out,
            (struct lc_action){
                .type = LC_ACT_KILL_GROUP, .child = o, .pid = c->pid, .pgid = c->pgid, .why = why});
    }
    lc_arm(out, LC_EV_STOP_TIMEOUT, o, lc->cfg->stop_timeout_ms);
    c->kill_at_ms = lc->now_ms + lc->cfg->stop_timeout_ms;
}

/* A start-first restart: the next generation starts in the other slot
 * beside the current one, which keeps serving (readiness stays up) until
 * the next says it is ready. */
static void begin_start_first(struct lifecycle *lc, struct lc_result *out, enum lc_reason reason)
{
    enum lc_slot o = lifecycle_other_generation(lc);
    lc->restart_reason = reason;
    lc->restart_began_ms = lc->now_ms;
    memset(&lc->children[o], 0, sizeof lc->children[o]);
    lc->children[o].in_use = 1;
    lc->other_role = LC_ROLE_NEXT;
    lc_copy_text(lc->next_hash, sizeof lc->next_hash, lc->config.hash);
    lc_move(lc, out, LC_RESTART_NEXT,
            reason == LC_REASON_CONFIG ? "config changed: starting the next generation"
                                       : "restart requested: starting the next generation");
    lc_act(out, (struct lc_action){.type = LC_ACT_SPAWN, .child = o});
    lc_arm(out, LC_EV_READY_TIMEOUT, 0, lc->cfg->ready_timeout_ms);
}

/* Back to serving with the current generation, after a next one that
 * failed. The content it was given is not tried again until it changes. */
void lc_roll_back(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out,
                  const char *why)
{
    lc->rollbacks++;
    lc->next_ready_waits = 0;
    lc->restart_began_ms = 0;
    lc->last_rollback.at_ms = ev->now_ms;
    lc_copy_text(lc->last_rollback.hash, sizeof lc->last_rollback.hash, lc->next_hash);
    lc_copy_text(lc->last_rollback.why, sizeof lc->last_rollback.why, why);
    if (lc->restart_reason == LC_REASON_CONFIG)
        lc_copy_text(lc->config.hash, sizeof lc->config.hash, lc->config.previous_hash);
    lc_cancel(out, LC_EV_READY_TIMEOUT, 0);
    lc_move(lc, out, lc_failing_ready_check(lc) ? LC_RUNNING : LC_READY, why);
    if (lc->config.last_action.pending) {
        char text[160];
        snprintf(text, sizeof text, "restart rolled back: %.120s", why);
        lc_action_result(lc, ev, 0, text);
    }
    lc_stop_other(lc, out, LC_ROLE_ROLLED_BACK, "rolling back: stopping the next generation");
}

/* A start-first restart ends with the next generation current, whether
 * it was promoted (the one it replaces becomes `old_role`) or took over
 * from a current one that exited (LC_ROLE_NONE): the restart counts then,
 * and the uptime is the new generation's. */
static void next_becomes_current(struct lifecycle *lc, struct lc_result *out, enum lc_role old_role)
{
    lc->current = lifecycle_other_generation(lc);
    lc->other_role = old_role;
    lc_cancel(out, LC_EV_READY_TIMEOUT, 0);
    lc->restarts++;
    lc->restarts_by[lc->restart_reason]++;
    lc->main_started_ms = lc_cur(lc)->started_ms;
}

/* The next generation is ready: it becomes the current one, and the old
 * one gets its stop signal and drains. Readiness never drops. */
void lc_promote(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    lc->next_ready_waits = 0;
    lc_restart_done(lc);
    next_becomes_current(lc, out, LC_ROLE_OLD);
    lc->notify.mainpid = 0;
    lc->ever_ready = lc->ready_since_start = 1;
    /* The READY=1 that promoted it is its notify checks' result: what the
     * old one said meanwhile (RELOADING=1, STOPPING=1) was about itself. */
    for (int i = 0; i < lc->n_checks; i++) {
        struct lc_check *k = &lc->checks[i];
        if (k->immediate && !k->live) {
            k->has_result = k->ok = 1;
            k->consecutive_failures = 0;
            k->error[0] = '\0';
        }
    }
    lc_move(lc, out, lc_failing_ready_check(lc) ? LC_RUNNING : LC_READY,
            "the next generation is ready");
    if (lc->config.last_action.pending) {
        char text[80];
        snprintf(text, sizeof text, "restart: child %d ready (start-first)", (int)lc_cur(lc)->pid);
        lc_action_result(lc, ev, 1, text);
    }
    lc_stop_other(lc, out, LC_ROLE_OLD, "the next generation is ready: stopping the old one");
}

/* The current generation exited while the next one starts: the next one
 * takes over at once (the pod is not ended for a generation on its way
 * out), and is ready when its checks say so. */
void lc_current_exited_during_next(struct lifecycle *lc, const struct lc_event *ev,
                                   struct lc_result *out)
{
    pid_t old = lc_cur(lc)->pgid;
    lc_record_exit(lc, ev);
    kill_old_group(out, lc->current, old);
    next_becomes_current(lc, out, LC_ROLE_NONE);
    lc_move(lc, out, LC_RESTART_STARTING, "the current generation exited; the next takes over");
    lc_act(out, (struct lc_action){.type = LC_ACT_WARN,
                                   .why = "the current generation exited while the next one "
                                          "started: the next one takes over"});
    if (lc_cur(lc)->exec_pending)
        return; /* LC_EV_EXEC_OK goes on from here */
    struct lc_event ok = *ev;
    ok.child = lc->current;
    lc_on_exec_ok(lc, &ok, out);
}

/* The restart merged while one was in flight runs now, but only on what
 * it was queued for: if the files moved on since (to content --validate
 * refused, is judging, or back to what runs), starting a generation now
 * would read that instead; a later verdict acts on its own. */
static void run_queued_restart(struct lifecycle *lc, const struct lc_event *ev,
                               struct lc_result *out)
{
    lc->restart_again = 0;
    const char *want = lc->queued_hash[0] ? lc->queued_hash : lc->config.hash;
    if (strcmp(lc->config.pending, want) != 0) {
        lc->queued_hash[0] = '\0';
        lc_act(out, (struct lc_action){.type = LC_ACT_WARN,
                                       .why = "the restart queued behind the one in flight is "
                                              "dropped: the files no longer hold what it was "
                                              "queued for"});
        if (lc->config.last_action.pending)
            lc_action_result(lc, ev, 0, "restart: dropped, the files moved on");
        return;
    }
    if (lc->queued_hash[0]) {
        lc_copy_text(lc->config.previous_hash, sizeof lc->config.previous_hash, lc->config.hash);
        lc_copy_text(lc->config.hash, sizeof lc->config.hash, lc->queued_hash);
        lc->queued_hash[0] = '\0';
    }
    lc_restart_main(lc, out, lc->queued_reason);
}

/* The other generation is gone (an old one stopped, or a next one that
 * failed): its group goes with it; a restart that waited for the slot
 * runs now. */
void lc_on_other_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    enum lc_slot o = ev->child;
    struct lc_child *c = &lc->children[o];
    pid_t pgid = c->pgid;
    int was_next = lc->other_role == LC_ROLE_NEXT;
    int exec_error = c->exec_error_code;
    memset(c, 0, sizeof *c);
    lc->other_role = LC_ROLE_NONE;
    lc_cancel(out, LC_EV_STOP_TIMEOUT, o);
    kill_old_group(out, o, pgid);
    if (was_next && lc->state == LC_RESTART_NEXT)
        lc_roll_back(lc, ev, out,
                     exec_error ? "the next generation could not be executed"
                                : "the next generation exited before it was ready");
    if (lc->restart_again && (lc->state == LC_READY || lc->state == LC_RUNNING))
        run_queued_restart(lc, ev, out);
}

/* No process could be made for the next generation (or the memory
 * headroom is too small for two): a stop-first restart instead. */
void lc_next_spawn_failed(struct lifecycle *lc, struct lc_result *out, const char *why)
{
    enum lc_slot o = lifecycle_other_generation(lc);
    memset(&lc->children[o], 0, sizeof lc->children[o]);
    lc->other_role = LC_ROLE_NONE;
    lc_cancel(out, LC_EV_READY_TIMEOUT, 0);
    lc_act(out, (struct lc_action){.type = LC_ACT_WARN, .why = why});
    begin_restart(lc, out, lc->restart_reason);
}

/* Whether a start-first restart (or the old generation it left) is
 * still in flight: a new trigger merges into one more restart after it. */
int lc_start_first_busy(const struct lifecycle *lc)
{
    return lc->cfg->restart_mode == RESTART_MODE_START_FIRST &&
           (lc->state == LC_RESTART_NEXT || ((lc->state == LC_READY || lc->state == LC_RUNNING) &&
                                             lc->children[lifecycle_other_generation(lc)].in_use));
}

int lifecycle_restart_queues(const struct lifecycle *lc)
{
    return lc_start_first_busy(lc);
}

/* A graceful restart of the main child (a config change, POST /restart,
 * or a trigger merged while one was in flight). Start-first needs a ready
 * current generation to keep serving; otherwise it is stop-first. */
void lc_queue_restart(struct lifecycle *lc, enum lc_reason reason)
{
    if (!lc->restart_again)
        lc->queued_reason = reason;
    lc->restart_again = 1;
}

void lc_restart_main(struct lifecycle *lc, struct lc_result *out, enum lc_reason reason)
{
    if (lc_start_first_busy(lc)) {
        lc_queue_restart(lc, reason);
        return;
    }
    if (lc->cfg->restart_mode == RESTART_MODE_START_FIRST && lc->state == LC_READY)
        begin_start_first(lc, out, reason);
    else
        begin_restart(lc, out, reason);
}

/* sd_notify MAINPID=: the app daemonized, or hands supervision to another
 * process of its tree; the one podvisor watches, signals and exits with. */
int lifecycle_takes_successor(const struct lifecycle *lc)
{
    return lc_main_alive(lc) && !lc->children[lc->current].exec_pending && lc->state != LC_EXITED &&
           !lifecycle_restarting(lc->state);
}

void lc_on_mainpid(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    struct lc_child *m = &lc->children[lc->current];
    if (!lifecycle_takes_successor(lc) || ev->pid <= 0 || ev->pid == m->pid)
        return;
    m->pid = ev->pid;
    /* Its group, as the supervisor read it: the successor of an app that
     * replaced itself keeps the first one's group (and its workers);
     * never its own pid, which is no group's id. */
    if (ev->pgid > 0)
        m->pgid = ev->pgid;
    lc->notify.mainpid = ev->pid;
    lc->successions++;
    /* Adopted after the stop signal went out (to the one it replaces):
     * it gets its own, within the deadline already running. */
    if (lc->state == LC_STOPPING)
        lc_send_stop_signal(lc, out);
}

/* The timers of a stop-first or crash restart: the backoff over, the old
 * group gone or waited for long enough. */
void lc_on_restart_timer(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    switch (ev->type) {
    case LC_EV_BACKOFF_ELAPSED:
        if (lc->state == LC_RESTART_BACKOFF)
            lc_start_again(lc, out);
        break;
    case LC_EV_OLD_GROUP_GONE:
        if (lc->state == LC_RESTART_OLD_GROUP) {
            lc_cancel(out, LC_EV_OLD_GROUP_DEADLINE, lc->current);
            lc_start_again(lc, out);
        }
        break;
    case LC_EV_OLD_GROUP_DEADLINE:
        if (lc->state == LC_RESTART_OLD_GROUP)
            lc_start_again_why(lc, out,
                               "the old child's process group still has members 5s after its "
                               "SIGKILL: starting the command anyway (it may find its port taken)");
        break;
    default:
        break;
    }
}

/* What decides a start-first restart: the next generation's READY=1 (its
 * promotion, unless a verdict it may depend on is pending), too little
 * memory to start it, or --ready-timeout (its rollback; with --socket,
 * the end of the readiness a stop-first restart kept). */
void lc_on_next_generation_event(struct lifecycle *lc, const struct lc_event *ev,
                                 struct lc_result *out)
{
    enum lc_slot o = lifecycle_other_generation(lc);
    struct lc_child *c = (unsigned)ev->child < LC_MAX_CHILDREN ? &lc->children[ev->child] : NULL;
    switch (ev->type) {
    case LC_EV_NEXT_READY:
        if (lc->state == LC_RESTART_NEXT && c != NULL && ev->child == o && c->in_use &&
            lc->other_role == LC_ROLE_NEXT) {
            c->exec_pending = 0;
            if (lc->children[LC_VALIDATE].in_use)
                lc->next_ready_waits = 1; /* a refusal would roll it back */
            else
                lc_promote(lc, ev, out);
        }
        break;
    case LC_EV_NO_MEMORY:
        if (lc->state == LC_RESTART_NEXT && c != NULL && ev->child == o && c->in_use && c->pid == 0)
            lc_next_spawn_failed(lc, out,
                                 "start-first: the next generation does not fit in the container's "
                                 "memory limit beside the current one: restarting stop-first");
        break;
    case LC_EV_READY_TIMEOUT:
        if (lc->state == LC_RESTART_NEXT) {
            lc_roll_back(lc, ev, out, "the next generation was not ready within --ready-timeout");
        } else if (lc->restart_keeps_ready) {
            lc->restart_keeps_ready = 0;
            lc_act(out, (struct lc_action){.type = LC_ACT_WARN,
                                           .why = "the restarted child is not ready after "
                                                  "--ready-timeout: /readyz fails until it is"});
        }
        break;
    default:
        break;
    }
}
