/* lifecycle: see lifecycle.h. */
#include "lifecycle.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "child.h"

static const char *const state_names[LC_N_STATES] = {"starting", "running", "ready",
                                                      "draining", "stopping", "exited"};

const char *lifecycle_state_name(enum lc_state s)
{
    return (unsigned)s < LC_N_STATES ? state_names[s] : "unknown";
}

void lifecycle_init(struct lifecycle *lc, const struct podvisor_config *cfg)
{
    memset(lc, 0, sizeof *lc);
    lc->cfg = cfg;
    lc->state = LC_STARTING;
    lc->drain_started_ms = -1;
    lc->drain_ended_ms = -1;
}

static void act(struct lc_result *out, struct lc_action a)
{
    if (out->nactions < LC_MAX_ACTIONS)
        out->actions[out->nactions++] = a;
}

static void move(struct lifecycle *lc, struct lc_result *out, enum lc_state to, const char *why)
{
    if (lc->state == to)
        return;
    if (out->ntransitions < LC_MAX_TRANSITIONS)
        out->transitions[out->ntransitions++] = (struct lc_transition){lc->state, to, why};
    lc->state = to;
}

static void arm(struct lc_result *out, enum lc_timer t, int64_t ms)
{
    act(out, (struct lc_action){.type = LC_ACT_ARM_TIMER, .timer = t, .ms = ms});
}

static void cancel(struct lc_result *out, enum lc_timer t)
{
    act(out, (struct lc_action){.type = LC_ACT_CANCEL_TIMER, .timer = t});
}

/* The end of the prestop delay: the child gets its stop signal, and the stop
 * timeout starts, after which its whole group is SIGKILLed. */
static void send_stop_signal(struct lifecycle *lc, struct lc_result *out)
{
    int sig = lc->cfg->stop_signal;
    if (sig <= 0)
        return; /* --rewrite TERM:0: the child is not told, only killed */
    if (sig < OPTIONS_NSIG)
        lc->forwarded[sig]++;
    act(out, (struct lc_action){.type = LC_ACT_STOP_CHILD, .sig = sig});
}

static void begin_stopping(struct lifecycle *lc, struct lc_result *out, const char *why)
{
    move(lc, out, LC_STOPPING, why);
    send_stop_signal(lc, out);
    arm(out, LC_TIMER_STOP, lc->cfg->stop_timeout_ms);
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
            arm(out, LC_TIMER_PRESTOP, lc->cfg->prestop_delay_ms);
        else
            begin_stopping(lc, out, "no prestop delay");
        break;
    case LC_DRAINING:
        cancel(out, LC_TIMER_PRESTOP);
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
    if (lc->child_pid <= 0 || lc->state == LC_EXITED)
        return;
    int as = options_rewrite(lc->cfg, ev->sig);
    if (as == 0)
        return; /* --rewrite SIG:0 drops it */
    if (as > 0 && as < OPTIONS_NSIG)
        lc->forwarded[as]++;
    act(out, (struct lc_action){.type = LC_ACT_FORWARD, .sig = as});
}

static void on_child_exited(struct lifecycle *lc, const struct lc_event *ev,
                            struct lc_result *out)
{
    lc->has_exited = 1;
    lc->last_exit_status = ev->status;
    lc->child_pid = 0;
    if (lc->drain_started_ms >= 0 && lc->drain_ended_ms < 0)
        lc->drain_ended_ms = ev->now_ms;
    lc->exit_code = options_remap_exit(lc->cfg, child_status_code(ev->status));
    cancel(out, LC_TIMER_PRESTOP);
    cancel(out, LC_TIMER_STOP);
    move(lc, out, LC_EXITED, WIFSIGNALED(ev->status) ? "child killed by a signal" : "child exited");
    act(out, (struct lc_action){.type = LC_ACT_EXIT, .code = lc->exit_code});
}

void lifecycle_step(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    memset(out, 0, sizeof *out);
    switch (ev->type) {
    case LC_EV_SPAWNED:
        if (lc->state != LC_STARTING)
            break;
        lc->child_pid = ev->pid;
        lc->child_started_ms = ev->now_ms;
        move(lc, out, LC_RUNNING, "child started");
        /* Without ready checks a running child is a ready one. */
        lc->ever_ready = 1;
        move(lc, out, LC_READY, "no ready checks");
        break;
    case LC_EV_SIGNAL:
        on_signal(lc, ev, out);
        break;
    case LC_EV_CHILD_EXITED:
        if (lc->state != LC_EXITED)
            on_child_exited(lc, ev, out);
        break;
    case LC_EV_PRESTOP_ELAPSED:
        if (lc->state == LC_DRAINING)
            begin_stopping(lc, out, "prestop delay elapsed");
        break;
    case LC_EV_STOP_TIMEOUT:
        if (lc->state == LC_STOPPING)
            act(out, (struct lc_action){.type = LC_ACT_KILL_GROUP, .sig = SIGKILL});
        break;
    }
}

int lifecycle_ready(const struct lifecycle *lc) { return lc->state == LC_READY; }

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
