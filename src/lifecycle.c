/* lifecycle: see lifecycle.h. */
#include "lifecycle.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "waitstatus.h"

static const char *const state_names[LC_N_STATES] = {
    "starting",
    "running",
    "ready",
    "draining",
    "stopping",
    "exited",
    "restarting/delay",
    "restarting/stopping",
    "restarting/old-group",
    "restarting/backoff",
    "restarting/starting",
    "restarting/next",
};
static const char *const reason_names[LC_N_REASONS] = {"config", "crash", "admin"};

int lifecycle_restarting(enum lc_state s)
{
    return s >= LC_RESTART_DELAY && s < LC_N_STATES;
}

int lifecycle_public_state(enum lc_state s)
{
    return lifecycle_restarting(s) ? LC_RESTART_DELAY : (int)s;
}

const char *lifecycle_state_name(enum lc_state s)
{
    return lifecycle_restarting(s) ? "restarting" : lifecycle_state_detail(s);
}

const char *lifecycle_state_detail(enum lc_state s)
{
    return (unsigned)s < LC_N_STATES ? state_names[s] : "unknown";
}

const char *lifecycle_reason_name(enum lc_reason r)
{
    return (unsigned)r < LC_N_REASONS ? reason_names[r] : "unknown";
}

const char *lifecycle_role_name(enum lc_role r)
{
    static const char *const names[] = {"",         "main",   "next",       "old",
                                        "validate", "action", "rolled-back"};
    return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "unknown";
}

int lifecycle_is_generation(enum lc_slot slot)
{
    return slot == LC_GEN_A || slot == LC_GEN_B;
}

enum lc_slot lifecycle_other_generation(const struct lifecycle *lc)
{
    return lc->current == LC_GEN_A ? LC_GEN_B : LC_GEN_A;
}

enum lc_role lifecycle_slot_role(const struct lifecycle *lc, enum lc_slot slot)
{
    if (slot < 0 || slot >= LC_MAX_CHILDREN || !lc->children[slot].in_use)
        return LC_ROLE_NONE;
    if (slot == LC_VALIDATE)
        return LC_ROLE_VALIDATE;
    if (slot == LC_ACTION)
        return LC_ROLE_ACTION;
    return slot == lc->current ? LC_ROLE_MAIN : (enum lc_role)lc->other_role;
}

/* Appends " name" or " name:value" (value NULL: none). */
static size_t flag(char *buf, size_t len, size_t o, const char *name, const char *value)
{
    if (o >= len)
        return o;
    int n = snprintf(buf + o, len - o, "%s%s%s%s", o ? " " : "", name, value ? ":" : "",
                     value ? value : "");
    return o + (n > 0 ? (size_t)n : 0);
}

const char *lifecycle_flags(const struct lifecycle *lc, char *buf, size_t len)
{
    static const char *const cleanups[] = {"", "reaping", "term", "kill", "done"};
    const struct lc_config *cf = &lc->config;
    enum lc_slot o_slot = lifecycle_other_generation(lc);
    char sig[16];
    size_t o = 0;
    buf[0] = '\0';
    if (lc->cfg->sidecar)
        o = flag(buf, len, o, "sidecar", NULL);
    if (lc->children[lc->current].in_use && lc->children[lc->current].exec_pending)
        o = flag(buf, len, o, "exec-pending", NULL);
    if (lc->children[lc->current].stopped_by)
        o = flag(buf, len, o, "stopped",
                 signal_name(lc->children[lc->current].stopped_by, sig, sizeof sig));
    if (lc->children[o_slot].in_use)
        o = flag(buf, len, o, "other", lifecycle_role_name(lc->other_role));
    if (lc->notify.mainpid)
        o = flag(buf, len, o, "successor", NULL);
    if (lc->children[LC_VALIDATE].in_use)
        o = flag(buf, len, o, "validating", cf->validating);
    if (cf->validate_again)
        o = flag(buf, len, o, "validate-again", NULL);
    if (lc->children[LC_ACTION].in_use)
        o = flag(buf, len, o, "action", NULL);
    if (cf->action_again)
        o = flag(buf, len, o, "action-again", NULL);
    if (strcmp(cf->pending, cf->hash) != 0)
        o = flag(buf, len, o, "files", cf->pending);
    if (lc->restart_again)
        o = flag(buf, len, o, "queued", lifecycle_reason_name(lc->queued_reason));
    if (lc->queued_hash[0])
        o = flag(buf, len, o, "queued-content", lc->queued_hash);
    if (lc->start_after_validate)
        o = flag(buf, len, o, "start-after-verdict", NULL);
    if (lc->stop_after_validate)
        o = flag(buf, len, o, "stop-after-verdict", NULL);
    if (lc->next_ready_waits)
        o = flag(buf, len, o, "ready-waits-verdict", NULL);
    if (lc->restart_keeps_ready)
        o = flag(buf, len, o, "keep-ready", NULL);
    if (lc->admin_drained)
        o = flag(buf, len, o, "drained", NULL);
    if (lc->drain_signal)
        o = flag(buf, len, o, "drain-signal", signal_name(lc->drain_signal, sig, sizeof sig));
    if (lc->last_rollback.at_ms)
        o = flag(buf, len, o, "rolled-back", lc->last_rollback.hash);
    if (cf->last_refused.at_ms)
        o = flag(buf, len, o, "refused", cf->last_refused.hash);
    if (lc->cleanup != LC_CLEANUP_NONE && (unsigned)lc->cleanup < 5)
        o = flag(buf, len, o, "cleanup", cleanups[lc->cleanup]);
    return buf;
}

/* Copies an event's text (which lives only as long as the step). */
static void copy_text(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

void lifecycle_init(struct lifecycle *lc, const struct podvisor_config *cfg)
{
    memset(lc, 0, sizeof *lc);
    lc->cfg = cfg;
    lc->state = LC_STARTING;
    lc->current = LC_GEN_A;
    lc->drain_started_ms = -1;
    lc->drain_ended_ms = -1;
    lc->holds_sockets = cfg->socket.n > 0;
    const struct strlist *lists[2] = {&cfg->ready_check, &cfg->live_check};
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < lists[l]->n && lc->n_checks < LC_MAX_CHECKS; i++) {
            lc->checks[lc->n_checks].name = lists[l]->v[i];
            lc->checks[lc->n_checks].immediate = strcmp(lists[l]->v[i], "notify") == 0;
            lc->checks[lc->n_checks++].live = l;
            lc->n_ready_checks += !l;
        }
}

/* A state the lifecycle's own rules say cannot happen. PID 1 must not
 * abort on it (that ends the pod): it is recorded with the state, the
 * supervisor logs it, and the step goes on to the safe side. The explorer
 * (tests/unit/test_explore.c) fails on any. */
static void fault(struct lifecycle *lc, const char *what)
{
    char flags[200];
    lc->faults++;
    snprintf(lc->fault, sizeof lc->fault, "%s (in %s {%s})", what,
             lifecycle_state_detail(lc->state), lifecycle_flags(lc, flags, sizeof flags));
}

void lifecycle_set_holds_sockets(struct lifecycle *lc)
{
    lc->holds_sockets = 1;
}

/* The action list is sized for the longest step; running out is a fault
 * here, never something to drop silently. */
static void act(struct lc_result *out, struct lc_action a)
{
    if (out->nactions < LC_MAX_ACTIONS)
        out->actions[out->nactions++] = a;
    else
        out->dropped++;
}

static void act_on(const struct lifecycle *lc, struct lc_result *out, enum lc_action_type type,
                   enum lc_slot child, int sig)
{
    act(out, (struct lc_action){.type = type,
                                .child = child,
                                .pid = lc->children[child].pid,
                                .pgid = lc->children[child].pgid,
                                .sig = sig});
}

static void move(struct lifecycle *lc, struct lc_result *out, enum lc_state to, const char *why)
{
    if (lc->state == to)
        return;
    if (out->ntransitions < LC_MAX_TRANSITIONS)
        out->transitions[out->ntransitions++] = (struct lc_transition){lc->state, to, why};
    else
        fault(lc, "more transitions than LC_MAX_TRANSITIONS: one not logged");
    lc->state = to;
}

static void arm(struct lc_result *out, enum lc_event_type timer, enum lc_slot child, int64_t ms)
{
    act(out,
        (struct lc_action){.type = LC_ACT_ARM_TIMER, .timer = timer, .child = child, .ms = ms});
}

/* Timers are keyed by (event, child): the old generation's stop timeout
 * and a rolled-back next generation's run at once. Timers about podvisor
 * as a whole (clean-up, --ready-timeout) use slot 0. */
static void cancel(struct lc_result *out, enum lc_event_type timer, enum lc_slot child)
{
    act(out, (struct lc_action){.type = LC_ACT_CANCEL_TIMER, .timer = timer, .child = child});
}

static struct lc_child *cur(struct lifecycle *lc)
{
    return &lc->children[lc->current];
}

