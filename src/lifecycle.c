/* lifecycle: see lifecycle.h. */
#include "lifecycle.h"

#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "waitstatus.h"

static const char *const state_names[LC_N_STATES] = {"starting", "running", "ready",     "draining",
                                                     "stopping", "exited",  "restarting"};
static const char *const reason_names[LC_N_REASONS] = {"config", "crash", "admin"};

const char *lifecycle_state_name(enum lc_state s)
{
    return (unsigned)s < LC_N_STATES ? state_names[s] : "unknown";
}

const char *lifecycle_reason_name(enum lc_reason r)
{
    return (unsigned)r < LC_N_REASONS ? reason_names[r] : "unknown";
}

const char *lifecycle_role_name(enum lc_role r)
{
    static const char *const names[LC_MAX_CHILDREN] = {"main", "validate", "action"};
    return (unsigned)r < LC_MAX_CHILDREN ? names[r] : "unknown";
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
    lc->drain_started_ms = -1;
    lc->drain_ended_ms = -1;
    const struct strlist *lists[2] = {&cfg->ready_check, &cfg->live_check};
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < lists[l]->n && lc->n_checks < LC_MAX_CHECKS; i++) {
            lc->checks[lc->n_checks].name = lists[l]->v[i];
            lc->checks[lc->n_checks].immediate = strcmp(lists[l]->v[i], "notify") == 0;
            lc->checks[lc->n_checks++].live = l;
            lc->n_ready_checks += !l;
        }
}

/* The action list is sized for the longest step; running out would be a
 * bug here, never something to drop silently. */
static void act(struct lc_result *out, struct lc_action a)
{
    assert(out->nactions < LC_MAX_ACTIONS);
    if (out->nactions < LC_MAX_ACTIONS)
        out->actions[out->nactions++] = a;
}

static void act_on(const struct lifecycle *lc, struct lc_result *out, enum lc_action_type type,
                   int child, int sig)
{
    act(out, (struct lc_action){
                 .type = type, .child = child, .pid = lc->children[child].pid, .sig = sig});
}

static void move(struct lifecycle *lc, struct lc_result *out, enum lc_state to, const char *why)
{
    if (lc->state == to)
        return;
    assert(out->ntransitions < LC_MAX_TRANSITIONS);
    if (out->ntransitions < LC_MAX_TRANSITIONS)
        out->transitions[out->ntransitions++] = (struct lc_transition){lc->state, to, why};
    lc->state = to;
}

static void arm(struct lc_result *out, enum lc_event_type timer, int child, int64_t ms)
{
    act(out,
        (struct lc_action){.type = LC_ACT_ARM_TIMER, .timer = timer, .child = child, .ms = ms});
}

static void cancel(struct lc_result *out, enum lc_event_type timer)
{
    act(out, (struct lc_action){.type = LC_ACT_CANCEL_TIMER, .timer = timer});
}

static int main_alive(const struct lifecycle *lc)
{
    return lc->children[LC_MAIN].in_use && lc->children[LC_MAIN].pid > 0;
}

/* The end of the prestop delay: the child gets its stop signal, and the stop
 * timeout starts, after which its whole group is SIGKILLed. */
static void send_stop_signal(struct lifecycle *lc, struct lc_result *out)
{
    int sig = lc->cfg->stop_signal;
    if (sig <= 0 || !main_alive(lc))
        return; /* --rewrite TERM:0: the child is not told, only killed */
    if (sig < OPTIONS_NSIG)
        lc->forwarded[sig]++;
    act_on(lc, out, LC_ACT_STOP_CHILD, LC_MAIN, sig);
    /* A stopped child would never act on the stop signal. */
    if (lc->children[LC_MAIN].stopped_by)
        act_on(lc, out, LC_ACT_FORWARD, LC_MAIN, SIGCONT);
}

/* The stop step, for a drain and for a restart alike. */
static void stop_main(struct lifecycle *lc, struct lc_result *out)
{
    send_stop_signal(lc, out);
    arm(out, LC_EV_STOP_TIMEOUT, LC_MAIN, lc->cfg->stop_timeout_ms);
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
    cancel(out, LC_EV_READY_TIMEOUT);
}

