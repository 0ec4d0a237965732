/* lifecycle: see lifecycle.h. The core: names, the step that routes each
 * event, readiness and the views the supervisor reads. The drain and the
 * clean-up are in lifecycle_stop.c, restarts and generations in
 * lifecycle_restart.c, config changes, validation and the admin commands
 * in lifecycle_config.c; what they share, in lifecycle_internal.h. */
#include "lifecycle_internal.h"
#include "hotpath.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "waitstatus.h"

static size_t flag(char *buf, size_t len, size_t o, const char *name, const char *value);
static void fault(struct lifecycle *lc, const char *what);
static void on_signal(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
static int valid_child(const struct lc_event *ev);
static void become_ready(struct lifecycle *lc, struct lc_result *out, const char *why);
static void on_check_result(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
static void on_child_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
static void on_start(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);

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

static const char *const event_names[LC_N_EVENTS] = {
    [LC_EV_START] = "START",
    [LC_EV_FORKED] = "FORKED",
    [LC_EV_EXEC_OK] = "EXEC_OK",
    [LC_EV_EXEC_FAILED] = "EXEC_FAILED",
    [LC_EV_SPAWN_FAILED] = "SPAWN_FAILED",
    [LC_EV_SIGNAL] = "SIGNAL",
    [LC_EV_CHILD_STOPPED] = "CHILD_STOPPED",
    [LC_EV_CHILD_CONTINUED] = "CHILD_CONTINUED",
    [LC_EV_CHILD_EXITED] = "CHILD_EXITED",
    [LC_EV_REAPED] = "REAPED",
    [LC_EV_PRESTOP_ELAPSED] = "PRESTOP_ELAPSED",
    [LC_EV_STOP_TIMEOUT] = "STOP_TIMEOUT",
    [LC_EV_CLEANUP_TERM_ELAPSED] = "CLEANUP_TERM_ELAPSED",
    [LC_EV_CLEANUP_DEADLINE] = "CLEANUP_DEADLINE",
    [LC_EV_CONFIG_CHANGED] = "CONFIG_CHANGED",
    [LC_EV_RESTART] = "RESTART",
    [LC_EV_ACTION_RESULT] = "ACTION_RESULT",
    [LC_EV_VALIDATE_TIMEOUT] = "VALIDATE_TIMEOUT",
    [LC_EV_ACTION_TIMEOUT] = "ACTION_TIMEOUT",
    [LC_EV_BACKOFF_ELAPSED] = "BACKOFF_ELAPSED",
    [LC_EV_CHECK_RESULT] = "CHECK_RESULT",
    [LC_EV_MAINPID] = "MAINPID",
    [LC_EV_NOTIFY_STATUS] = "NOTIFY_STATUS",
    [LC_EV_NOTIFY_REJECTED] = "NOTIFY_REJECTED",
    [LC_EV_DRAIN] = "DRAIN",
    [LC_EV_RELOAD] = "RELOAD",
    [LC_EV_CONNECTIONS] = "CONNECTIONS",
    [LC_EV_ENDPOINTS] = "ENDPOINTS",
    [LC_EV_OLD_GROUP_GONE] = "OLD_GROUP_GONE",
    [LC_EV_OLD_GROUP_DEADLINE] = "OLD_GROUP_DEADLINE",
    [LC_EV_READY_TIMEOUT] = "READY_TIMEOUT",
    [LC_EV_NEXT_READY] = "NEXT_READY",
    [LC_EV_NO_MEMORY] = "NO_MEMORY",
};

const char *lifecycle_event_name(enum lc_event_type t)
{
    return (unsigned)t < LC_N_EVENTS && event_names[t] ? event_names[t] : "?";
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
    if (lc->drain_idle_ended)
        o = flag(buf, len, o, "drain-idle", "ended");
    else if (lc->drain_idle_since_ms >= 0)
        o = flag(buf, len, o, "drain-idle", "no-connection");
    if (lc->last_rollback.at_ms)
        o = flag(buf, len, o, "rolled-back", lc->last_rollback.hash);
    if (cf->last_refused.at_ms)
        o = flag(buf, len, o, "refused", cf->last_refused.hash);
    if (lc->cleanup != LC_CLEANUP_NONE && (unsigned)lc->cleanup < 5)
        o = flag(buf, len, o, "cleanup", cleanups[lc->cleanup]);
    return buf;
}

/* Copies an event's text (which lives only as long as the step). */
void lc_copy_text(char *dst, size_t len, const char *src)
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
    lc->drain_connections = -1;
    lc->drain_idle_since_ms = -1;
    lc->endpoints_verdict = -1;
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
HOT_PATH void lc_act(struct lc_result *out, struct lc_action a)
{
    if (out->nactions < LC_MAX_ACTIONS)
        out->actions[out->nactions++] = a;
    else
        out->dropped++;
}

HOT_PATH void lc_act_on(const struct lifecycle *lc, struct lc_result *out, enum lc_action_type type,
                        enum lc_slot child, int sig)
{
    lc_act(out, (struct lc_action){.type = type,
                                   .child = child,
                                   .pid = lc->children[child].pid,
                                   .pgid = lc->children[child].pgid,
                                   .sig = sig});
}

HOT_PATH void lc_move(struct lifecycle *lc, struct lc_result *out, enum lc_state to,
                      const char *why)
{
    if (lc->state == to)
        return;
    if (out->ntransitions < LC_MAX_TRANSITIONS)
        out->transitions[out->ntransitions++] = (struct lc_transition){lc->state, to, why};
    else
        fault(lc, "more transitions than LC_MAX_TRANSITIONS: one not logged");
    lc->state = to;
}

HOT_PATH void lc_arm(struct lc_result *out, enum lc_event_type timer, enum lc_slot child,
                     int64_t ms)
{
    lc_act(out,
           (struct lc_action){.type = LC_ACT_ARM_TIMER, .timer = timer, .child = child, .ms = ms});
}

/* Timers are keyed by (event, child): the old generation's stop timeout
 * and a rolled-back next generation's run at once. Timers about podvisor
 * as a whole (clean-up, --ready-timeout) use slot 0. */
void lc_cancel(struct lc_result *out, enum lc_event_type timer, enum lc_slot child)
{
    lc_act(out, (struct lc_action){.type = LC_ACT_CANCEL_TIMER, .timer = timer, .child = child});
}

HOT_PATH struct lc_child *lc_cur(struct lifecycle *lc)
{
    return &lc->children[lc->current];
}

HOT_PATH int lc_main_alive(const struct lifecycle *lc)
{
    return lc->children[lc->current].in_use && lc->children[lc->current].pid > 0;
}

HOT_PATH static void on_signal(struct lifecycle *lc, const struct lc_event *ev,
                               struct lc_result *out)
{
    int as = options_rewrite(lc->cfg, ev->sig);
    /* A signal rewritten to TERM is taken as TERM: the runtime sends the
     * image's STOPSIGNAL to PID 1 (QUIT in nginx's image, so an injected
     * podvisor gets QUIT), and --rewrite QUIT:TERM makes it the drain. */
    if (ev->sig == SIGTERM || (ev->sig != SIGTERM && as == SIGTERM) ||
        (lc->cfg->sidecar && ev->sig == SIGINT)) {
        /* Rewritten once: a signal made TERM by --rewrite gets the app
         * TERM, not TERM's own rewrite; the stop signal it starts (or
         * repeats) follows the event that asks for it. */
        lc->drain_signal =
            ev->sig != SIGTERM && as == SIGTERM && !lc->cfg->stop_signal_given ? SIGTERM : 0;
        lc_on_sigterm(lc, ev, out);
        return;
    }
    if (!lc_main_alive(lc) || lc->state == LC_EXITED)
        return;
    if (as == 0)
        return; /* --rewrite SIG:0 drops it */
    if (as > 0 && as < OPTIONS_NSIG)
        lc->forwarded[as]++;
    lc_act_on(lc, out, LC_ACT_FORWARD, lc->current, as);
}

HOT_PATH static int valid_child(const struct lc_event *ev)
{
    return ev->child >= 0 && ev->child < LC_MAX_CHILDREN;
}

static void become_ready(struct lifecycle *lc, struct lc_result *out, const char *why)
{
    lc_restart_done(lc);
    lc->ever_ready = lc->ready_since_start = 1;
    lc_end_keep_ready(lc, out);
    lc_move(lc, out, LC_READY, why);
}

void lc_on_exec_ok(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    struct lc_child *c = &lc->children[ev->child];
    c->exec_pending = 0;
    if (ev->child != lc->current)
        return;
    if (lc->state == LC_STARTING) {
        lc_move(lc, out, LC_RUNNING, "child started");
    } else if (lc->state == LC_RESTART_STARTING) {
        lc_move(lc, out, LC_RUNNING, "child started again");
        if (lc->restart_reason != LC_REASON_CRASH && lc->config.last_action.pending) {
            char text[64];
            snprintf(text, sizeof text, "restart: child %d started",
                     (int)lc->children[lc->current].pid);
            lc_action_result(lc, ev, 1, text);
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
const struct lc_check *lc_failing_ready_check(const struct lifecycle *lc)
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
        lc_copy_text(k->error, sizeof k->error, ev->text ? ev->text : "failed");
    }
    if (k->live)
        return;
    const struct lc_check *failing = lc_failing_ready_check(lc);
    if (lc->state == LC_RUNNING && failing == NULL) {
        become_ready(lc, out, "ready checks pass");
    } else if (lc->state == LC_READY && failing != NULL) {
        snprintf(lc->check_why, sizeof lc->check_why, "ready check %.60s: %.120s", failing->name,
                 failing->error);
        lc_move(lc, out, LC_RUNNING, lc->check_why);
    }
}

int lifecycle_checks_wanted(const struct lifecycle *lc)
{
    if (lc->n_checks == 0 || !lc_main_alive(lc) || lc->children[lc->current].exec_pending)
        return 0;
    return lc->state == LC_RUNNING || lc->state == LC_READY || lc->state == LC_DRAINING ||
           lc->state == LC_STOPPING || lc->state == LC_RESTART_NEXT;
}

static void on_child_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    switch (ev->child) {
    case LC_VALIDATE:
        lc_on_validate_exited(lc, ev, out);
        lc_resume_after_verdict(lc, ev, out);
        return;
    case LC_ACTION:
        lc_on_action_exited(lc, ev, out);
        return;
    default:
        break;
    }
    if (ev->child != lc->current) {
        lc_on_other_exited(lc, ev, out);
        return;
    }
    const struct lc_child *c = &lc->children[lc->current];
    if (lc->state == LC_RESTART_NEXT)
        lc_current_exited_during_next(lc, ev, out);
    else if (lc->state == LC_RESTART_DELAY || lc->state == LC_RESTART_STOPPING)
        lc_respawn_after_stop(lc, ev, out);
    else if (!c->exec_error_code && (lc->state == LC_RUNNING || lc->state == LC_READY) &&
             lc_policy_restarts(lc, ev->status))
        lc_crash_restart(lc, ev, out);
    else
        lc_on_main_exited(lc, ev, out);
}

static void on_start(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    if (lc->state != LC_STARTING || lc->children[lc->current].in_use)
        return;
    lc_copy_text(lc->config.hash, sizeof lc->config.hash, ev->text);
    lc_copy_text(lc->config.pending, sizeof lc->config.pending, ev->text);
    if (lc->cfg->sidecar) {
        lc_move(lc, out, LC_RUNNING, "sidecar: watching");
        lc->ever_ready = 1;
        lc_move(lc, out, LC_READY, "no child to wait for");
        return;
    }
    lc->children[lc->current].in_use = 1;
    lc_act(out, (struct lc_action){.type = LC_ACT_SPAWN, .child = lc->current});
}

static void on_forked(struct lifecycle *lc, const struct lc_event *ev, struct lc_child *c)
{
    c->pid = ev->pid;
    c->pgid = ev->pid; /* child_spawn makes it its group's leader */
    c->exec_pending = 1;
    c->started_ms = ev->now_ms;
    if (ev->child == lc->current)
        lc->main_started_ms = ev->now_ms;
}

static void on_exec_failed(struct lifecycle *lc, const struct lc_event *ev, struct lc_child *c,
                           struct lc_result *out)
{
    c->exec_pending = 0;
    c->exec_error_code = ev->code;
    /* When the exec failed the child is about to _exit; when its result
     * was lost it may be running: either way it must go. */
    lc_act_on(lc, out, LC_ACT_KILL_GROUP, ev->child, SIGKILL);
}

/* No process could be made: for the main child podvisor fails, for a next
 * generation the restart goes stop-first, for a helper it is as if it
 * exited 127. */
static void on_spawn_failed(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    if (ev->child == lc->current)
        lc_on_spawn_failed(lc, ev, out);
    else if (lifecycle_is_generation(ev->child))
        lc_next_spawn_failed(lc, out,
                             "the next generation could not be started beside the current one: "
                             "restarting stop-first instead");
    else
        lc_on_helper_spawn_failed(lc, ev, out);
}

static void on_child_stopped(struct lifecycle *lc, const struct lc_event *ev, struct lc_child *c,
                             struct lc_result *out)
{
    c->stopped_by = ev->sig;
    /* The stop may be reported after the stop signal went out: the
     * signalfd hands TERM (15) over before CHLD (17) when both are
     * pending. A child stopped now would sit on its stop signal until
     * the SIGKILL, so it is continued at once. */
    if (ev->child == lc->current && lc->cfg->stop_signal > 0 &&
        (lc->state == LC_STOPPING || lc->state == LC_RESTART_STOPPING))
        lc_act_on(lc, out, LC_ACT_FORWARD, lc->current, SIGCONT);
}

HOT_PATH void lifecycle_step(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    memset(out, 0, sizeof *out);
    lc->now_ms = ev->now_ms;
    struct lc_child *c = valid_child(ev) ? &lc->children[ev->child] : NULL;
    switch (ev->type) {
    case LC_EV_START:
        on_start(lc, ev, out);
        break;
    case LC_EV_FORKED:
        if (c != NULL && c->in_use && c->pid == 0)
            on_forked(lc, ev, c);
        break;
    case LC_EV_EXEC_OK:
        if (c != NULL && c->exec_pending)
            lc_on_exec_ok(lc, ev, out);
        break;
    case LC_EV_EXEC_FAILED:
        if (c != NULL && c->exec_pending)
            on_exec_failed(lc, ev, c, out);
        break;
    case LC_EV_SPAWN_FAILED:
        if (c != NULL && c->in_use && c->pid == 0)
            on_spawn_failed(lc, ev, out);
        break;
    case LC_EV_SIGNAL:
        on_signal(lc, ev, out);
        break;
    case LC_EV_CHILD_STOPPED:
        if (c != NULL && c->in_use)
            on_child_stopped(lc, ev, c, out);
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
        lc_on_reaped(lc, ev, out);
        break;
    case LC_EV_PRESTOP_ELAPSED:
        lc_on_prestop_elapsed(lc, out);
        break;
    case LC_EV_STOP_TIMEOUT:
        if (c != NULL)
            lc_on_stop_timeout(lc, ev, out);
        break;
    case LC_EV_CLEANUP_TERM_ELAPSED:
        lc_on_cleanup_term_elapsed(lc, out);
        break;
    case LC_EV_CLEANUP_DEADLINE:
        lc_on_cleanup_deadline(lc, out);
        break;
    case LC_EV_CONFIG_CHANGED:
        lc_on_config_changed(lc, ev, out);
        break;
    case LC_EV_RESTART:
        if (lifecycle_admin_refusal(lc, LC_ADMIN_RESTART) == NULL &&
            (unsigned)ev->code < LC_N_REASONS)
            lc_restart_main(lc, out, (enum lc_reason)ev->code);
        break;
    case LC_EV_ACTION_RESULT:
        lc_action_result(lc, ev, ev->code, ev->text);
        break;
    case LC_EV_VALIDATE_TIMEOUT:
        lc_on_helper_timeout(lc, out, LC_VALIDATE);
        break;
    case LC_EV_ACTION_TIMEOUT:
        lc_on_helper_timeout(lc, out, LC_ACTION);
        break;
    case LC_EV_BACKOFF_ELAPSED:
    case LC_EV_OLD_GROUP_GONE:
    case LC_EV_OLD_GROUP_DEADLINE:
        lc_on_restart_timer(lc, ev, out);
        break;
    case LC_EV_CHECK_RESULT:
        on_check_result(lc, ev, out);
        break;
    case LC_EV_NEXT_READY:
    case LC_EV_NO_MEMORY:
    case LC_EV_READY_TIMEOUT:
        lc_on_next_generation_event(lc, ev, out);
        break;
    case LC_EV_MAINPID:
        lc_on_mainpid(lc, ev, out);
        break;
    case LC_EV_NOTIFY_STATUS:
        lc->notify.messages++;
        if (ev->text != NULL)
            lc_copy_text(lc->notify.status, sizeof lc->notify.status, ev->text);
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
            lc_perform_on_change(lc, ev, out, LC_REASON_ADMIN);
        break;
    case LC_EV_CONNECTIONS:
        lc_on_connections(lc, ev, out);
        break;
    case LC_EV_ENDPOINTS:
        lc_on_endpoints(lc, ev, out);
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

HOT_PATH const char *lifecycle_new_fault(const struct lifecycle *lc, unsigned *seen)
{
    if (lc->faults == *seen)
        return NULL;
    *seen = lc->faults;
    return lc->fault;
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
    return lc_main_alive(lc) ? lc->children[lc->current].pid : 0;
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
        k = lc_failing_ready_check(lc);
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
        if ((k = lc_failing_ready_check(lc)) != NULL) {
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