static int main_alive(const struct lifecycle *lc)
{
    return lc->children[lc->current].in_use && lc->children[lc->current].pid > 0;
}

/* The end of the prestop delay: the child gets its stop signal, and the stop
 * timeout starts, after which its whole group is SIGKILLed. */
static void send_stop_signal(struct lifecycle *lc, struct lc_result *out)
{
    int sig = lc->drain_signal ? lc->drain_signal : lc->cfg->stop_signal;
    if (sig <= 0 || !main_alive(lc))
        return; /* --rewrite TERM:0: the child is not told, only killed */
    if (sig < OPTIONS_NSIG)
        lc->forwarded[sig]++;
    act_on(lc, out, LC_ACT_STOP_CHILD, lc->current, sig);
    /* A stopped child would never act on the stop signal. */
    if (lc->children[lc->current].stopped_by)
        act_on(lc, out, LC_ACT_FORWARD, lc->current, SIGCONT);
}

/* The stop step, for a drain and for a restart alike. */
static void stop_main(struct lifecycle *lc, struct lc_result *out)
{
    send_stop_signal(lc, out);
    arm(out, LC_EV_STOP_TIMEOUT, lc->current, lc->cfg->stop_timeout_ms);
    cur(lc)->kill_at_ms = lc->now_ms + lc->cfg->stop_timeout_ms;
}

static void begin_stopping(struct lifecycle *lc, struct lc_result *out, const char *why)
{
    move(lc, out, LC_STOPPING, why);
    stop_main(lc, out);
}

/* The restart that kept readiness up is over (ready, crashed, or
 * podvisor is stopping). */
static void end_keep_ready(struct lifecycle *lc, struct lc_result *out)
{
    if (!lc->restart_keeps_ready)
        return;
    lc->restart_keeps_ready = 0;
    cancel(out, LC_EV_READY_TIMEOUT, 0);
}

static void drain(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out,
                  const char *why)
{
    end_keep_ready(lc, out);
    lc->restart_began_ms = 0;
    /* docs/kubernetes.md: endpoints learn of the deletion seconds after it
     * starts, so readiness fails now and the app keeps serving for the
     * prestop delay while traffic drains away. */
    lc->drain_started_ms = ev->now_ms;
    move(lc, out, LC_DRAINING, why);
    if (lc->cfg->prestop_delay_ms > 0)
        arm(out, LC_EV_PRESTOP_ELAPSED, lc->current, lc->cfg->prestop_delay_ms);
    else
        begin_stopping(lc, out, "no prestop delay");
}

/* Ends podvisor with no main child to wait for: whatever is left (helpers,
 * orphans) goes through the usual clean-up, which a reap pass starts. */
static void exit_without_child(struct lifecycle *lc, const struct lc_event *ev,
                               struct lc_result *out, int code, const char *why)
{
    for (enum lc_slot r = LC_GEN_A; r < LC_MAX_CHILDREN; r++)
        if (r != lc->current && lc->children[r].in_use && lc->children[r].pid > 0)
            act_on(lc, out, LC_ACT_KILL_GROUP, r, SIGKILL);
    lc->exit_code = code;
    end_keep_ready(lc, out);
    if (lc->drain_started_ms >= 0 && lc->drain_ended_ms < 0)
        lc->drain_ended_ms = ev->now_ms;
    move(lc, out, LC_EXITED, why);
    lc->cleanup = LC_CLEANUP_REAPING;
    act(out, (struct lc_action){.type = LC_ACT_REAP});
}

static void stop_other(struct lifecycle *lc, struct lc_result *out, enum lc_role role,
                       const char *why);

/* SPEC: a SIGTERM during a restart wins: podvisor drains and exits as
 * usual, from wherever the restart got to. */
static void on_sigterm_restarting(struct lifecycle *lc, const struct lc_event *ev,
                                  struct lc_result *out)
{
    end_keep_ready(lc, out);
    int delay_over = lc->stop_after_validate;
    lc->start_after_validate = lc->stop_after_validate = lc->next_ready_waits = 0;
    lc->restart_again = 0;
    lc->queued_hash[0] = '\0';
    lc->drain_started_ms = ev->now_ms;
    switch (lc->state) {
    case LC_RESTART_DELAY:
        /* Readiness is off already; the delay running goes on as the
         * drain's (or is over already: the stop waited for a verdict). */
        move(lc, out, LC_DRAINING, "SIGTERM during a restart");
        if (delay_over)
            begin_stopping(lc, out, "SIGTERM during a restart: the prestop delay is over");
        break;
    case LC_RESTART_STOPPING:
        move(lc, out, LC_STOPPING, "SIGTERM during a restart");
        break;
    case LC_RESTART_OLD_GROUP:
    case LC_RESTART_BACKOFF:
        cancel(out, LC_EV_BACKOFF_ELAPSED, lc->current);
        cancel(out, LC_EV_OLD_GROUP_DEADLINE, lc->current);
        exit_without_child(lc, ev, out,
                           options_remap_exit(lc->cfg, waitstatus_code(lc->last_exit_status)),
                           "SIGTERM while waiting to restart the child");
        break;
    case LC_RESTART_NEXT:
        /* The next generation never served as the current one: it is
         * stopped, and the current one drains as usual. */
        cancel(out, LC_EV_READY_TIMEOUT, 0);
        stop_other(lc, out, LC_ROLE_ROLLED_BACK,
                   "SIGTERM during a start-first restart: stopping the next generation");
        drain(lc, ev, out, "SIGTERM during a restart");
        break;
    default:
        drain(lc, ev, out, "SIGTERM");
        break;
    }
}

static void on_sigterm(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
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
        drain(lc, ev, out, "SIGTERM");
        break;
    case LC_DRAINING:
        cancel(out, LC_EV_PRESTOP_ELAPSED, lc->current);
        begin_stopping(lc, out, "second SIGTERM");
        break;
    case LC_STOPPING:
        /* Asked again: repeat the stop signal; the deadline stays. */
        send_stop_signal(lc, out);
        break;
    case LC_EXITED:
        break;
    default:
        on_sigterm_restarting(lc, ev, out);
        break;
    }
}

static void on_signal(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    int as = options_rewrite(lc->cfg, ev->sig);
    /* A signal rewritten to TERM is taken as TERM: the runtime sends the
     * image's STOPSIGNAL to PID 1 (QUIT in nginx's image, so an injected
     * podvisor gets QUIT), and --rewrite QUIT:TERM makes it the drain. */
    if (ev->sig == SIGTERM || (ev->sig != SIGTERM && as == SIGTERM) ||
        (lc->cfg->sidecar && ev->sig == SIGINT)) {
        /* Rewritten once: the app gets TERM, not TERM's own rewrite. */
        if (ev->sig != SIGTERM && as == SIGTERM && !lc->cfg->stop_signal_given &&
            lc->drain_started_ms < 0)
            lc->drain_signal = SIGTERM;
        on_sigterm(lc, ev, out);
        return;
    }
    if (!main_alive(lc) || lc->state == LC_EXITED)
        return;
    if (as == 0)
        return; /* --rewrite SIG:0 drops it */
    if (as > 0 && as < OPTIONS_NSIG)
        lc->forwarded[as]++;
    act_on(lc, out, LC_ACT_FORWARD, lc->current, as);
}

/* No process could be made for the main child: podvisor exits 1, after
 * the usual clean-up of what else runs (a --validate, an exec: action). */
static void on_spawn_failed(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    memset(&lc->children[lc->current], 0, sizeof lc->children[lc->current]);
    exit_without_child(lc, ev, out, 1, "the child could not be started");
}

static void record_exit(struct lifecycle *lc, const struct lc_event *ev)
{
    memset(&lc->children[lc->current], 0, sizeof lc->children[lc->current]);
    lc->has_exited = 1;
    lc->last_exit_status = ev->status;
}

static void on_main_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    int exec_error = lc->children[lc->current].exec_error_code;
    record_exit(lc, ev);
    if (lc->drain_started_ms >= 0 && lc->drain_ended_ms < 0)
        lc->drain_ended_ms = ev->now_ms;
    /* A failed exec _exit()s with 127 whatever the cause: its own code
     * (126 or 127) came through the exec-result pipe. */
    lc->exit_code =
        exec_error ? exec_error : options_remap_exit(lc->cfg, waitstatus_code(ev->status));
    cancel(out, LC_EV_PRESTOP_ELAPSED, lc->current);
    cancel(out, LC_EV_STOP_TIMEOUT, lc->current);
    end_keep_ready(lc, out);
    const char *why = "child exited";
    if (exec_error)
        why = "the child could not be executed";
    else if (waitstatus_signal(ev->status))
        why = "child killed by a signal";
    move(lc, out, LC_EXITED, why);
    /* Whether anything is left to clean up, the next LC_EV_REAPED says. */
    lc->cleanup = LC_CLEANUP_REAPING;
}

/* --- restarts ------------------------------------------------------- */

/* What the old child left in its own process group goes with it, so the
 * new one does not find its port taken; nothing else in the pod is
 * touched. The group's id is the old pid (child_spawn made it a leader). */