static void drain(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out,
                  const char *why)
{
    end_keep_ready(lc, out);
    /* docs/kubernetes.md: endpoints learn of the deletion seconds after it
     * starts, so readiness fails now and the app keeps serving for the
     * prestop delay while traffic drains away. */
    lc->drain_started_ms = ev->now_ms;
    move(lc, out, LC_DRAINING, why);
    if (lc->cfg->prestop_delay_ms > 0)
        arm(out, LC_EV_PRESTOP_ELAPSED, LC_MAIN, lc->cfg->prestop_delay_ms);
    else
        begin_stopping(lc, out, "no prestop delay");
}

/* Ends podvisor with no main child to wait for: whatever is left (helpers,
 * orphans) goes through the usual clean-up, which a reap pass starts. */
static void exit_without_child(struct lifecycle *lc, const struct lc_event *ev,
                               struct lc_result *out, int code, const char *why)
{
    for (int r = LC_VALIDATE; r < LC_MAX_CHILDREN; r++)
        if (lc->children[r].in_use && lc->children[r].pid > 0)
            act_on(lc, out, LC_ACT_KILL_GROUP, r, SIGKILL);
    lc->exit_code = code;
    end_keep_ready(lc, out);
    if (lc->drain_started_ms >= 0 && lc->drain_ended_ms < 0)
        lc->drain_ended_ms = ev->now_ms;
    move(lc, out, LC_EXITED, why);
    lc->cleanup = LC_CLEANUP_REAPING;
    act(out, (struct lc_action){.type = LC_ACT_REAP});
}

/* SPEC: a SIGTERM during a restart wins: podvisor drains and exits as
 * usual, from wherever the restart got to. */
static void on_sigterm_restarting(struct lifecycle *lc, const struct lc_event *ev,
                                  struct lc_result *out)
{
    enum lc_restart_phase phase = lc->restart_phase;
    lc->restart_phase = LC_RS_NONE;
    end_keep_ready(lc, out);
    lc->drain_started_ms = ev->now_ms;
    switch (phase) {
    case LC_RS_DELAY:
        /* Readiness is off already; the delay running goes on as the drain's. */
        move(lc, out, LC_DRAINING, "SIGTERM during a restart");
        break;
    case LC_RS_STOPPING:
        move(lc, out, LC_STOPPING, "SIGTERM during a restart");
        break;
    case LC_RS_OLD_GROUP:
    case LC_RS_BACKOFF:
        cancel(out, LC_EV_BACKOFF_ELAPSED);
        cancel(out, LC_EV_OLD_GROUP_DEADLINE);
        exit_without_child(lc, ev, out,
                           options_remap_exit(lc->cfg, waitstatus_code(lc->last_exit_status)),
                           "SIGTERM while waiting to restart the child");
        break;
    case LC_RS_STARTING:
    case LC_RS_NONE:
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
        cancel(out, LC_EV_PRESTOP_ELAPSED);
        begin_stopping(lc, out, "second SIGTERM");
        break;
    case LC_STOPPING:
        /* Asked again: repeat the stop signal; the deadline stays. */
        send_stop_signal(lc, out);
        break;
    case LC_RESTARTING:
        on_sigterm_restarting(lc, ev, out);
        break;
    case LC_EXITED:
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
        on_sigterm(lc, ev, out);
        return;
    }
    if (!main_alive(lc) || lc->state == LC_EXITED)
        return;
    if (as == 0)
        return; /* --rewrite SIG:0 drops it */
    if (as > 0 && as < OPTIONS_NSIG)
        lc->forwarded[as]++;
    act_on(lc, out, LC_ACT_FORWARD, LC_MAIN, as);
}

static void on_spawn_failed(struct lifecycle *lc, struct lc_result *out)
{
    memset(&lc->children[LC_MAIN], 0, sizeof lc->children[LC_MAIN]);
    lc->exit_code = 1;
    lc->cleanup = LC_CLEANUP_DONE;
    move(lc, out, LC_EXITED, "the child could not be started");
    act(out, (struct lc_action){.type = LC_ACT_EXIT, .code = 1});
}

static void record_exit(struct lifecycle *lc, const struct lc_event *ev)
{
    memset(&lc->children[LC_MAIN], 0, sizeof lc->children[LC_MAIN]);
    lc->has_exited = 1;
    lc->last_exit_status = ev->status;
}

