/* lifecycle: see lifecycle.h. */
#include "lifecycle.h"

#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "child.h"
#include "parse.h"

static const char *const state_names[LC_N_STATES] = {"starting", "running", "ready",
                                                      "draining", "stopping", "exited"};

const char *lifecycle_state_name(enum lc_state s)
{
    return (unsigned)s < LC_N_STATES ? state_names[s] : "unknown";
}

const char *lifecycle_role_name(enum lc_role r) { return r == LC_MAIN ? "main" : "unknown"; }

void lifecycle_init(struct lifecycle *lc, const struct podvisor_config *cfg)
{
    memset(lc, 0, sizeof *lc);
    lc->cfg = cfg;
    lc->state = LC_STARTING;
    lc->drain_started_ms = -1;
    lc->drain_ended_ms = -1;
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
    act(out, (struct lc_action){.type = type, .child = child, .pid = lc->children[child].pid,
                                .sig = sig});
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
    act(out, (struct lc_action){.type = LC_ACT_ARM_TIMER, .timer = timer, .child = child,
                                .ms = ms});
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

static void begin_stopping(struct lifecycle *lc, struct lc_result *out, const char *why)
{
    move(lc, out, LC_STOPPING, why);
    send_stop_signal(lc, out);
    arm(out, LC_EV_STOP_TIMEOUT, LC_MAIN, lc->cfg->stop_timeout_ms);
}

static void on_sigterm(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    switch (lc->state) {
    case LC_STARTING:
    case LC_RUNNING:
    case LC_READY:
        /* KUBERNETES.md: endpoints learn of the deletion seconds after it
         * starts, so readiness fails now and the app keeps serving for the
         * prestop delay while traffic drains away. */
        lc->drain_started_ms = ev->now_ms;
        move(lc, out, LC_DRAINING, "SIGTERM");
        if (lc->cfg->prestop_delay_ms > 0)
            arm(out, LC_EV_PRESTOP_ELAPSED, LC_MAIN, lc->cfg->prestop_delay_ms);
        else
            begin_stopping(lc, out, "no prestop delay");
        break;
    case LC_DRAINING:
        cancel(out, LC_EV_PRESTOP_ELAPSED);
        begin_stopping(lc, out, "second SIGTERM");
        break;
    case LC_STOPPING:
        /* Asked again: repeat the stop signal; the deadline stays. */
        send_stop_signal(lc, out);
        break;
    case LC_EXITED:
        break;
    }
}

static void on_signal(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    if (ev->sig == SIGTERM) {
        on_sigterm(lc, ev, out);
        return;
    }
    if (!main_alive(lc) || lc->state == LC_EXITED)
        return;
    int as = options_rewrite(lc->cfg, ev->sig);
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

static void on_main_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    struct lc_child *c = &lc->children[LC_MAIN];
    int exec_error = c->exec_error_code;
    memset(c, 0, sizeof *c);
    lc->has_exited = 1;
    lc->last_exit_status = ev->status;
    if (lc->drain_started_ms >= 0 && lc->drain_ended_ms < 0)
        lc->drain_ended_ms = ev->now_ms;
    /* A failed exec _exit()s with 127 whatever the cause: its own code
     * (126 or 127) came through the exec-result pipe. */
    lc->exit_code =
        exec_error ? exec_error : options_remap_exit(lc->cfg, child_status_code(ev->status));
    cancel(out, LC_EV_PRESTOP_ELAPSED);
    cancel(out, LC_EV_STOP_TIMEOUT);
    const char *why = "child exited";
    if (exec_error)
        why = "the child could not be executed";
    else if (child_exit_signaled(ev->status))
        why = "child killed by a signal";
    move(lc, out, LC_EXITED, why);
    /* Whether anything is left to clean up, the next LC_EV_REAPED says. */
    lc->cleanup = LC_CLEANUP_REAPING;
}

/* After each reap pass: with the main child gone, what is left of its
 * process tree is stopped (TERM, then KILL), and podvisor exits once it has
 * no child left. Orphans re-parented to podvisor while it kills (the
 * children of a process it just killed) get SIGKILL on the pass that sees
 * them: nothing is waited for blocking, and a deadline bounds the whole. */
static void on_reaped(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    if (lc->state != LC_EXITED || lc->cleanup == LC_CLEANUP_DONE ||
        lc->cleanup == LC_CLEANUP_NONE)
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
        act(out, (struct lc_action){.type = LC_ACT_SIGNAL_REMAINING, .sig = SIGTERM,
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
    act(out, (struct lc_action){.type = LC_ACT_SIGNAL_REMAINING, .sig = SIGKILL,
                                .why = "processes left behind did not exit on SIGTERM: "
                                       "SIGKILL"});
    arm(out, LC_EV_CLEANUP_DEADLINE, LC_MAIN, LC_CLEANUP_KILL_MS);
}

static void on_cleanup_deadline(struct lifecycle *lc, struct lc_result *out)
{
    if (lc->cleanup != LC_CLEANUP_KILL)
        return;
    lc->cleanup = LC_CLEANUP_DONE;
    act(out, (struct lc_action){.type = LC_ACT_EXIT, .code = lc->exit_code,
                                .why = "processes left behind were not reaped in time; "
                                       "exiting anyway"});
}

static int valid_child(const struct lc_event *ev)
{
    return ev->child >= 0 && ev->child < LC_MAX_CHILDREN;
}

void lifecycle_step(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    memset(out, 0, sizeof *out);
    struct lc_child *c = valid_child(ev) ? &lc->children[ev->child] : NULL;
    switch (ev->type) {
    case LC_EV_START:
        if (lc->state != LC_STARTING || lc->children[LC_MAIN].in_use)
            break;
        lc->children[LC_MAIN].in_use = 1;
        act(out, (struct lc_action){.type = LC_ACT_SPAWN, .child = LC_MAIN});
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
        if (c == NULL || !c->exec_pending)
            break;
        c->exec_pending = 0;
        if (ev->child == LC_MAIN && lc->state == LC_STARTING) {
            move(lc, out, LC_RUNNING, "child started");
            /* Without ready checks a running child is a ready one. */
            lc->ever_ready = 1;
            move(lc, out, LC_READY, "no ready checks");
        }
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
        if (c != NULL && c->in_use && c->pid == 0 && ev->child == LC_MAIN)
            on_spawn_failed(lc, out);
        break;
    case LC_EV_SIGNAL:
        on_signal(lc, ev, out);
        break;
    case LC_EV_CHILD_STOPPED:
        if (c != NULL && c->in_use)
            c->stopped_by = ev->sig;
        break;
    case LC_EV_CHILD_CONTINUED:
        if (c != NULL && c->in_use)
            c->stopped_by = 0;
        break;
    case LC_EV_CHILD_EXITED:
        if (c != NULL && c->in_use && ev->child == LC_MAIN)
            on_main_exited(lc, ev, out);
        break;
    case LC_EV_REAPED:
        on_reaped(lc, ev, out);
        break;
    case LC_EV_PRESTOP_ELAPSED:
        if (lc->state == LC_DRAINING)
            begin_stopping(lc, out, "prestop delay elapsed");
        break;
    case LC_EV_STOP_TIMEOUT:
        if (lc->state == LC_STOPPING && main_alive(lc))
            act_on(lc, out, LC_ACT_KILL_GROUP, LC_MAIN, SIGKILL);
        break;
    case LC_EV_CLEANUP_TERM_ELAPSED:
        on_cleanup_term_elapsed(lc, out);
        break;
    case LC_EV_CLEANUP_DEADLINE:
        on_cleanup_deadline(lc, out);
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
        if (lc->has_exited && child_exit_signaled(lc->last_exit_status))
            snprintf(c[0].why, sizeof c[0].why, "exited: %s",
                     child_exit_describe(lc->last_exit_status, name, sizeof name));
        else if (lc->has_exited)
            child_exit_describe(lc->last_exit_status, c[0].why, sizeof c[0].why);
        else
            snprintf(c[0].why, sizeof c[0].why, "could not be started");
        break;
    case LC_RUNNING:
        c[1].failed = 1;
        snprintf(c[1].why, sizeof c[1].why, "pending");
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

int lifecycle_live(const struct lifecycle *lc)
{
    return lc->state != LC_EXITED && lc->state != LC_STARTING;
}

int lifecycle_started(const struct lifecycle *lc) { return lc->ever_ready; }

double lifecycle_drain_seconds(const struct lifecycle *lc, int64_t now_ms)
{
    if (lc->drain_started_ms < 0)
        return 0.0;
    int64_t end = lc->drain_ended_ms >= 0 ? lc->drain_ended_ms : now_ms;
    return (double)(end - lc->drain_started_ms) / 1000.0;
}