static void kill_old_group(struct lc_result *out, enum lc_slot slot, pid_t old)
{
    act(out, (struct lc_action){.type = LC_ACT_KILL_OLD_GROUP, .child = slot, .pid = old});
}

/* why: said when the command starts (NULL: nothing worth a warning). */
static void start_again_why(struct lifecycle *lc, struct lc_result *out, const char *why)
{
    if (lc->children[LC_VALIDATE].in_use) {
        /* The new child must read what --validate passes or refuses, not
         * content it is still judging: the start waits for its verdict. */
        lc->start_after_validate = 1;
        return;
    }
    move(lc, out, LC_RESTART_STARTING, "starting the command again");
    lc->restarts++;
    lc->restarts_by[lc->restart_reason]++;
    lc->children[lc->current].in_use = 1;
    act(out, (struct lc_action){.type = LC_ACT_SPAWN, .child = lc->current, .why = why});
}

static void start_again(struct lifecycle *lc, struct lc_result *out)
{
    start_again_why(lc, out, NULL);
}

static void restart_stop(struct lifecycle *lc, struct lc_result *out)
{
    lc->stop_after_validate = 0;
    move(lc, out, LC_RESTART_STOPPING, "prestop delay over");
    stop_main(lc, out);
}

static const struct lc_check *failing_ready_check(const struct lifecycle *lc);
static void action_result(struct lifecycle *lc, const struct lc_event *ev, int ok,
                          const char *result);

/* A stop-first restart whose stop signal has not gone out, when the files
 * now hold content --validate refused: the child still runs what it had,
 * so it is kept (readiness back) rather than replaced by one that would
 * read the refused content. */
static void cancel_restart(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out,
                           const char *why)
{
    cancel(out, LC_EV_PRESTOP_ELAPSED, lc->current);
    lc->stop_after_validate = 0;
    lc->restart_began_ms = 0;
    if (lc->restart_reason == LC_REASON_CONFIG)
        copy_text(lc->config.hash, sizeof lc->config.hash, lc->config.previous_hash);
    move(lc, out, failing_ready_check(lc) ? LC_RUNNING : LC_READY, why);
    act(out, (struct lc_action){.type = LC_ACT_WARN, .why = why});
    if (lc->config.last_action.pending)
        action_result(lc, ev, 0, "restart cancelled: the files hold a change --validate refused");
}

/* The graceful restart: as a drain (readiness off, the prestop delay so
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
        arm(out, LC_EV_READY_TIMEOUT, 0, lc->cfg->ready_timeout_ms);
        move(lc, out, LC_RESTART_STOPPING, why);
        stop_main(lc, out);
        return;
    }
    move(lc, out, LC_RESTART_DELAY, why);
    if (lc->cfg->prestop_delay_ms > 0)
        arm(out, LC_EV_PRESTOP_ELAPSED, lc->current, lc->cfg->prestop_delay_ms);
    else
        restart_stop(lc, out);
}

/* The stopped child is gone: what it left in its process group is
 * killed, and the command starts again once that group is empty, not as
 * soon as the SIGKILL is sent: a worker still freeing 6 GB kept the port,
 * and the new child got EADDRINUSE. Bounded (LC_OLD_GROUP_WAIT_MS). */
static void respawn_after_stop(struct lifecycle *lc, const struct lc_event *ev,
                               struct lc_result *out)
{
    pid_t old = lc->children[lc->current].pgid;
    record_exit(lc, ev);
    cancel(out, LC_EV_PRESTOP_ELAPSED, lc->current);
    cancel(out, LC_EV_STOP_TIMEOUT, lc->current);
    kill_old_group(out, lc->current, old);
    move(lc, out, LC_RESTART_OLD_GROUP, "the child exited");
    act(out, (struct lc_action){.type = LC_ACT_AWAIT_GROUP, .child = lc->current, .pid = old});
    arm(out, LC_EV_OLD_GROUP_DEADLINE, lc->current, LC_OLD_GROUP_WAIT_MS);
}

static int policy_restarts(const struct lifecycle *lc, int status)
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
static void crash_restart(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    pid_t old = lc->children[lc->current].pgid;
    int64_t ran = ev->now_ms - lc->children[lc->current].started_ms;
    record_exit(lc, ev);
    kill_old_group(out, lc->current, old);
    if (ran >= lc->cfg->backoff_max_ms)
        lc->backoff_ms = 0;
    lc->backoff_ms =
        backoff_next(lc->backoff_ms, lc->cfg->backoff_initial_ms, lc->cfg->backoff_max_ms);
    int64_t delay = lc->backoff_ms;
    lc->restart_reason = LC_REASON_CRASH;
    lc->restart_began_ms = 0; /* measured are graceful restarts */
    end_keep_ready(lc, out);
    lc->backoff_until_ms = ev->now_ms + delay;
    move(lc, out, LC_RESTART_BACKOFF, "child exited; --restart-policy restarts it");
    arm(out, LC_EV_BACKOFF_ELAPSED, lc->current, delay);
}

/* The graceful restart in flight is over: its new generation is ready. */
static void restart_done(struct lifecycle *lc)
{
    if (lc->restart_began_ms == 0)
        return;
    lc->last_restart.at_ms = lc->now_ms;
    lc->last_restart.took_ms = lc->now_ms - lc->restart_began_ms;
    lc->last_restart.reason = lc->restart_reason;
    lc->restart_began_ms = 0;
}

/* --- generations (--restart-mode start-first) ----------------------- */

static void on_exec_ok(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
static void restart_main(struct lifecycle *lc, struct lc_result *out, enum lc_reason reason);

/* The other generation (a next one rolled back or cut short, or the old
 * one after a promotion) goes: its stop signal now, SIGKILL to its group
 * after the stop timeout. Its exit is never the app's. */
static void stop_other(struct lifecycle *lc, struct lc_result *out, enum lc_role role,
                       const char *why)
{
    enum lc_slot o = lifecycle_other_generation(lc);
    struct lc_child *c = &lc->children[o];
    if (!c->in_use || c->pid <= 0)
        return;
    lc->other_role = role;
    int sig = lc->cfg->stop_signal;
    if (sig > 0) {
        act(out, (struct lc_action){.type = LC_ACT_STOP_CHILD,
                                    .child = o,
                                    .pid = c->pid,
                                    .pgid = c->pgid,
                                    .sig = sig,
                                    .why = why});
        if (c->stopped_by)
            act_on(lc, out, LC_ACT_FORWARD, o, SIGCONT);
    } else {
        act(out,
            (struct lc_action){
                .type = LC_ACT_KILL_GROUP, .child = o, .pid = c->pid, .pgid = c->pgid, .why = why});
    }
    arm(out, LC_EV_STOP_TIMEOUT, o, lc->cfg->stop_timeout_ms);
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
    copy_text(lc->next_hash, sizeof lc->next_hash, lc->config.hash);
    move(lc, out, LC_RESTART_NEXT,
         reason == LC_REASON_CONFIG ? "config changed: starting the next generation"
                                    : "restart requested: starting the next generation");
    act(out, (struct lc_action){.type = LC_ACT_SPAWN, .child = o});
    arm(out, LC_EV_READY_TIMEOUT, 0, lc->cfg->ready_timeout_ms);
}

/* Back to serving with the current generation, after a next one that
 * failed. The content it was given is not tried again until it changes. */
static void roll_back(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out,
                      const char *why)
{
    lc->rollbacks++;
    lc->next_ready_waits = 0;
    lc->restart_began_ms = 0;
    lc->last_rollback.at_ms = ev->now_ms;
    copy_text(lc->last_rollback.hash, sizeof lc->last_rollback.hash, lc->next_hash);
    copy_text(lc->last_rollback.why, sizeof lc->last_rollback.why, why);
    if (lc->restart_reason == LC_REASON_CONFIG)
        copy_text(lc->config.hash, sizeof lc->config.hash, lc->config.previous_hash);
    cancel(out, LC_EV_READY_TIMEOUT, 0);
    move(lc, out, failing_ready_check(lc) ? LC_RUNNING : LC_READY, why);
    if (lc->config.last_action.pending) {
        char text[160];
        snprintf(text, sizeof text, "restart rolled back: %.120s", why);
        action_result(lc, ev, 0, text);
    }
    stop_other(lc, out, LC_ROLE_ROLLED_BACK, "rolling back: stopping the next generation");
}

/* A start-first restart ends with the next generation current, whether
 * it was promoted (the one it replaces becomes `old_role`) or took over
 * from a current one that exited (LC_ROLE_NONE): the restart counts then,
 * and the uptime is the new generation's. */
static void next_becomes_current(struct lifecycle *lc, struct lc_result *out, enum lc_role old_role)
{
    lc->current = lifecycle_other_generation(lc);
    lc->other_role = old_role;
    cancel(out, LC_EV_READY_TIMEOUT, 0);
    lc->restarts++;
    lc->restarts_by[lc->restart_reason]++;
    lc->main_started_ms = cur(lc)->started_ms;
}

/* The next generation is ready: it becomes the current one, and the old
 * one gets its stop signal and drains. Readiness never drops. */
static void promote(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    lc->next_ready_waits = 0;
    restart_done(lc);
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
    move(lc, out, failing_ready_check(lc) ? LC_RUNNING : LC_READY, "the next generation is ready");
    if (lc->config.last_action.pending) {
        char text[80];
        snprintf(text, sizeof text, "restart: child %d ready (start-first)", (int)cur(lc)->pid);
        action_result(lc, ev, 1, text);
    }
    stop_other(lc, out, LC_ROLE_OLD, "the next generation is ready: stopping the old one");
}

/* The current generation exited while the next one starts: the next one
 * takes over at once (the pod is not ended for a generation on its way
 * out), and is ready when its checks say so. */
static void current_exited_during_next(struct lifecycle *lc, const struct lc_event *ev,
                                       struct lc_result *out)
{
    pid_t old = cur(lc)->pgid;
    record_exit(lc, ev);
    kill_old_group(out, lc->current, old);
    next_becomes_current(lc, out, LC_ROLE_NONE);
    move(lc, out, LC_RESTART_STARTING, "the current generation exited; the next takes over");
    act(out, (struct lc_action){.type = LC_ACT_WARN,
                                .why = "the current generation exited while the next one "
                                       "started: the next one takes over"});
    if (cur(lc)->exec_pending)
        return; /* LC_EV_EXEC_OK goes on from here */
    struct lc_event ok = *ev;
    ok.child = lc->current;
    on_exec_ok(lc, &ok, out);
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
        act(out, (struct lc_action){.type = LC_ACT_WARN,
                                    .why = "the restart queued behind the one in flight is "
                                           "dropped: the files no longer hold what it was "
                                           "queued for"});
        if (lc->config.last_action.pending)
            action_result(lc, ev, 0, "restart: dropped, the files moved on");
        return;
    }
    if (lc->queued_hash[0]) {
        copy_text(lc->config.previous_hash, sizeof lc->config.previous_hash, lc->config.hash);
        copy_text(lc->config.hash, sizeof lc->config.hash, lc->queued_hash);
        lc->queued_hash[0] = '\0';
    }
    restart_main(lc, out, lc->queued_reason);
}