static void on_main_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    int exec_error = lc->children[LC_MAIN].exec_error_code;
    record_exit(lc, ev);
    if (lc->drain_started_ms >= 0 && lc->drain_ended_ms < 0)
        lc->drain_ended_ms = ev->now_ms;
    /* A failed exec _exit()s with 127 whatever the cause: its own code
     * (126 or 127) came through the exec-result pipe. */
    lc->exit_code =
        exec_error ? exec_error : options_remap_exit(lc->cfg, waitstatus_code(ev->status));
    cancel(out, LC_EV_PRESTOP_ELAPSED);
    cancel(out, LC_EV_STOP_TIMEOUT);
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
static void kill_old_group(struct lc_result *out, pid_t old)
{
    act(out, (struct lc_action){.type = LC_ACT_KILL_OLD_GROUP, .child = LC_MAIN, .pid = old});
}

/* why: said when the command starts (NULL: nothing worth a warning). */
static void start_again_why(struct lifecycle *lc, struct lc_result *out, const char *why)
{
    lc->restart_phase = LC_RS_STARTING;
    lc->restarts++;
    lc->restarts_by[lc->restart_reason]++;
    lc->children[LC_MAIN].in_use = 1;
    act(out, (struct lc_action){.type = LC_ACT_SPAWN, .child = LC_MAIN, .why = why});
}

static void start_again(struct lifecycle *lc, struct lc_result *out)
{
    start_again_why(lc, out, NULL);
}

static void restart_stop(struct lifecycle *lc, struct lc_result *out)
{
    lc->restart_phase = LC_RS_STOPPING;
    stop_main(lc, out);
}

/* The graceful restart: as a drain (readiness off, the prestop delay so
 * endpoints stop sending, the stop signal, the stop timeout), but the
 * command starts again at the end instead of podvisor exiting. */
static void begin_restart(struct lifecycle *lc, struct lc_result *out, enum lc_reason reason)
{
    lc->restart_reason = reason;
    move(lc, out, LC_RESTARTING,
         reason == LC_REASON_CONFIG ? "config changed" : "restart requested");
    if (lc->cfg->socket.n > 0) {
        /* podvisor holds the listening sockets: while no child accepts,
         * connections wait in their backlog instead of being refused, so
         * readiness stays up and the prestop delay (there for endpoints to
         * stop sending) has nothing to wait for. */
        lc->restart_keeps_ready = 1;
        arm(out, LC_EV_READY_TIMEOUT, LC_MAIN, lc->cfg->ready_timeout_ms);
        restart_stop(lc, out);
        return;
    }
    lc->restart_phase = LC_RS_DELAY;
    if (lc->cfg->prestop_delay_ms > 0)
        arm(out, LC_EV_PRESTOP_ELAPSED, LC_MAIN, lc->cfg->prestop_delay_ms);
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
    pid_t old = lc->children[LC_MAIN].pid;
    record_exit(lc, ev);
    cancel(out, LC_EV_PRESTOP_ELAPSED);
    cancel(out, LC_EV_STOP_TIMEOUT);
    kill_old_group(out, old);
    lc->restart_phase = LC_RS_OLD_GROUP;
    act(out, (struct lc_action){.type = LC_ACT_AWAIT_GROUP, .child = LC_MAIN, .pid = old});
    arm(out, LC_EV_OLD_GROUP_DEADLINE, LC_MAIN, LC_OLD_GROUP_WAIT_MS);
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
    pid_t old = lc->children[LC_MAIN].pid;
    int64_t ran = ev->now_ms - lc->children[LC_MAIN].started_ms;
    record_exit(lc, ev);
    kill_old_group(out, old);
    if (ran >= lc->cfg->backoff_max_ms)
        lc->backoff_ms = 0;
    lc->backoff_ms =
        backoff_next(lc->backoff_ms, lc->cfg->backoff_initial_ms, lc->cfg->backoff_max_ms);
    int64_t delay = lc->backoff_ms;
    lc->restart_reason = LC_REASON_CRASH;
    end_keep_ready(lc, out);
    lc->restart_phase = LC_RS_BACKOFF;
    lc->backoff_until_ms = ev->now_ms + delay;
    move(lc, out, LC_RESTARTING, "child exited; --restart-policy restarts it");
    arm(out, LC_EV_BACKOFF_ELAPSED, LC_MAIN, delay);
}