/* The other generation is gone (an old one stopped, or a next one that
 * failed): its group goes with it; a restart that waited for the slot
 * runs now. */
static void on_other_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    enum lc_slot o = ev->child;
    struct lc_child *c = &lc->children[o];
    pid_t pgid = c->pgid;
    int was_next = lc->other_role == LC_ROLE_NEXT;
    int exec_error = c->exec_error_code;
    memset(c, 0, sizeof *c);
    lc->other_role = LC_ROLE_NONE;
    cancel(out, LC_EV_STOP_TIMEOUT, o);
    kill_old_group(out, o, pgid);
    if (was_next && lc->state == LC_RESTART_NEXT)
        roll_back(lc, ev, out,
                  exec_error ? "the next generation could not be executed"
                             : "the next generation exited before it was ready");
    if (lc->restart_again && (lc->state == LC_READY || lc->state == LC_RUNNING))
        run_queued_restart(lc, ev, out);
}

/* No process could be made for the next generation (or the memory
 * headroom is too small for two): a stop-first restart instead. */
static void next_spawn_failed(struct lifecycle *lc, struct lc_result *out, const char *why)
{
    enum lc_slot o = lifecycle_other_generation(lc);
    memset(&lc->children[o], 0, sizeof lc->children[o]);
    lc->other_role = LC_ROLE_NONE;
    cancel(out, LC_EV_READY_TIMEOUT, 0);
    act(out, (struct lc_action){.type = LC_ACT_WARN, .why = why});
    begin_restart(lc, out, lc->restart_reason);
}

/* Whether a start-first restart (or the old generation it left) is
 * still in flight: a new trigger merges into one more restart after it. */
static int start_first_busy(const struct lifecycle *lc)
{
    return lc->cfg->restart_mode == RESTART_MODE_START_FIRST &&
           (lc->state == LC_RESTART_NEXT || ((lc->state == LC_READY || lc->state == LC_RUNNING) &&
                                             lc->children[lifecycle_other_generation(lc)].in_use));
}

int lifecycle_restart_queues(const struct lifecycle *lc)
{
    return start_first_busy(lc);
}

/* A graceful restart of the main child (a config change, POST /restart,
 * or a trigger merged while one was in flight). Start-first needs a ready
 * current generation to keep serving; otherwise it is stop-first. */
static void queue_restart(struct lifecycle *lc, enum lc_reason reason)
{
    if (!lc->restart_again)
        lc->queued_reason = reason;
    lc->restart_again = 1;
}

static void restart_main(struct lifecycle *lc, struct lc_result *out, enum lc_reason reason)
{
    if (start_first_busy(lc)) {
        queue_restart(lc, reason);
        return;
    }
    if (lc->cfg->restart_mode == RESTART_MODE_START_FIRST && lc->state == LC_READY)
        begin_start_first(lc, out, reason);
    else
        begin_restart(lc, out, reason);
}

/* --- config changes ------------------------------------------------ */

static void spawn_helper(struct lifecycle *lc, struct lc_result *out, enum lc_slot slot,
                         enum lc_event_type timeout)
{
    memset(&lc->children[slot], 0, sizeof lc->children[slot]);
    lc->children[slot].in_use = 1;
    act(out, (struct lc_action){.type = LC_ACT_SPAWN, .child = slot});
    arm(out, timeout, slot, LC_HELPER_TIMEOUT_MS);
}

static void set_last_action(struct lifecycle *lc, const struct lc_event *ev, int ok, int pending,
                            const char *text)
{
    lc->config.last_action.at_ms = ev->now_ms;
    lc->config.last_action.ok = ok;
    lc->config.last_action.pending = pending;
    copy_text(lc->config.last_action.result, sizeof lc->config.last_action.result, text);
}

/* An action's outcome; a failure is counted (a pending one is not yet). */
static void action_result(struct lifecycle *lc, const struct lc_event *ev, int ok,
                          const char *result)
{
    set_last_action(lc, ev, ok, 0, result);
    if (!ok)
        lc->config.action_failures++;
}

static void action_pending(struct lifecycle *lc, const struct lc_event *ev, const char *what)
{
    set_last_action(lc, ev, 0, 1, what);
}

/* The main child is up and past its exec: it can take a signal or a
 * restart. One still starting reads the config as it is now anyway. */
static int main_settled(const struct lifecycle *lc)
{
    return (lc->state == LC_RUNNING || lc->state == LC_READY) && main_alive(lc) &&
           !lc->children[lc->current].exec_pending;
}

/* Carries out --on-change (for a config change, and later for an admin
 * /reload: the trigger is separate from what is done). */
static void perform_on_change(struct lifecycle *lc, const struct lc_event *ev,
                              struct lc_result *out, enum lc_reason reason)
{
    const struct on_change *oc = &lc->cfg->on_change;
    char name[16], text[96];
    switch (oc->kind) {
    case ON_CHANGE_RESTART:
        if (start_first_busy(lc)) {
            /* Not applied yet: /status keeps naming what the children run
             * until the merged restart starts. */
            queue_restart(lc, LC_REASON_CONFIG);
            copy_text(lc->queued_hash, sizeof lc->queued_hash, lc->config.hash);
            copy_text(lc->config.hash, sizeof lc->config.hash, lc->config.previous_hash);
            action_pending(lc, ev, "restart: queued behind the restart in flight");
        } else if (main_settled(lc)) {
            restart_main(lc, out, reason);
            action_pending(lc, ev,
                           lc->state == LC_RESTART_NEXT ? "restart: starting the next generation"
                                                        : "restart: stopping the child");
        } else
            action_result(lc, ev, 1, "restart: the child is (re)starting and reads it");
        break;
    case ON_CHANGE_SIGNAL:
        lc->config.reloads++;
        if (lc->cfg->sidecar) {
            act(out, (struct lc_action){.type = LC_ACT_SIGNAL_PROCESSES, .sig = oc->sig});
            snprintf(text, sizeof text, "signal %s: sending",
                     signal_name(oc->sig, name, sizeof name));
            action_pending(lc, ev, text);
        } else if (main_settled(lc)) {
            if (oc->sig < OPTIONS_NSIG)
                lc->forwarded[oc->sig]++;
            act_on(lc, out, LC_ACT_FORWARD, lc->current, oc->sig);
            snprintf(text, sizeof text, "SIG%s sent to child %d",
                     signal_name(oc->sig, name, sizeof name), (int)lc->children[lc->current].pid);
            action_result(lc, ev, 1, text);
        } else {
            lc->config.reloads--;
            action_result(lc, ev, 1, "signal: the child is (re)starting and reads it");
        }
        break;
    case ON_CHANGE_EXEC:
        lc->config.reloads++;
        if (lc->children[LC_ACTION].in_use) {
            lc->config.action_again = 1; /* coalesced: one more run after this one */
        } else {
            spawn_helper(lc, out, LC_ACTION, LC_EV_ACTION_TIMEOUT);
            action_pending(lc, ev, "exec: running");
        }
        break;
    case ON_CHANGE_WEBHOOK:
        lc->config.reloads++;
        act(out, (struct lc_action){.type = LC_ACT_WEBHOOK});
        action_pending(lc, ev, "webhook: posting");
        break;
    case ON_CHANGE_NONE:
        action_result(lc, ev, 1, "none: recorded");
        break;
    }
}