/* --- config changes ------------------------------------------------ */

static void spawn_helper(struct lifecycle *lc, struct lc_result *out, enum lc_role role,
                         enum lc_event_type timeout)
{
    memset(&lc->children[role], 0, sizeof lc->children[role]);
    lc->children[role].in_use = 1;
    act(out, (struct lc_action){.type = LC_ACT_SPAWN, .child = role});
    arm(out, timeout, role, LC_HELPER_TIMEOUT_MS);
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
           !lc->children[LC_MAIN].exec_pending;
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
        if (main_settled(lc)) {
            begin_restart(lc, out, reason);
            action_pending(lc, ev, "restart: stopping the child");
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
            act_on(lc, out, LC_ACT_FORWARD, LC_MAIN, oc->sig);
            snprintf(text, sizeof text, "SIG%s sent to child %d",
                     signal_name(oc->sig, name, sizeof name), (int)lc->children[LC_MAIN].pid);
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
    copy_text(lc->config.hash, sizeof lc->config.hash, hash);
    lc->config.changed_ms = ev->now_ms;
    perform_on_change(lc, ev, out, LC_REASON_CONFIG);
}

const char *lifecycle_admin_refusal(const struct lifecycle *lc, const char *what)
{
    static char why[120];
    int sidecar = lc->cfg->sidecar;
    if (strcmp(what, "drain") == 0)
        return lc->state == LC_EXITED ? "podvisor is exiting" : NULL;
    if (strcmp(what, "restart") == 0 && sidecar)
        return "sidecar mode has no child to restart";
    if (strcmp(what, "reload") == 0 && lc->cfg->validate.argv != NULL &&
        strcmp(lc->config.pending, lc->config.hash) != 0) {
        /* The on-change action applies what is on disk: never content that
         * --validate refused or has not passed yet. */
        if (lc->children[LC_VALIDATE].in_use)
            return "not now: a change is being validated";
        if (strcmp(lc->config.pending, lc->config.last_refused.hash) == 0)
            return "the files hold a change --validate refused: fix them first";
    }
    if (strcmp(what, "reload") == 0 && sidecar && lifecycle_accepts_changes(lc))
        return NULL;
    if (main_settled(lc) && (strcmp(what, "restart") == 0 || lifecycle_accepts_changes(lc)))
        return NULL;
    snprintf(why, sizeof why, "not now: podvisor is %s", lifecycle_state_name(lc->state));
    return why;
}

/* sd_notify MAINPID=: the app daemonized, or hands supervision to another
 * process of its tree; the one podvisor watches, signals and exits with. */
static void on_mainpid(struct lifecycle *lc, const struct lc_event *ev)
{
    struct lc_child *m = &lc->children[LC_MAIN];
    if (!main_alive(lc) || m->exec_pending || ev->pid <= 0 || ev->pid == m->pid ||
        lc->state == LC_EXITED || lc->state == LC_RESTARTING)
        return;
    m->pid = ev->pid;
    lc->notify.mainpid = ev->pid;
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
    if (lc->cfg->validate.argv == NULL) {
        accept_change(lc, ev, out, lc->config.pending);
        return;
    }
    start_validate(lc, out);
}

static void on_validate_exited(struct lifecycle *lc, const struct lc_event *ev,
                               struct lc_result *out)
{
    struct lc_child *c = &lc->children[LC_VALIDATE];
    int timed_out = c->timed_out;
    memset(c, 0, sizeof *c);
    cancel(out, LC_EV_VALIDATE_TIMEOUT);
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
    }
    if (lc->config.validate_again) {
        lc->config.validate_again = 0;
        start_validate(lc, out);
    }
}

static void on_action_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    struct lc_child *c = &lc->children[LC_ACTION];
    int timed_out = c->timed_out;
    memset(c, 0, sizeof *c);
    cancel(out, LC_EV_ACTION_TIMEOUT);
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

static void on_helper_timeout(struct lifecycle *lc, struct lc_result *out, enum lc_role role)
{
    struct lc_child *c = &lc->children[role];
    if (!c->in_use || c->pid <= 0)
        return;
    c->timed_out = 1;
    act(out, (struct lc_action){.type = LC_ACT_KILL_GROUP,
                                .child = role,
                                .pid = c->pid,
                                .why = role == LC_VALIDATE
                                           ? "--validate ran too long: killed"
                                           : "the exec: on-change command ran too long: killed"});
}

static void on_helper_spawn_failed(struct lifecycle *lc, const struct lc_event *ev,
                                   struct lc_result *out)
{
    /* As if it had exited 127: refused, or a failed action. */
    struct lc_event as_exit = *ev;
    as_exit.status = 127 << 8;
    as_exit.text = "could not be started";
    if (ev->child == LC_VALIDATE)
        on_validate_exited(lc, &as_exit, out);
    else
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
        cancel(out, LC_EV_CLEANUP_TERM_ELAPSED);
        cancel(out, LC_EV_CLEANUP_DEADLINE);
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
        arm(out, LC_EV_CLEANUP_TERM_ELAPSED, LC_MAIN, LC_CLEANUP_TERM_MS);
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
    arm(out, LC_EV_CLEANUP_DEADLINE, LC_MAIN, LC_CLEANUP_KILL_MS);
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
    lc->ever_ready = lc->ready_since_start = 1;
    end_keep_ready(lc, out);
    move(lc, out, LC_READY, why);
}