static void accept_change(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out,
                          const char *hash)
{
    copy_text(lc->config.previous_hash, sizeof lc->config.previous_hash, lc->config.hash);
    copy_text(lc->config.hash, sizeof lc->config.hash, hash);
    lc->config.changed_ms = ev->now_ms;
    perform_on_change(lc, ev, out, LC_REASON_CONFIG);
}

const struct lc_admin_command lc_admin_commands[LC_N_ADMIN] = {
    [LC_ADMIN_RESTART] = {"/restart", LC_EV_RESTART, LC_REASON_ADMIN, 0,
                          "restarting the child gracefully"},
    [LC_ADMIN_RELOAD] = {"/reload", LC_EV_RELOAD, 0, 0, "reloading: the --on-change action runs"},
    [LC_ADMIN_DRAIN] = {"/drain", LC_EV_DRAIN, 0, 0,
                        "drained: /readyz fails from now on; the child keeps running"},
    [LC_ADMIN_QUIT] = {"/quitquitquit", LC_EV_SIGNAL, 0, SIGTERM,
                       "stopping gracefully, as on SIGTERM"},
};

int lifecycle_admin_lookup(const char *path)
{
    for (int i = 0; i < LC_N_ADMIN; i++)
        if (strcmp(path, lc_admin_commands[i].path) == 0)
            return i;
    return -1;
}

/* Why what the files hold now must not be applied by a restart or a
 * reload: content --validate refused or has not passed yet, or content
 * whose restart was rolled back. NULL when it may be. */
static const char *files_refusal(const struct lifecycle *lc)
{
    /* The files hold content other than what the children run. */
    int moved_on = strcmp(lc->config.pending, lc->config.hash) != 0;
    if (lc->cfg->validate.argv != NULL && lc->children[LC_VALIDATE].in_use)
        return "not now: a change is being validated";
    if (lc->cfg->validate.argv != NULL && moved_on &&
        strcmp(lc->config.pending, lc->config.last_refused.hash) == 0)
        return "the files hold a change --validate refused: fix them first";
    if (lc->last_rollback.at_ms && moved_on &&
        strcmp(lc->config.pending, lc->last_rollback.hash) == 0)
        return "the files hold a change whose restart was rolled back: change them first";
    return NULL;
}

const char *lifecycle_admin_refusal(const struct lifecycle *lc, enum lc_admin cmd)
{
    static char why[120];
    int sidecar = lc->cfg->sidecar;
    const char *files;
    switch (cmd) {
    case LC_ADMIN_QUIT:
        return NULL; /* as SIGTERM: always taken */
    case LC_ADMIN_DRAIN:
        return lc->state == LC_EXITED ? "podvisor is exiting" : NULL;
    case LC_ADMIN_RESTART:
        if (sidecar)
            return "sidecar mode has no child to restart";
        /* During a start-first restart (or while its old generation
         * stops) it is merged into one more restart after it. */
        if (!main_settled(lc) && !start_first_busy(lc))
            break;
        /* A new generation reads the files: as a config change would,
         * only content that passed. */
        return files_refusal(lc);
    case LC_ADMIN_RELOAD:
        /* The on-change action applies what is on disk: the same rule. */
        if ((files = files_refusal(lc)) != NULL)
            return files;
        if (lifecycle_accepts_changes(lc) && (sidecar || main_settled(lc)))
            return NULL;
        break;
    case LC_N_ADMIN:
        break;
    }
    snprintf(why, sizeof why, "not now: podvisor is %s", lifecycle_state_name(lc->state));
    return why;
}

/* sd_notify MAINPID=: the app daemonized, or hands supervision to another
 * process of its tree; the one podvisor watches, signals and exits with. */
int lifecycle_takes_successor(const struct lifecycle *lc)
{
    return main_alive(lc) && !lc->children[lc->current].exec_pending && lc->state != LC_EXITED &&
           !lifecycle_restarting(lc->state);
}

static void on_mainpid(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
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
        send_stop_signal(lc, out);
}

int lifecycle_accepts_changes(const struct lifecycle *lc)
{
    return lc->state != LC_DRAINING && lc->state != LC_STOPPING && lc->state != LC_EXITED;
}

static void start_validate(struct lifecycle *lc, struct lc_result *out)
{
    /* What is validated is the content as of now: pending may move on. */
    copy_text(lc->config.validating, sizeof lc->config.validating, lc->config.pending);
    spawn_helper(lc, out, LC_VALIDATE, LC_EV_VALIDATE_TIMEOUT);
}

static void on_config_changed(struct lifecycle *lc, const struct lc_event *ev,
                              struct lc_result *out)
{
    lc->config.changes++;
    copy_text(lc->config.pending, sizeof lc->config.pending, ev->text);
    if (!lifecycle_accepts_changes(lc))
        return;
    if (lc->children[LC_VALIDATE].in_use) {
        lc->config.validate_again = 1;
        return;
    }
    /* Back to what the child runs with (a refused change reverted): there
     * is nothing to do. */
    if (strcmp(lc->config.pending, lc->config.hash) == 0)
        return;
    /* Content whose start-first restart was rolled back is not tried again
     * until it changes (a revert to the last good content is a change). */
    if (lc->last_rollback.at_ms && strcmp(lc->config.pending, lc->last_rollback.hash) == 0)
        return;
    if (lc->cfg->validate.argv == NULL) {
        accept_change(lc, ev, out, lc->config.pending);
        return;
    }
    start_validate(lc, out);
}

/* A change landed during a restart and --validate refused it. What was
 * started or is about to start may read it; what serves now does not. */
static void refused_during_restart(struct lifecycle *lc, const struct lc_event *ev,
                                   struct lc_result *out)
{
    if (lc->state == LC_RESTART_NEXT)
        roll_back(lc, ev, out,
                  "the files changed to content --validate refused while the next generation "
                  "started (it may have read them): it is stopped, the current one is kept");
    else if (lc->state == LC_RESTART_DELAY)
        cancel_restart(lc, ev, out,
                       "the files changed to content --validate refused before the child got "
                       "its stop signal: the restart is cancelled, the child is kept");
}

static void on_validate_exited(struct lifecycle *lc, const struct lc_event *ev,
                               struct lc_result *out)
{
    struct lc_child *c = &lc->children[LC_VALIDATE];
    int timed_out = c->timed_out;
    memset(c, 0, sizeof *c);
    cancel(out, LC_EV_VALIDATE_TIMEOUT, LC_VALIDATE);
    if (!lifecycle_accepts_changes(lc))
        return;
    if (!timed_out && ev->status == 0 && ev->hash != NULL &&
        strcmp(ev->hash, lc->config.validating) != 0) {
        /* It passed, but the files moved on meanwhile: acting now would
         * apply what was not validated. The content as it is now is
         * validated first; nothing is applied yet. */
        copy_text(lc->config.pending, sizeof lc->config.pending, ev->hash);
        lc->config.validate_again = 0;
        if (strcmp(lc->config.pending, lc->config.hash) != 0)
            start_validate(lc, out);
        return;
    }
    if (!timed_out && ev->status == 0) {
        accept_change(lc, ev, out, lc->config.validating);
    } else {
        lc->config.refused++;
        lc->config.last_refused.at_ms = ev->now_ms;
        copy_text(lc->config.last_refused.hash, sizeof lc->config.last_refused.hash,
                  lc->config.validating);
        lc->config.last_refused.status = ev->status;
        lc->config.last_refused.timed_out = timed_out;
        copy_text(lc->config.last_refused.output, sizeof lc->config.last_refused.output, ev->text);
        refused_during_restart(lc, ev, out);
    }
    /* Changes came meanwhile: judged anew, unless the files are back at
     * what was just judged (a verdict on the same content again would
     * only delay what it decided). */
    if (lc->config.validate_again) {
        lc->config.validate_again = 0;
        if (strcmp(lc->config.pending, lc->config.validating) != 0)
            start_validate(lc, out);
    }
}

static void on_action_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    struct lc_child *c = &lc->children[LC_ACTION];
    int timed_out = c->timed_out;
    memset(c, 0, sizeof *c);
    cancel(out, LC_EV_ACTION_TIMEOUT, LC_ACTION);
    char how[64], text[160];
    if (timed_out)
        snprintf(text, sizeof text, "exec: killed after %ds", LC_HELPER_TIMEOUT_MS / 1000);
    else if (ev->text != NULL) /* the executor's words (a command that cannot run) */
        snprintf(text, sizeof text, "exec: %s", ev->text);
    else
        snprintf(text, sizeof text, "exec: %s", waitstatus_describe(ev->status, how, sizeof how));
    action_result(lc, ev, !timed_out && ev->status == 0, text);
    if (lc->config.action_again && lifecycle_accepts_changes(lc)) {
        lc->config.action_again = 0;
        spawn_helper(lc, out, LC_ACTION, LC_EV_ACTION_TIMEOUT);
        action_pending(lc, ev, "exec: running");
    }
}

static void on_helper_timeout(struct lifecycle *lc, struct lc_result *out, enum lc_slot slot)
{
    struct lc_child *c = &lc->children[slot];
    if (!c->in_use || c->pid <= 0)
        return;
    c->timed_out = 1;
    act(out, (struct lc_action){.type = LC_ACT_KILL_GROUP,
                                .child = slot,
                                .pid = c->pid,
                                .pgid = c->pgid,
                                .why = slot == LC_VALIDATE
                                           ? "--validate ran too long: killed"
                                           : "the exec: on-change command ran too long: killed"});
}

/* A --validate ended (or could not start): what waited for its verdict
 * goes on, unless another one now judges what is on disk. */
static void resume_after_verdict(struct lifecycle *lc, const struct lc_event *ev,
                                 struct lc_result *out)
{
    if (lc->children[LC_VALIDATE].in_use)
        return;
    if (lc->start_after_validate) {
        lc->start_after_validate = 0;
        if (lc->state == LC_RESTART_OLD_GROUP || lc->state == LC_RESTART_BACKOFF)
            start_again(lc, out);
    }
    if (lc->stop_after_validate && lc->state == LC_RESTART_DELAY)
        restart_stop(lc, out);
    if (lc->next_ready_waits && lc->state == LC_RESTART_NEXT)
        promote(lc, ev, out);
}

static void on_helper_spawn_failed(struct lifecycle *lc, const struct lc_event *ev,
                                   struct lc_result *out)
{
    /* As if it had exited 127: refused, or a failed action. */
    struct lc_event as_exit = *ev;
    as_exit.status = 127 << 8;
    as_exit.text = "could not be started";
    if (ev->child == LC_VALIDATE) {
        on_validate_exited(lc, &as_exit, out);
        resume_after_verdict(lc, ev, out);
    } else
        on_action_exited(lc, &as_exit, out);
}

/* After each reap pass: with the main child gone, what is left of its
 * process tree is stopped (TERM, then KILL), and podvisor exits once it has
 * no child left. Orphans re-parented to podvisor while it kills (the
 * children of a process it just killed) get SIGKILL on the pass that sees
 * them: nothing is waited for blocking, and a deadline bounds the whole. */