static void on_exec_ok(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    struct lc_child *c = &lc->children[ev->child];
    c->exec_pending = 0;
    if (ev->child != LC_MAIN)
        return;
    if (lc->state == LC_STARTING) {
        move(lc, out, LC_RUNNING, "child started");
    } else if (lc->state == LC_RESTARTING && lc->restart_phase == LC_RS_STARTING) {
        lc->restart_phase = LC_RS_NONE;
        move(lc, out, LC_RUNNING, "child started again");
        if (lc->restart_reason != LC_REASON_CRASH && lc->config.last_action.pending) {
            char text[64];
            snprintf(text, sizeof text, "restart: child %d started",
                     (int)lc->children[LC_MAIN].pid);
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
    if (ev->child < 0 || ev->child >= lc->n_checks || !lifecycle_checks_wanted(lc))
        return;
    struct lc_check *k = &lc->checks[ev->child];
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
    if (lc->n_checks == 0 || !main_alive(lc) || lc->children[LC_MAIN].exec_pending)
        return 0;
    return lc->state == LC_RUNNING || lc->state == LC_READY || lc->state == LC_DRAINING ||
           lc->state == LC_STOPPING;
}

static void on_child_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    switch (ev->child) {
    case LC_VALIDATE:
        on_validate_exited(lc, ev, out);
        return;
    case LC_ACTION:
        on_action_exited(lc, ev, out);
        return;
    default:
        break;
    }
    const struct lc_child *c = &lc->children[LC_MAIN];
    if (lc->state == LC_RESTARTING &&
        (lc->restart_phase == LC_RS_DELAY || lc->restart_phase == LC_RS_STOPPING))
        respawn_after_stop(lc, ev, out);
    else if (!c->exec_error_code && (lc->state == LC_RUNNING || lc->state == LC_READY) &&
             policy_restarts(lc, ev->status))
        crash_restart(lc, ev, out);
    else
        on_main_exited(lc, ev, out);
}

static void on_start(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    if (lc->state != LC_STARTING || lc->children[LC_MAIN].in_use)
        return;
    copy_text(lc->config.hash, sizeof lc->config.hash, ev->text);
    copy_text(lc->config.pending, sizeof lc->config.pending, ev->text);
    if (lc->cfg->sidecar) {
        move(lc, out, LC_RUNNING, "sidecar: watching");
        lc->ever_ready = 1;
        move(lc, out, LC_READY, "no child to wait for");
        return;
    }
    lc->children[LC_MAIN].in_use = 1;
    act(out, (struct lc_action){.type = LC_ACT_SPAWN, .child = LC_MAIN});
}

void lifecycle_step(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    memset(out, 0, sizeof *out);
    struct lc_child *c = valid_child(ev) ? &lc->children[ev->child] : NULL;
    switch (ev->type) {
    case LC_EV_START:
        on_start(lc, ev, out);
        break;
    case LC_EV_FORKED:
        if (c == NULL || !c->in_use || c->pid != 0)
            break;
        c->pid = ev->pid;
        c->exec_pending = 1;
        c->started_ms = ev->now_ms;
        if (ev->child == LC_MAIN)
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
        if (ev->child == LC_MAIN)
            on_spawn_failed(lc, out);
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
        if (c != NULL && c->in_use && ev->child == LC_MAIN && lc->cfg->stop_signal > 0 &&
            (lc->state == LC_STOPPING ||
             (lc->state == LC_RESTARTING && lc->restart_phase == LC_RS_STOPPING)))
            act_on(lc, out, LC_ACT_FORWARD, LC_MAIN, SIGCONT);
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
        else if (lc->state == LC_RESTARTING && lc->restart_phase == LC_RS_DELAY)
            restart_stop(lc, out);
        break;
    case LC_EV_STOP_TIMEOUT:
        if ((lc->state == LC_STOPPING ||
             (lc->state == LC_RESTARTING && lc->restart_phase == LC_RS_STOPPING)) &&
            main_alive(lc))
            /* code 1: the stop timeout is the reason (the executor says so;
             * it never guesses the reason from the state). */
            act(out, (struct lc_action){.type = LC_ACT_KILL_GROUP,
                                        .child = LC_MAIN,
                                        .pid = lc->children[LC_MAIN].pid,
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
        if (main_settled(lc) && (unsigned)ev->code < LC_N_REASONS)
            begin_restart(lc, out, (enum lc_reason)ev->code);
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
        if (lc->state == LC_RESTARTING && lc->restart_phase == LC_RS_BACKOFF)
            start_again(lc, out);
        break;
    case LC_EV_OLD_GROUP_GONE:
        if (lc->state == LC_RESTARTING && lc->restart_phase == LC_RS_OLD_GROUP) {
            cancel(out, LC_EV_OLD_GROUP_DEADLINE);
            start_again(lc, out);
        }
        break;
    case LC_EV_OLD_GROUP_DEADLINE:
        if (lc->state == LC_RESTARTING && lc->restart_phase == LC_RS_OLD_GROUP) {
            start_again_why(lc, out,
                            "the old child's process group still has members 5s after its "
                            "SIGKILL: starting the command anyway (it may find its port taken)");
        }
        break;
    case LC_EV_CHECK_RESULT:
        on_check_result(lc, ev, out);
        break;
    case LC_EV_READY_TIMEOUT:
        if (lc->restart_keeps_ready) {
            lc->restart_keeps_ready = 0;
            act(out, (struct lc_action){.type = LC_ACT_WARN,
                                        .why = "the restarted child is not ready after "
                                               "--ready-timeout: /readyz fails until it is"});
        }
        break;
    case LC_EV_MAINPID:
        on_mainpid(lc, ev);
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
        if (lifecycle_admin_refusal(lc, "drain") == NULL)
            lc->admin_drained = 1;
        break;
    case LC_EV_RELOAD:
        if (lifecycle_admin_refusal(lc, "reload") == NULL)
            perform_on_change(lc, ev, out, LC_REASON_ADMIN);
        break;
    case LC_N_EVENTS:
        break;
    }
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
    return main_alive(lc) ? lc->children[LC_MAIN].pid : 0;
}

int lifecycle_conditions(const struct lifecycle *lc, int64_t now_ms,
                         struct lc_condition c[LC_N_CONDITIONS])
{
    memset(c, 0, LC_N_CONDITIONS * sizeof c[0]);
    c[0].name = "child";
    c[1].name = "ready-checks";
    c[2].name = "shutdown";
    const struct lc_child *m = &lc->children[LC_MAIN];
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
        const struct lc_check *k = failing_ready_check(lc);
        c[1].failed = 1;
        if (k == NULL || !k->has_result)
            snprintf(c[1].why, sizeof c[1].why, "%.60s%s", k ? k->name : "",
                     k ? ": pending" : "pending");
        else
            snprintf(c[1].why, sizeof c[1].why, "%.60s: %.120s", k->name, k->error);
        break;
    }
    case LC_RESTARTING:
        if (lc->restart_keeps_ready)
            break;
        c[0].failed = 1;
        if (lc->restart_phase == LC_RS_BACKOFF)
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