static void on_reaped(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    if (lc->state != LC_EXITED || lc->cleanup == LC_CLEANUP_DONE || lc->cleanup == LC_CLEANUP_NONE)
        return;
    if (!ev->left) {
        cancel(out, LC_EV_CLEANUP_TERM_ELAPSED, 0);
        cancel(out, LC_EV_CLEANUP_DEADLINE, 0);
        lc->cleanup = LC_CLEANUP_DONE;
        act(out, (struct lc_action){.type = LC_ACT_EXIT, .code = lc->exit_code});
        return;
    }
    if (lc->cleanup == LC_CLEANUP_REAPING) {
        lc->cleanup = LC_CLEANUP_TERM;
        act(out, (struct lc_action){.type = LC_ACT_SIGNAL_REMAINING,
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
        arm(out, LC_EV_CLEANUP_TERM_ELAPSED, 0, term_ms);
    } else if (lc->cleanup == LC_CLEANUP_KILL) {
        act(out, (struct lc_action){.type = LC_ACT_SIGNAL_REMAINING, .sig = SIGKILL});
    }
}

static void on_cleanup_term_elapsed(struct lifecycle *lc, struct lc_result *out)
{
    if (lc->cleanup != LC_CLEANUP_TERM)
        return;
    lc->cleanup = LC_CLEANUP_KILL;
    act(out, (struct lc_action){.type = LC_ACT_SIGNAL_REMAINING,
                                .sig = SIGKILL,
                                .why = "processes left behind did not exit on SIGTERM: "
                                       "SIGKILL"});
    arm(out, LC_EV_CLEANUP_DEADLINE, 0, LC_CLEANUP_KILL_MS);
}

static void on_cleanup_deadline(struct lifecycle *lc, struct lc_result *out)
{
    if (lc->cleanup != LC_CLEANUP_KILL)
        return;
    lc->cleanup = LC_CLEANUP_DONE;
    act(out, (struct lc_action){.type = LC_ACT_EXIT,
                                .code = lc->exit_code,
                                .why = "processes left behind were not reaped in time; "
                                       "exiting anyway"});
}

static int valid_child(const struct lc_event *ev)
{
    return ev->child >= 0 && ev->child < LC_MAX_CHILDREN;
}

static void become_ready(struct lifecycle *lc, struct lc_result *out, const char *why)
{
    restart_done(lc);
    lc->ever_ready = lc->ready_since_start = 1;
    end_keep_ready(lc, out);
    move(lc, out, LC_READY, why);
}

static void on_exec_ok(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    struct lc_child *c = &lc->children[ev->child];
    c->exec_pending = 0;
    if (ev->child != lc->current)
        return;
    if (lc->state == LC_STARTING) {
        move(lc, out, LC_RUNNING, "child started");
    } else if (lc->state == LC_RESTART_STARTING) {
        move(lc, out, LC_RUNNING, "child started again");
        if (lc->restart_reason != LC_REASON_CRASH && lc->config.last_action.pending) {
            char text[64];
            snprintf(text, sizeof text, "restart: child %d started",
                     (int)lc->children[lc->current].pid);
            action_result(lc, ev, 1, text);
        }
    } else {
        return;
    }
    lc->ready_since_start = 0;
    lc->notify.mainpid = 0;
    for (int i = 0; i < lc->n_checks; i++) {
        struct lc_check *k = &lc->checks[i];
        k->has_result = k->ok = 0;
        k->consecutive_failures = 0;
        k->error[0] = '\0';
    }
    if (lc->n_ready_checks > 0)
        return; /* running until every ready check passes */
    /* Without ready checks a running child is a ready one. */
    become_ready(lc, out, "no ready checks");
}

/* The first ready check that does not pass now, or NULL. */
static const struct lc_check *failing_ready_check(const struct lifecycle *lc)
{
    for (int i = 0; i < lc->n_checks; i++) {
        const struct lc_check *k = &lc->checks[i];
        if (!k->live && !(k->has_result && k->ok))
            return k;
    }
    return NULL;
}

static void on_check_result(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    if ((int)ev->check < 0 || (int)ev->check >= lc->n_checks || !lifecycle_checks_wanted(lc))
        return;
    struct lc_check *k = &lc->checks[ev->check];
    k->has_result = 1;
    k->ok = ev->code != 0;
    k->runs++;
    k->last_ms = ev->now_ms;
    k->last_duration_ms = ev->status;
    if (k->ok) {
        k->consecutive_failures = 0;
        k->error[0] = '\0';
    } else {
        k->consecutive_failures++;
        k->failures++;
        copy_text(k->error, sizeof k->error, ev->text ? ev->text : "failed");
    }
    if (k->live)
        return;
    const struct lc_check *failing = failing_ready_check(lc);
    if (lc->state == LC_RUNNING && failing == NULL) {
        become_ready(lc, out, "ready checks pass");
    } else if (lc->state == LC_READY && failing != NULL) {
        snprintf(lc->check_why, sizeof lc->check_why, "ready check %.60s: %.120s", failing->name,
                 failing->error);
        move(lc, out, LC_RUNNING, lc->check_why);
    }
}

int lifecycle_checks_wanted(const struct lifecycle *lc)
{
    if (lc->n_checks == 0 || !main_alive(lc) || lc->children[lc->current].exec_pending)
        return 0;
    return lc->state == LC_RUNNING || lc->state == LC_READY || lc->state == LC_DRAINING ||
           lc->state == LC_STOPPING || lc->state == LC_RESTART_NEXT;
}

static void on_child_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    switch (ev->child) {
    case LC_VALIDATE:
        on_validate_exited(lc, ev, out);
        resume_after_verdict(lc, ev, out);
        return;
    case LC_ACTION:
        on_action_exited(lc, ev, out);
        return;
    default:
        break;
    }
    if (ev->child != lc->current) {
        on_other_exited(lc, ev, out);
        return;
    }
    const struct lc_child *c = &lc->children[lc->current];
    if (lc->state == LC_RESTART_NEXT)
        current_exited_during_next(lc, ev, out);
    else if (lc->state == LC_RESTART_DELAY || lc->state == LC_RESTART_STOPPING)
        respawn_after_stop(lc, ev, out);
    else if (!c->exec_error_code && (lc->state == LC_RUNNING || lc->state == LC_READY) &&
             policy_restarts(lc, ev->status))
        crash_restart(lc, ev, out);
    else
        on_main_exited(lc, ev, out);
}

static void on_start(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    if (lc->state != LC_STARTING || lc->children[lc->current].in_use)
        return;
    copy_text(lc->config.hash, sizeof lc->config.hash, ev->text);
    copy_text(lc->config.pending, sizeof lc->config.pending, ev->text);
    if (lc->cfg->sidecar) {
        move(lc, out, LC_RUNNING, "sidecar: watching");
        lc->ever_ready = 1;
        move(lc, out, LC_READY, "no child to wait for");
        return;
    }
    lc->children[lc->current].in_use = 1;
    act(out, (struct lc_action){.type = LC_ACT_SPAWN, .child = lc->current});
}

void lifecycle_step(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    memset(out, 0, sizeof *out);
    lc->now_ms = ev->now_ms;
    struct lc_child *c = valid_child(ev) ? &lc->children[ev->child] : NULL;
    switch (ev->type) {
    case LC_EV_START:
        on_start(lc, ev, out);
        break;
    case LC_EV_FORKED:
        if (c == NULL || !c->in_use || c->pid != 0)
            break;
        c->pid = ev->pid;
        c->pgid = ev->pid; /* child_spawn makes it its group's leader */
        c->exec_pending = 1;
        c->started_ms = ev->now_ms;
        if (ev->child == lc->current)
            lc->main_started_ms = ev->now_ms;
        break;
    case LC_EV_EXEC_OK:
        if (c != NULL && c->exec_pending)
            on_exec_ok(lc, ev, out);
        break;
    case LC_EV_EXEC_FAILED:
        if (c == NULL || !c->exec_pending)
            break;
        c->exec_pending = 0;
        c->exec_error_code = ev->code;
        /* When the exec failed the child is about to _exit; when its result
         * was lost it may be running: either way it must go. */
        act_on(lc, out, LC_ACT_KILL_GROUP, ev->child, SIGKILL);
        break;
    case LC_EV_SPAWN_FAILED:
        if (c == NULL || !c->in_use || c->pid != 0)
            break;
        if (ev->child == lc->current)
            on_spawn_failed(lc, ev, out);
        else if (lifecycle_is_generation(ev->child))
            next_spawn_failed(lc, out,
                              "the next generation could not be started beside the current one: "
                              "restarting stop-first instead");
        else
            on_helper_spawn_failed(lc, ev, out);
        break;
    case LC_EV_SIGNAL:
        on_signal(lc, ev, out);
        break;
    case LC_EV_CHILD_STOPPED:
        if (c != NULL && c->in_use)
            c->stopped_by = ev->sig;
        /* The stop may be reported after the stop signal went out: the
         * signalfd hands TERM (15) over before CHLD (17) when both are
         * pending. A child stopped now would sit on its stop signal until
         * the SIGKILL, so it is continued at once. */
        if (c != NULL && c->in_use && ev->child == lc->current && lc->cfg->stop_signal > 0 &&
            (lc->state == LC_STOPPING || lc->state == LC_RESTART_STOPPING))
            act_on(lc, out, LC_ACT_FORWARD, lc->current, SIGCONT);
        break;
    case LC_EV_CHILD_CONTINUED:
        if (c != NULL && c->in_use)
            c->stopped_by = 0;
        break;
    case LC_EV_CHILD_EXITED:
        if (c != NULL && c->in_use)
            on_child_exited(lc, ev, out);
        break;
    case LC_EV_REAPED:
        on_reaped(lc, ev, out);
        break;
    case LC_EV_PRESTOP_ELAPSED:
        if (lc->state == LC_DRAINING)
            begin_stopping(lc, out, "prestop delay elapsed");
        else if (lc->state == LC_RESTART_DELAY && lc->children[LC_VALIDATE].in_use)
            lc->stop_after_validate = 1; /* a refusal would cancel the restart */
        else if (lc->state == LC_RESTART_DELAY)
            restart_stop(lc, out);
        break;
    case LC_EV_STOP_TIMEOUT:
        if (c != NULL && lifecycle_is_generation(ev->child) && ev->child != lc->current &&
            c->in_use && c->pid > 0 &&
            (lc->other_role == LC_ROLE_OLD || lc->other_role == LC_ROLE_ROLLED_BACK))
            /* the old or rolled-back generation outlived its stop timeout */
            act(out, (struct lc_action){.type = LC_ACT_KILL_GROUP,
                                        .child = ev->child,
                                        .pid = c->pid,
                                        .pgid = c->pgid,
                                        .sig = SIGKILL,
                                        .code = 1});
        else if ((lc->state == LC_STOPPING || lc->state == LC_RESTART_STOPPING) && main_alive(lc) &&
                 ev->child == lc->current)
            /* code 1: the stop timeout is the reason (the executor says so;
             * it never guesses the reason from the state). */
            act(out, (struct lc_action){.type = LC_ACT_KILL_GROUP,
                                        .child = lc->current,
                                        .pid = lc->children[lc->current].pid,
                                        .pgid = lc->children[lc->current].pgid,
                                        .sig = SIGKILL,
                                        .code = 1});
        break;
    case LC_EV_CLEANUP_TERM_ELAPSED:
        on_cleanup_term_elapsed(lc, out);
        break;
    case LC_EV_CLEANUP_DEADLINE:
        on_cleanup_deadline(lc, out);
        break;
    case LC_EV_CONFIG_CHANGED:
        on_config_changed(lc, ev, out);
        break;
    case LC_EV_RESTART:
        if (lifecycle_admin_refusal(lc, LC_ADMIN_RESTART) == NULL &&
            (unsigned)ev->code < LC_N_REASONS)
            restart_main(lc, out, (enum lc_reason)ev->code);
        break;
    case LC_EV_ACTION_RESULT:
        action_result(lc, ev, ev->code, ev->text);
        break;
    case LC_EV_VALIDATE_TIMEOUT:
        on_helper_timeout(lc, out, LC_VALIDATE);
        break;
    case LC_EV_ACTION_TIMEOUT:
        on_helper_timeout(lc, out, LC_ACTION);
        break;
    case LC_EV_BACKOFF_ELAPSED:
        if (lc->state == LC_RESTART_BACKOFF)
            start_again(lc, out);
        break;
    case LC_EV_OLD_GROUP_GONE:
        if (lc->state == LC_RESTART_OLD_GROUP) {
            cancel(out, LC_EV_OLD_GROUP_DEADLINE, lc->current);
            start_again(lc, out);
        }
        break;
    case LC_EV_OLD_GROUP_DEADLINE:
        if (lc->state == LC_RESTART_OLD_GROUP) {
            start_again_why(lc, out,
                            "the old child's process group still has members 5s after its "
                            "SIGKILL: starting the command anyway (it may find its port taken)");
        }
        break;
    case LC_EV_CHECK_RESULT:
        on_check_result(lc, ev, out);
        break;
    case LC_EV_NEXT_READY:
        if (lc->state == LC_RESTART_NEXT && c != NULL &&
            ev->child == lifecycle_other_generation(lc) && c->in_use &&
            lc->other_role == LC_ROLE_NEXT) {
            c->exec_pending = 0;
            if (lc->children[LC_VALIDATE].in_use)
                lc->next_ready_waits = 1; /* a refusal would roll it back */
            else
                promote(lc, ev, out);
        }
        break;
    case LC_EV_NO_MEMORY:
        if (lc->state == LC_RESTART_NEXT && c != NULL &&
            ev->child == lifecycle_other_generation(lc) && c->in_use && c->pid == 0)
            next_spawn_failed(lc, out,
                              "start-first: the next generation does not fit in the container's "
                              "memory limit beside the current one: restarting stop-first");
        break;
    case LC_EV_READY_TIMEOUT:
        if (lc->state == LC_RESTART_NEXT) {
            roll_back(lc, ev, out, "the next generation was not ready within --ready-timeout");
        } else if (lc->restart_keeps_ready) {
            lc->restart_keeps_ready = 0;
            act(out, (struct lc_action){.type = LC_ACT_WARN,
                                        .why = "the restarted child is not ready after "
                                               "--ready-timeout: /readyz fails until it is"});
        }
        break;
    case LC_EV_MAINPID:
        on_mainpid(lc, ev, out);
        break;
    case LC_EV_NOTIFY_STATUS:
        lc->notify.messages++;
        if (ev->text != NULL)
            copy_text(lc->notify.status, sizeof lc->notify.status, ev->text);
        break;
    case LC_EV_NOTIFY_REJECTED:
        if ((unsigned)ev->code < 2)
            lc->notify.rejected[ev->code]++;
        break;
    case LC_EV_DRAIN:
        if (lifecycle_admin_refusal(lc, LC_ADMIN_DRAIN) == NULL)
            lc->admin_drained = 1;
        break;
    case LC_EV_RELOAD:
        if (lifecycle_admin_refusal(lc, LC_ADMIN_RELOAD) == NULL)
            perform_on_change(lc, ev, out, LC_REASON_ADMIN);
        break;
    case LC_N_EVENTS:
        break;
    }
    if (out->dropped)
        fault(lc, "more actions than LC_MAX_ACTIONS: some dropped");
}

enum lc_state lifecycle_state(const struct lifecycle *lc)
{
    return lc->state;
}

enum lc_slot lifecycle_current(const struct lifecycle *lc)
{
    return lc->current;
}

const struct lc_child *lifecycle_child(const struct lifecycle *lc, enum lc_slot slot)
{
    return &lc->children[slot < LC_MAX_CHILDREN ? slot : LC_GEN_A];
}

const struct lc_config *lifecycle_config(const struct lifecycle *lc)
{
    return &lc->config;
}

int lifecycle_n_checks(const struct lifecycle *lc)
{
    return lc->n_checks;
}

const struct lc_check *lifecycle_check(const struct lifecycle *lc, int index)
{
    return index >= 0 && index < lc->n_checks ? &lc->checks[index] : NULL;
}

int lifecycle_exit_code(const struct lifecycle *lc)
{
    return lc->exit_code;
}

const char *lifecycle_new_fault(const struct lifecycle *lc, unsigned *seen)
{
    if (lc->faults == *seen)
        return NULL;
    *seen = lc->faults;
    return lc->fault;
}

const char *lifecycle_refusal_outcome(const struct lifecycle *lc)
{
    if (!lifecycle_accepts_changes(lc))
        return " (podvisor is stopping)";
    if (lc->cfg->sidecar)
        return "; nothing is signalled";
    switch (lc->state) {
    case LC_RESTART_DELAY:
        return "; the running child is kept (its stop signal had not gone out)";
    case LC_RESTART_NEXT:
        return "; the current generation is kept";
    case LC_RESTART_STOPPING:
    case LC_RESTART_OLD_GROUP:
    case LC_RESTART_BACKOFF:
    case LC_RESTART_STARTING:
        return "; the child being restarted starts after this verdict";
    default:
        return "; the running child is kept";
    }
}

const char *lifecycle_unwritable_warning(const struct lifecycle *lc, char *buf, size_t len)
{
    const struct lc_config *cf = &lc->config;
    if (strcmp(cf->pending, cf->hash) == 0)
        return NULL;
    if (lc->cfg->validate.argv != NULL && cf->last_refused.at_ms != 0 &&
        strcmp(cf->pending, cf->last_refused.hash) == 0)
        snprintf(buf, len,
                 "the child starts on files that hold a change --validate refused (%s): they "
                 "cannot be un-written; the next good change is applied as usual",
                 cf->pending);
    else if (lc->last_rollback.at_ms != 0 && strcmp(cf->pending, lc->last_rollback.hash) == 0)
        snprintf(buf, len,
                 "the child starts on files that hold a change whose start-first restart was "
                 "rolled back (%s: %s): they cannot be un-written; the next change is applied "
                 "as usual",
                 cf->pending, lc->last_rollback.why);
    else
        return NULL;
    return buf;
}

int lifecycle_child_by_pid(const struct lifecycle *lc, pid_t pid)
{
    for (int i = 0; i < LC_MAX_CHILDREN; i++)
        if (pid > 0 && lc->children[i].in_use && lc->children[i].pid == pid)
            return i;
    return -1;
}

pid_t lifecycle_main_pid(const struct lifecycle *lc)
{
    return main_alive(lc) ? lc->children[lc->current].pid : 0;
}

int lifecycle_conditions(const struct lifecycle *lc, int64_t now_ms,
                         struct lc_condition c[LC_N_CONDITIONS])
{
    memset(c, 0, LC_N_CONDITIONS * sizeof c[0]);
    c[0].name = "child";
    c[1].name = "ready-checks";
    c[2].name = "shutdown";
    const struct lc_child *m = &lc->children[lc->current];
    const struct lc_check *k;
    char name[48];
    switch (lc->state) {
    case LC_STARTING:
        c[0].failed = 1;
        snprintf(c[0].why, sizeof c[0].why, "not started yet");
        break;
    case LC_EXITED:
        c[0].failed = 1;
        if (lc->has_exited && waitstatus_signal(lc->last_exit_status))
            snprintf(c[0].why, sizeof c[0].why, "exited: %s",
                     waitstatus_describe(lc->last_exit_status, name, sizeof name));
        else if (lc->has_exited)
            waitstatus_describe(lc->last_exit_status, c[0].why, sizeof c[0].why);
        else
            snprintf(c[0].why, sizeof c[0].why, "could not be started");
        break;
    case LC_RUNNING: {
        if (lc->restart_keeps_ready)
            break; /* the held sockets queue what comes meanwhile */
        k = failing_ready_check(lc);
        c[1].failed = 1;
        if (k == NULL || !k->has_result)
            snprintf(c[1].why, sizeof c[1].why, "%.60s%s", k ? k->name : "",
                     k ? ": pending" : "pending");
        else
            snprintf(c[1].why, sizeof c[1].why, "%.60s: %.120s", k->name, k->error);
        break;
    }
    case LC_RESTART_NEXT:
        /* The current generation serves while the next one starts. */
        if ((k = failing_ready_check(lc)) != NULL) {
            c[1].failed = 1;
            snprintf(c[1].why, sizeof c[1].why, "%.60s: %.120s", k->name, k->error);
        }
        break;
    case LC_RESTART_DELAY:
    case LC_RESTART_STOPPING:
    case LC_RESTART_OLD_GROUP:
    case LC_RESTART_BACKOFF:
    case LC_RESTART_STARTING:
        if (lc->restart_keeps_ready)
            break;
        c[0].failed = 1;
        if (lc->state == LC_RESTART_BACKOFF)
            snprintf(c[0].why, sizeof c[0].why, "restarting (%s): next start in %.1fs",
                     lifecycle_reason_name(lc->restart_reason),
                     (double)(lc->backoff_until_ms > now_ms ? lc->backoff_until_ms - now_ms : 0) /
                         1000.0);
        else
            snprintf(c[0].why, sizeof c[0].why, "restarting (%s)",
                     lifecycle_reason_name(lc->restart_reason));
        break;
    default:
        break;
    }
    /* A frozen app would take traffic it cannot serve (SIGSTOP, TSTP). */
    if (lc->state != LC_EXITED && m->in_use && m->stopped_by) {
        c[0].failed = 1;
        snprintf(c[0].why, sizeof c[0].why, "stopped by SIG%s (resumes on SIGCONT)",
                 signal_name(m->stopped_by, name, sizeof name));
    }
    if (lc->admin_drained && lc->state != LC_DRAINING && lc->state != LC_STOPPING) {
        c[2].failed = 1;
        snprintf(c[2].why, sizeof c[2].why, "drained by POST /drain");
    }
    if (lc->state == LC_DRAINING || lc->state == LC_STOPPING) {
        c[2].failed = 1;
        snprintf(c[2].why, sizeof c[2].why, "%s since SIGTERM %.1fs ago",
                 lc->state == LC_DRAINING ? "draining" : "stopping",
                 lifecycle_drain_seconds(lc, now_ms));
    }
    for (int i = 0; i < LC_N_CONDITIONS; i++)
        if (c[i].failed)
            return 0;
    return 1;
}

int lifecycle_ready(const struct lifecycle *lc)
{
    struct lc_condition c[LC_N_CONDITIONS];
    return lifecycle_conditions(lc, lc->drain_started_ms, c);
}

const struct lc_check *lifecycle_failing_live_check(const struct lifecycle *lc)
{
    /* As the kubelet does with a startup probe, live checks count only once
     * the child has been ready since it started; and never while draining
     * (the kubelet forces liveness to success then; docs/kubernetes.md). */
    if (!lc->ready_since_start || (lc->state != LC_RUNNING && lc->state != LC_READY))
        return NULL;
    for (int i = 0; i < lc->n_checks; i++)
        if (lc->checks[i].live &&
            lc->checks[i].consecutive_failures >=
                (lc->checks[i].immediate ? 1u : (unsigned)lc->cfg->failure_threshold))
            return &lc->checks[i];
    return NULL;
}

int lifecycle_live_failing(const struct lifecycle *lc)
{
    return lifecycle_failing_live_check(lc) != NULL;
}

int lifecycle_live(const struct lifecycle *lc)
{
    return lc->state != LC_EXITED && lc->state != LC_STARTING && !lifecycle_live_failing(lc);
}

int lifecycle_started(const struct lifecycle *lc)
{
    return lc->ever_ready;
}

double lifecycle_drain_seconds(const struct lifecycle *lc, int64_t now_ms)
{
    if (lc->drain_started_ms < 0)
        return 0.0;
    int64_t end = lc->drain_ended_ms >= 0 ? lc->drain_ended_ms : now_ms;
    return (double)(end - lc->drain_started_ms) / 1000.0;
}
