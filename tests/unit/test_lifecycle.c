/* Unit tests for src/lifecycle.c: the state machine fed with events, no
 * forking, time supplied by the test. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lifecycle.h"

static struct podvisor_config cfg;
static struct lifecycle lc;
static struct lc_result res;

static void setup_cfg(int64_t delay, int64_t timeout, int stop_signal)
{
    memset(&cfg, 0, sizeof cfg);
    for (int i = 0; i < OPTIONS_NSIG; i++)
        cfg.rewrite[i] = -1;
    cfg.prestop_delay_ms = delay;
    cfg.stop_timeout_ms = timeout;
    cfg.grace_ms = 30000;
    cfg.stop_signal = stop_signal;
    lifecycle_init(&lc, &cfg);
}

static void step(enum lc_event_type type, int64_t now, int arg)
{
    struct lc_event ev = {.type = type, .now_ms = now, .child = LC_GEN_A};
    if (type == LC_EV_SIGNAL || type == LC_EV_CHILD_STOPPED)
        ev.sig = arg;
    else if (type == LC_EV_CHILD_EXITED)
        ev.status = arg;
    else if (type == LC_EV_FORKED)
        ev.pid = arg;
    else if (type == LC_EV_EXEC_FAILED)
        ev.code = arg;
    else if (type == LC_EV_REAPED)
        ev.left = arg;
    lifecycle_step(&lc, &ev, &res);
}

/* The index of the first action of `type` in the last result, or -1. */
static int find(enum lc_action_type type)
{
    for (int i = 0; i < res.nactions; i++)
        if (res.actions[i].type == type)
            return i;
    return -1;
}

static void start(void)
{
    step(LC_EV_START, 1000, 0);
    step(LC_EV_FORKED, 1000, 42);
    step(LC_EV_EXEC_OK, 1000, 0);
}

static void connections(int64_t now, int n)
{
    lifecycle_step(&lc, &(struct lc_event){.type = LC_EV_CONNECTIONS, .now_ms = now, .code = n},
                   &res);
}

static void endpoints(int64_t now, enum lc_endpoints verdict)
{
    lifecycle_step(&lc,
                   &(struct lc_event){.type = LC_EV_ENDPOINTS, .now_ms = now, .code = (int)verdict},
                   &res);
}

/* The PRESTOP_ELAPSED timer the last step armed, in ms; -1: none. */
static int64_t prestop_armed(void)
{
    for (int i = 0; i < res.nactions; i++)
        if (res.actions[i].type == LC_ACT_ARM_TIMER &&
            res.actions[i].timer == LC_EV_PRESTOP_ELAPSED)
            return res.actions[i].ms;
    return -1;
}

/* --drain-endpoints: watched only while the prestop wait runs; not ready
 * moves the wait's end to a settle from now, never later than the bound
 * and never sooner than --drain-min; the timer's firing says why. */
static void drain_endpoints_moves_the_wait_earlier_never_later(void **state)
{
    (void)state;
    setup_cfg(20000, 5000, SIGTERM);
    cfg.drain_endpoints = 1;
    cfg.drain_settle_ms = 2000;
    cfg.drain_min_ms = 0;
    start();
    assert_false(lifecycle_watches_endpoints(&lc));
    endpoints(1500, LC_ENDPOINTS_NOT_READY); /* before SIGTERM: not taken */
    assert_int_equal(lifecycle_endpoints_verdict(&lc), -1);
    step(LC_EV_SIGNAL, 2000, SIGTERM);
    assert_int_equal(lc.state, LC_DRAINING);
    assert_true(lifecycle_watches_endpoints(&lc));
    endpoints(2700, LC_ENDPOINTS_NOT_READY);
    assert_int_equal(prestop_armed(), 2000);
    assert_false(lifecycle_watches_endpoints(&lc));
    assert_int_equal(lifecycle_endpoints_verdict(&lc), LC_ENDPOINTS_NOT_READY);
    endpoints(2800, LC_ENDPOINTS_NOT_READY); /* a verdict is taken once */
    assert_int_equal(res.nactions, 0);
    step(LC_EV_PRESTOP_ELAPSED, 4700, 0);
    assert_int_equal(lc.state, LC_STOPPING);
    assert_int_equal(res.transitions[0].from, LC_DRAINING);
    assert_string_equal(res.transitions[0].why,
                        "the endpoints show the pod not ready and --drain-settle passed");
    assert_true(find(LC_ACT_STOP_CHILD) >= 0);

    /* Too late to matter: the bound stays, and says it is the delay. */
    setup_cfg(3000, 5000, SIGTERM);
    cfg.drain_endpoints = 1;
    cfg.drain_settle_ms = 2000;
    start();
    step(LC_EV_SIGNAL, 2000, SIGTERM);
    endpoints(3500, LC_ENDPOINTS_NOT_READY);
    assert_int_equal(res.nactions, 0);
    step(LC_EV_PRESTOP_ELAPSED, 5000, 0);
    assert_string_equal(res.transitions[0].why, "prestop delay elapsed");

    /* Not being deleted: --drain-min from SIGTERM, at once when it passed. */
    setup_cfg(20000, 5000, SIGTERM);
    cfg.drain_endpoints = 1;
    cfg.drain_settle_ms = 2000;
    cfg.drain_min_ms = 1000;
    start();
    step(LC_EV_SIGNAL, 2000, SIGTERM);
    endpoints(2100, LC_ENDPOINTS_NOT_DELETING);
    assert_int_equal(prestop_armed(), 900);
    setup_cfg(20000, 5000, SIGTERM);
    cfg.drain_endpoints = 1;
    cfg.drain_min_ms = 0;
    start();
    step(LC_EV_SIGNAL, 2000, SIGTERM);
    endpoints(2100, LC_ENDPOINTS_NOT_DELETING);
    assert_int_equal(lc.state, LC_STOPPING);
    assert_true(find(LC_ACT_CANCEL_TIMER) >= 0);
    assert_true(find(LC_ACT_STOP_CHILD) >= 0);

    /* Not ready after --drain-min is what bounds it from below. */
    setup_cfg(20000, 5000, SIGTERM);
    cfg.drain_endpoints = 1;
    cfg.drain_settle_ms = 500;
    cfg.drain_min_ms = 5000;
    start();
    step(LC_EV_SIGNAL, 2000, SIGTERM);
    endpoints(2100, LC_ENDPOINTS_NOT_READY);
    assert_int_equal(prestop_armed(), 4900);

    /* Unknown: the fixed wait, and no more watching. */
    setup_cfg(20000, 5000, SIGTERM);
    cfg.drain_endpoints = 1;
    start();
    step(LC_EV_SIGNAL, 2000, SIGTERM);
    endpoints(2100, LC_ENDPOINTS_UNKNOWN);
    assert_int_equal(res.nactions, 0);
    assert_false(lifecycle_watches_endpoints(&lc));
    step(LC_EV_PRESTOP_ELAPSED, 22000, 0);
    assert_int_equal(lc.state, LC_STOPPING);

    /* A second SIGTERM ends the wait and the watch. */
    setup_cfg(20000, 5000, SIGTERM);
    cfg.drain_endpoints = 1;
    start();
    step(LC_EV_SIGNAL, 2000, SIGTERM);
    step(LC_EV_SIGNAL, 2100, SIGTERM);
    assert_int_equal(lc.state, LC_STOPPING);
    assert_false(lifecycle_watches_endpoints(&lc));
    endpoints(2200, LC_ENDPOINTS_NOT_READY);
    assert_int_equal(res.nactions, 0);

    /* No prestop delay: nothing to shorten, nothing watched. */
    setup_cfg(0, 5000, SIGTERM);
    cfg.drain_endpoints = 1;
    start();
    step(LC_EV_SIGNAL, 2000, SIGTERM);
    assert_false(lifecycle_watches_endpoints(&lc));
}

/* --drain-idle: after the stop signal, 0 connections held for the settle
 * ends the drain with SIGKILL to the group; any connection restarts the
 * settle; before the stop signal nothing counts. */
static void drain_idle_ends_the_drain_once_no_connection_is_left(void **state)
{
    setup_cfg(1000, 20000, SIGTERM);
    cfg.drain_idle = 1;
    start();
    assert_false(lifecycle_counts_connections(&lc));
    assert_int_equal(lifecycle_drain_connections(&lc), -1);
    step(LC_EV_SIGNAL, 2000, SIGTERM);
    assert_int_equal(lc.state, LC_DRAINING);
    assert_false(lifecycle_counts_connections(&lc)); /* the prestop delay serves on */
    step(LC_EV_PRESTOP_ELAPSED, 3000, 0);
    assert_int_equal(lc.state, LC_STOPPING);
    assert_true(lifecycle_counts_connections(&lc));
    connections(3000, 2);
    assert_int_equal(lifecycle_drain_connections(&lc), 2);
    connections(3100, 0);
    connections(3500, 0);
    assert_int_equal(find(LC_ACT_KILL_GROUP), -1); /* 400 ms of 500 */
    connections(3550, 1);                          /* one more: the settle starts over */
    connections(3600, 0);
    connections(4000, 0);
    assert_int_equal(find(LC_ACT_KILL_GROUP), -1);
    connections(4100, 0);
    int k = find(LC_ACT_KILL_GROUP);
    assert_true(k >= 0);
    assert_int_equal(res.actions[k].pid, 42);
    assert_int_equal(res.actions[k].code, 0); /* not the stop timeout's line */
    assert_non_null(res.actions[k].why);
    assert_false(lifecycle_counts_connections(&lc)); /* once */
    connections(4200, 0);
    assert_int_equal(find(LC_ACT_KILL_GROUP), -1);

    /* Without --drain-idle a count changes nothing. */
    setup_cfg(0, 20000, SIGTERM);
    start();
    step(LC_EV_SIGNAL, 2000, SIGTERM);
    assert_int_equal(lc.state, LC_STOPPING);
    assert_false(lifecycle_counts_connections(&lc));
    connections(2000, 0);
    connections(9000, 0);
    assert_int_equal(find(LC_ACT_KILL_GROUP), -1);
}

/* The runtime sends the image's STOPSIGNAL (QUIT in nginx's image) to PID
 * 1: rewritten to TERM, it starts the drain, not a forward. */
static void a_signal_rewritten_to_term_drains(void **state)
{
    setup_cfg(1000, 5000, SIGQUIT);
    cfg.stop_signal_given = 1; /* --stop-signal QUIT --rewrite QUIT:TERM */
    cfg.rewrite[SIGQUIT] = SIGTERM;
    start();
    step(LC_EV_SIGNAL, 1100, SIGQUIT);
    assert_int_equal(lc.state, LC_DRAINING);
    assert_int_equal(find(LC_ACT_FORWARD), -1);
    step(LC_EV_PRESTOP_ELAPSED, 2100, 0);
    assert_int_equal(res.actions[find(LC_ACT_STOP_CHILD)].sig, SIGQUIT);
    /* Without the rewrite, QUIT is forwarded as any signal. */
    setup_cfg(1000, 5000, SIGQUIT);
    start();
    step(LC_EV_SIGNAL, 1100, SIGQUIT);
    assert_int_equal(lc.state, LC_READY);
    assert_int_equal(res.actions[find(LC_ACT_FORWARD)].sig, SIGQUIT);
}

/* The executor logs "still running after --stop-timeout" only when the
 * lifecycle says that is the reason, never for a failed exec. */
static void kill_group_carries_its_reason(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    start();
    step(LC_EV_SIGNAL, 1100, SIGTERM);
    step(LC_EV_STOP_TIMEOUT, 6100, 0);
    assert_int_equal(res.actions[find(LC_ACT_KILL_GROUP)].code, 1);
    setup_cfg(0, 5000, SIGTERM);
    step(LC_EV_START, 1000, 0);
    step(LC_EV_FORKED, 1000, 42);
    step(LC_EV_EXEC_FAILED, 1000, 127);
    assert_int_equal(res.actions[find(LC_ACT_KILL_GROUP)].code, 0);
}

static void spawn_makes_ready(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    assert_int_equal(lc.state, LC_STARTING);
    assert_false(lifecycle_ready(&lc));
    assert_false(lifecycle_started(&lc));
    /* spawning is an action: the lifecycle asks, the supervisor forks */
    step(LC_EV_START, 1000, 0);
    assert_int_equal(res.nactions, 1);
    assert_int_equal(res.actions[0].type, LC_ACT_SPAWN);
    assert_int_equal(res.actions[0].child, LC_GEN_A);
    step(LC_EV_START, 1000, 0); /* never twice */
    assert_int_equal(res.nactions, 0);
    step(LC_EV_FORKED, 1000, 42);
    assert_int_equal(lc.state, LC_STARTING); /* exec still pending */
    assert_int_equal(lifecycle_child_by_pid(&lc, 42), LC_GEN_A);
    assert_int_equal(lifecycle_child_by_pid(&lc, 43), -1); /* an orphan */
    assert_false(lifecycle_ready(&lc));
    step(LC_EV_EXEC_OK, 1000, 0);
    assert_int_equal(lc.state, LC_READY);
    assert_int_equal(lifecycle_main_pid(&lc), 42);
    assert_int_equal(res.ntransitions, 2); /* starting -> running -> ready, each logged */
    assert_true(lifecycle_ready(&lc));
    assert_true(lifecycle_live(&lc));
    assert_true(lifecycle_started(&lc));
}

static void sigterm_with_delay_drains_then_stops(void **state)
{
    setup_cfg(5000, 20000, SIGQUIT);
    start();
    step(LC_EV_SIGNAL, 2000, SIGTERM);
    assert_int_equal(lc.state, LC_DRAINING);
    assert_false(lifecycle_ready(&lc));            /* readiness fails at once */
    assert_true(lifecycle_live(&lc));              /* liveness stays */
    assert_int_equal(find(LC_ACT_STOP_CHILD), -1); /* the child keeps running */
    int a = find(LC_ACT_ARM_TIMER);
    assert_true(a >= 0);
    assert_int_equal(res.actions[a].timer, LC_EV_PRESTOP_ELAPSED);
    assert_int_equal(res.actions[a].ms, 5000);

    step(LC_EV_PRESTOP_ELAPSED, 7000, 0);
    assert_int_equal(lc.state, LC_STOPPING);
    a = find(LC_ACT_STOP_CHILD);
    assert_true(a >= 0);
    assert_int_equal(res.actions[a].sig, SIGQUIT);
    a = find(LC_ACT_ARM_TIMER);
    assert_int_equal(res.actions[a].timer, LC_EV_STOP_TIMEOUT);
    assert_int_equal(res.actions[a].ms, 20000);
    assert_true(lifecycle_live(&lc));

    step(LC_EV_STOP_TIMEOUT, 27000, 0);
    a = find(LC_ACT_KILL_GROUP);
    assert_true(a >= 0);
    assert_int_equal(res.actions[a].child, LC_GEN_A);
    assert_int_equal(res.actions[a].pid, 42);
    step(LC_EV_CHILD_EXITED, 27005, SIGKILL); /* raw wait status: killed by 9 */
    assert_int_equal(lc.state, LC_EXITED);
    assert_int_equal(find(LC_ACT_EXIT), -1); /* not before the reap pass says what is left */
    step(LC_EV_REAPED, 27005, 0);
    a = find(LC_ACT_EXIT);
    assert_true(a >= 0);
    assert_int_equal(res.actions[a].code, 137);
    assert_int_equal(lc.exit_code, 137);
    assert_true(lifecycle_drain_seconds(&lc, 99999) > 25.0 - 1e-9);
    assert_true(lifecycle_drain_seconds(&lc, 99999) < 25.01);
    assert_false(lifecycle_live(&lc));
}

static void sigterm_without_delay_stops_at_once(void **state)
{
    setup_cfg(0, 28000, SIGTERM);
    start();
    step(LC_EV_SIGNAL, 2000, SIGTERM);
    assert_int_equal(lc.state, LC_STOPPING);
    assert_int_equal(res.ntransitions, 2); /* ready -> draining -> stopping */
    assert_int_equal(res.transitions[0].to, LC_DRAINING);
    assert_int_equal(res.actions[find(LC_ACT_STOP_CHILD)].sig, SIGTERM);
}

static void second_sigterm_cuts_delay(void **state)
{
    setup_cfg(10000, 5000, SIGTERM);
    start();
    step(LC_EV_SIGNAL, 2000, SIGTERM);
    assert_int_equal(lc.state, LC_DRAINING);
    step(LC_EV_SIGNAL, 2500, SIGTERM);
    assert_int_equal(lc.state, LC_STOPPING);
    int c = find(LC_ACT_CANCEL_TIMER);
    assert_true(c >= 0);
    assert_int_equal(res.actions[c].timer, LC_EV_PRESTOP_ELAPSED);
    assert_true(find(LC_ACT_STOP_CHILD) >= 0);
    /* the delay timer firing late changes nothing any more */
    step(LC_EV_PRESTOP_ELAPSED, 12000, 0);
    assert_int_equal(res.nactions, 0);
    assert_int_equal(lc.state, LC_STOPPING);
    /* a third SIGTERM repeats the stop signal, without a new deadline */
    step(LC_EV_SIGNAL, 3000, SIGTERM);
    assert_true(find(LC_ACT_STOP_CHILD) >= 0);
    assert_int_equal(find(LC_ACT_ARM_TIMER), -1);
}

static void child_exit_during_delay_exits_at_once(void **state)
{
    setup_cfg(10000, 5000, SIGTERM);
    start();
    step(LC_EV_SIGNAL, 2000, SIGTERM);
    step(LC_EV_CHILD_EXITED, 3000, 3 << 8); /* exit(3) */
    assert_int_equal(lc.state, LC_EXITED);
    assert_true(find(LC_ACT_CANCEL_TIMER) >= 0);
    assert_int_equal(find(LC_ACT_STOP_CHILD), -1);
    step(LC_EV_REAPED, 3000, 0);
    assert_int_equal(res.actions[find(LC_ACT_EXIT)].code, 3);
}

static void signals_are_forwarded_and_rewritten(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    cfg.rewrite[SIGUSR1] = SIGUSR2;
    cfg.rewrite[SIGHUP] = 0;
    start();
    step(LC_EV_SIGNAL, 1100, SIGINT); /* SIGINT goes through at once, no drain */
    assert_int_equal(lc.state, LC_READY);
    assert_int_equal(res.actions[find(LC_ACT_FORWARD)].sig, SIGINT);
    step(LC_EV_SIGNAL, 1100, SIGUSR1);
    assert_int_equal(res.actions[find(LC_ACT_FORWARD)].sig, SIGUSR2);
    step(LC_EV_SIGNAL, 1100, SIGHUP);
    assert_int_equal(res.nactions, 0); /* dropped */
    assert_int_equal(lc.forwarded[SIGINT], 1);
    assert_int_equal(lc.forwarded[SIGUSR2], 1);
    assert_int_equal(lc.forwarded[SIGUSR1], 0);
    assert_int_equal(lc.forwarded[SIGHUP], 0);
    /* forwarding goes on while draining */
    cfg.prestop_delay_ms = 1000;
    step(LC_EV_SIGNAL, 1200, SIGTERM);
    step(LC_EV_SIGNAL, 1300, SIGWINCH);
    assert_int_equal(res.actions[find(LC_ACT_FORWARD)].sig, SIGWINCH);
}

static void stop_signal_zero_sends_nothing(void **state)
{
    setup_cfg(0, 5000, 0);
    start();
    step(LC_EV_SIGNAL, 2000, SIGTERM);
    assert_int_equal(lc.state, LC_STOPPING);
    assert_int_equal(find(LC_ACT_STOP_CHILD), -1);
    assert_true(find(LC_ACT_ARM_TIMER) >= 0);
}

static void exit_codes_and_remap(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    cfg.remap_exit[143] = 1;
    cfg.remap_exit[3] = 1;
    start();
    step(LC_EV_CHILD_EXITED, 1500, SIGTERM); /* killed by TERM: 143, remapped */
    assert_int_equal(lc.exit_code, 0);
    setup_cfg(0, 5000, SIGTERM);
    start();
    step(LC_EV_CHILD_EXITED, 1500, SIGSEGV | 0x80); /* core dumped */
    assert_int_equal(lc.exit_code, 128 + SIGSEGV);
    setup_cfg(0, 5000, SIGTERM);
    start();
    step(LC_EV_CHILD_EXITED, 1500, 255 << 8);
    assert_int_equal(lc.exit_code, 255);
    /* nothing happens after exit */
    step(LC_EV_SIGNAL, 1600, SIGTERM);
    assert_int_equal(res.nactions, 0);
    step(LC_EV_SIGNAL, 1600, SIGUSR1);
    assert_int_equal(res.nactions, 0);
    step(LC_EV_CHILD_EXITED, 1700, 0);
    assert_int_equal(res.nactions, 0);
    assert_int_equal(lc.exit_code, 255);
}

/* The main child gone, its leftovers get TERM, then KILL (re-sent for
 * late orphans), within a deadline; podvisor exits once none is left. */
static void cleanup_after_the_main_child(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    start();
    step(LC_EV_CHILD_EXITED, 2000, 5 << 8);
    assert_int_equal(lc.cleanup, LC_CLEANUP_REAPING);
    step(LC_EV_REAPED, 2000, 1); /* something is left */
    int a = find(LC_ACT_SIGNAL_REMAINING);
    assert_true(a >= 0);
    assert_int_equal(res.actions[a].sig, SIGTERM);
    assert_non_null(res.actions[a].why);
    a = find(LC_ACT_ARM_TIMER);
    assert_int_equal(res.actions[a].timer, LC_EV_CLEANUP_TERM_ELAPSED);
    assert_int_equal(res.actions[a].ms, LC_CLEANUP_TERM_MS);
    assert_int_equal(find(LC_ACT_EXIT), -1);
    step(LC_EV_REAPED, 2100, 1); /* one of them exited; others remain: no new TERM */
    assert_int_equal(res.nactions, 0);
    step(LC_EV_CLEANUP_TERM_ELAPSED, 3000, 0);
    a = find(LC_ACT_SIGNAL_REMAINING);
    assert_int_equal(res.actions[a].sig, SIGKILL);
    assert_int_equal(res.actions[find(LC_ACT_ARM_TIMER)].timer, LC_EV_CLEANUP_DEADLINE);
    /* a killed leftover's own children were re-parented to podvisor */
    step(LC_EV_REAPED, 3010, 1);
    a = find(LC_ACT_SIGNAL_REMAINING);
    assert_int_equal(res.actions[a].sig, SIGKILL);
    assert_null(res.actions[a].why); /* said once is enough */
    step(LC_EV_REAPED, 3020, 0);
    a = find(LC_ACT_EXIT);
    assert_int_equal(res.actions[a].code, 5);
    step(LC_EV_CLEANUP_DEADLINE, 6000, 0); /* cancelled, and too late to matter */
    assert_int_equal(res.nactions, 0);
}

static void cleanup_has_a_deadline(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    start();
    step(LC_EV_CHILD_EXITED, 2000, 0);
    step(LC_EV_REAPED, 2000, 1);
    step(LC_EV_CLEANUP_TERM_ELAPSED, 3000, 0);
    step(LC_EV_CLEANUP_DEADLINE, 6000, 0);
    int a = find(LC_ACT_EXIT);
    assert_true(a >= 0);
    assert_int_equal(res.actions[a].code, 0);
    assert_non_null(res.actions[a].why);
    step(LC_EV_REAPED, 6001, 0); /* exits once only */
    assert_int_equal(res.nactions, 0);
}

/* No reap pass while the child runs decides anything. */
static void reaped_orphans_change_nothing_while_running(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    start();
    step(LC_EV_REAPED, 2000, 1);
    assert_int_equal(res.nactions, 0);
    step(LC_EV_REAPED, 2000, 0);
    assert_int_equal(res.nactions, 0);
    assert_int_equal(lc.state, LC_READY);
}

static void exec_failure_exits_126_or_127(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    step(LC_EV_START, 1000, 0);
    step(LC_EV_FORKED, 1000, 42);
    step(LC_EV_EXEC_FAILED, 1001, 126);
    assert_int_equal(res.actions[find(LC_ACT_KILL_GROUP)].pid, 42);
    assert_int_equal(lc.state, LC_STARTING);
    step(LC_EV_CHILD_EXITED, 1002, 127 << 8); /* the child's _exit(127) */
    assert_int_equal(lc.state, LC_EXITED);
    assert_false(lifecycle_started(&lc));
    step(LC_EV_REAPED, 1002, 0);
    assert_int_equal(res.actions[find(LC_ACT_EXIT)].code, 126);

    setup_cfg(0, 5000, SIGTERM);
    step(LC_EV_START, 1000, 0);
    step(LC_EV_SPAWN_FAILED, 1000, 0); /* no process at all: podvisor failed */
    assert_int_equal(lc.state, LC_EXITED);
    /* through the clean-up, as any exit: a --validate may still run */
    assert_true(find(LC_ACT_REAP) >= 0);
    step(LC_EV_REAPED, 1000, 0);
    assert_int_equal(res.actions[find(LC_ACT_EXIT)].code, 1);
}

/* A frozen app takes no traffic: not ready while stopped, ready on CONT;
 * the stop signal is followed by SIGCONT so that it can act on it. */
static void stopped_child_is_not_ready(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    start();
    step(LC_EV_CHILD_STOPPED, 1500, SIGTSTP);
    assert_false(lifecycle_ready(&lc));
    assert_true(lifecycle_live(&lc));
    struct lc_condition c[LC_N_CONDITIONS];
    assert_false(lifecycle_conditions(&lc, 1500, c));
    assert_true(c[0].failed);
    assert_string_equal(c[0].why, "stopped by SIGTSTP (resumes on SIGCONT)");
    step(LC_EV_CHILD_CONTINUED, 1600, 0);
    assert_true(lifecycle_ready(&lc));
    step(LC_EV_CHILD_STOPPED, 1700, SIGSTOP);
    step(LC_EV_SIGNAL, 1800, SIGTERM);
    int a = find(LC_ACT_STOP_CHILD);
    assert_true(a >= 0);
    assert_int_equal(res.actions[a + 1].type, LC_ACT_FORWARD);
    assert_int_equal(res.actions[a + 1].sig, SIGCONT);
}

static void child_stopped_after_its_stop_signal_is_continued(void **state)
{
    /* TERM (15) leaves the signalfd before CHLD (17): the stop of a child
     * that TSTP just stopped can be reported after its stop signal went. */
    setup_cfg(0, 5000, SIGTERM);
    start();
    step(LC_EV_SIGNAL, 1500, SIGTERM);
    assert_true(find(LC_ACT_STOP_CHILD) >= 0);
    assert_int_equal(find(LC_ACT_FORWARD), -1);
    step(LC_EV_CHILD_STOPPED, 1501, SIGTSTP);
    int a = find(LC_ACT_FORWARD);
    assert_true(a >= 0);
    assert_int_equal(res.actions[a].sig, SIGCONT);
    /* ...but not while merely running. */
    setup_cfg(0, 5000, SIGTERM);
    start();
    step(LC_EV_CHILD_STOPPED, 1501, SIGTSTP);
    assert_int_equal(find(LC_ACT_FORWARD), -1);
}

static struct strlist ready_list, live_list;

/* An event for another child slot, or with text. */
static void step_ev(struct lc_event ev)
{
    lifecycle_step(&lc, &ev, &res);
}

static void check_result(int index, int64_t now, int ok, const char *why)
{
    struct lc_event ev = {.type = LC_EV_CHECK_RESULT,
                          .now_ms = now,
                          .check = (enum lc_check_id)index,
                          .code = ok,
                          .status = 7,
                          .text = why};
    lifecycle_step(&lc, &ev, &res);
}

static void setup_checks(void)
{
    static char *ready[] = {"tcp://127.0.0.1:8080", "file:/tmp/ready"};
    static char *live[] = {"http://127.0.0.1:8080/healthz"};
    setup_cfg(0, 5000, SIGTERM);
    ready_list = (struct strlist){ready, 2};
    live_list = (struct strlist){live, 1};
    cfg.ready_check = ready_list;
    cfg.live_check = live_list;
    cfg.failure_threshold = 3;
    lifecycle_init(&lc, &cfg);
}

static void ready_checks_gate_readiness(void **state)
{
    setup_checks();
    assert_int_equal(lc.n_checks, 3);
    assert_int_equal(lc.n_ready_checks, 2);
    assert_false(lifecycle_checks_wanted(&lc));
    start();
    assert_int_equal(lc.state, LC_RUNNING); /* started, not ready */
    assert_true(lifecycle_checks_wanted(&lc));
    assert_false(lifecycle_ready(&lc));
    assert_false(lifecycle_started(&lc)); /* /startupz */
    struct lc_condition c[LC_N_CONDITIONS];
    lifecycle_conditions(&lc, 1000, c);
    assert_string_equal(c[1].why, "tcp://127.0.0.1:8080: pending");
    check_result(0, 1100, 0, "Connection refused");
    lifecycle_conditions(&lc, 1100, c);
    assert_string_equal(c[1].why, "tcp://127.0.0.1:8080: Connection refused");
    check_result(0, 1200, 1, NULL);
    check_result(2, 1200, 1, NULL); /* a live check decides nothing here */
    assert_false(lifecycle_ready(&lc));
    check_result(1, 1300, 1, NULL);
    assert_int_equal(lc.state, LC_READY);
    assert_true(lifecycle_ready(&lc));
    assert_true(lifecycle_started(&lc));
    /* One failing ready check: not ready until it passes again. */
    check_result(1, 2300, 0, "No such file or directory");
    assert_int_equal(lc.state, LC_RUNNING);
    assert_int_equal(res.ntransitions, 1);
    assert_string_equal(res.transitions[0].why,
                        "ready check file:/tmp/ready: No such file or directory");
    assert_false(lifecycle_ready(&lc));
    assert_true(lifecycle_started(&lc)); /* once started, always */
    check_result(1, 3300, 1, NULL);
    assert_true(lifecycle_ready(&lc));
    assert_int_equal(lc.checks[1].failures, 1);
    assert_int_equal(lc.checks[1].runs, 3);
    /* A restart starts over: results of the old child do not count. */
    step(LC_EV_CHILD_EXITED, 4000, 0);
    assert_false(lifecycle_checks_wanted(&lc));
}

static void live_checks_fail_after_the_threshold(void **state)
{
    setup_checks();
    start();
    /* Before the child was ever ready, live failures do not count. */
    for (int i = 0; i < 5; i++)
        check_result(2, 1100 + i, 0, "HTTP 500");
    assert_true(lifecycle_live(&lc));
    check_result(0, 1200, 1, NULL);
    check_result(1, 1200, 1, NULL);
    assert_true(lifecycle_ready(&lc));
    assert_false(lifecycle_live(&lc)); /* 5 in a row by now */
    check_result(2, 1300, 1, NULL);
    assert_true(lifecycle_live(&lc));
    check_result(2, 1400, 0, "HTTP 500");
    check_result(2, 1500, 0, "HTTP 500");
    assert_true(lifecycle_live(&lc)); /* 2 < 3 */
    check_result(2, 1600, 0, "HTTP 500");
    assert_false(lifecycle_live(&lc));
    /* Never while draining. */
    step(LC_EV_SIGNAL, 1700, SIGTERM);
    assert_true(lifecycle_live(&lc));
}

static void notify_checks_count_at_once(void **state)
{
    static char *ready[] = {"notify"};
    static char *live[] = {"notify"};
    setup_cfg(0, 5000, SIGTERM);
    cfg.ready_check = (struct strlist){ready, 1};
    cfg.live_check = (struct strlist){live, 1};
    cfg.failure_threshold = 3;
    cfg.notify = 1;
    lifecycle_init(&lc, &cfg);
    start();
    check_result(0, 1100, 1, NULL); /* READY=1 */
    assert_true(lifecycle_ready(&lc));
    check_result(1, 1200, 1, NULL); /* WATCHDOG=1 */
    assert_true(lifecycle_live(&lc));
    /* The watchdog's deadline is the allowance: one miss fails liveness. */
    check_result(1, 2300, 0, "no WATCHDOG=1 within --watchdog 1000ms");
    assert_false(lifecycle_live(&lc));
    assert_string_equal(lifecycle_failing_live_check(&lc)->error,
                        "no WATCHDOG=1 within --watchdog 1000ms");
    check_result(1, 2400, 1, NULL);
    assert_true(lifecycle_live(&lc));
    /* RELOADING=1: not ready until the next READY=1. */
    check_result(0, 2500, 0, "RELOADING=1: the app is reloading");
    assert_int_equal(lc.state, LC_RUNNING);
    check_result(0, 2600, 1, NULL);
    assert_int_equal(lc.state, LC_READY);
    /* MAINPID=: the new process is the one supervised; the old one's exit
     * is no longer the app's. */
    step_ev((struct lc_event){.type = LC_EV_MAINPID, .now_ms = 2700, .pid = 77});
    assert_int_equal(lifecycle_main_pid(&lc), 77);
    assert_int_equal(lifecycle_child_by_pid(&lc, 42), -1);
    assert_int_equal(lifecycle_child_by_pid(&lc, 77), LC_GEN_A);
    step_ev((struct lc_event){.type = LC_EV_NOTIFY_STATUS, .now_ms = 2800, .text = "serving"});
    step_ev((struct lc_event){.type = LC_EV_NOTIFY_STATUS, .now_ms = 2900});
    assert_string_equal(lc.notify.status, "serving");
    assert_int_equal(lc.notify.messages, 2);
    step_ev((struct lc_event){.type = LC_EV_NOTIFY_REJECTED, .now_ms = 3000, .code = 1});
    step_ev((struct lc_event){.type = LC_EV_NOTIFY_REJECTED, .now_ms = 3000, .code = 9});
    assert_int_equal(lc.notify.rejected[1], 1);
    assert_int_equal(lc.notify.rejected[0], 0);
    step(LC_EV_SIGNAL, 3100, SIGTERM);
    int i = find(LC_ACT_STOP_CHILD);
    assert_true(i >= 0);
    assert_int_equal(res.actions[i].pid, 77);
}

static void admin_drain_and_reload(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    cfg.on_change.kind = ON_CHANGE_SIGNAL;
    cfg.on_change.sig = SIGHUP;
    assert_non_null(lifecycle_admin_refusal(&lc, LC_ADMIN_RELOAD)); /* not started yet */
    assert_non_null(lifecycle_admin_refusal(&lc, LC_ADMIN_RESTART));
    start();
    assert_null(lifecycle_admin_refusal(&lc, LC_ADMIN_RELOAD));
    step_ev((struct lc_event){.type = LC_EV_RELOAD, .now_ms = 1500});
    int i = find(LC_ACT_FORWARD);
    assert_true(i >= 0);
    assert_int_equal(res.actions[i].sig, SIGHUP);
    assert_int_equal(lc.config.reloads, 1);
    /* /drain: readiness off for good, the child untouched. */
    step_ev((struct lc_event){.type = LC_EV_DRAIN, .now_ms = 1600});
    assert_int_equal(res.nactions, 0);
    assert_false(lifecycle_ready(&lc));
    struct lc_condition c[LC_N_CONDITIONS];
    lifecycle_conditions(&lc, 1700, c);
    assert_string_equal(c[2].why, "drained by POST /drain");
    assert_true(lifecycle_live(&lc));
    step(LC_EV_SIGNAL, 1800, SIGTERM);
    assert_string_equal(lifecycle_admin_refusal(&lc, LC_ADMIN_RESTART),
                        "not now: podvisor is stopping");
}

static void changed(int64_t now, const char *hash)
{
    step_ev((struct lc_event){.type = LC_EV_CONFIG_CHANGED, .now_ms = now, .text = hash});
}

static int armed(enum lc_event_type timer, int64_t ms)
{
    for (int i = 0; i < res.nactions; i++)
        if (res.actions[i].type == LC_ACT_ARM_TIMER && res.actions[i].timer == timer)
            return res.actions[i].ms == ms;
    return 0;
}

static void config_change_restarts_gracefully(void **state)
{
    setup_cfg(2000, 5000, SIGTERM);
    step_ev((struct lc_event){.type = LC_EV_START, .now_ms = 1000, .text = "h1"});
    step(LC_EV_FORKED, 1000, 42);
    step(LC_EV_EXEC_OK, 1000, 0);
    assert_string_equal(lc.config.hash, "h1");
    changed(5000, "h2");
    assert_true(lifecycle_restarting(lc.state));
    assert_true(armed(LC_EV_PRESTOP_ELAPSED, 2000));
    assert_int_equal(find(LC_ACT_STOP_CHILD), -1); /* endpoints first */
    struct lc_condition c[LC_N_CONDITIONS];
    assert_false(lifecycle_conditions(&lc, 5000, c));
    assert_string_equal(c[0].why, "restarting (config)");
    assert_true(lifecycle_live(&lc)); /* a restart on purpose is not a death */
    step(LC_EV_PRESTOP_ELAPSED, 7000, 0);
    int i = find(LC_ACT_STOP_CHILD);
    assert_true(i >= 0);
    assert_int_equal(res.actions[i].pid, 42);
    assert_true(armed(LC_EV_STOP_TIMEOUT, 5000));
    step(LC_EV_STOP_TIMEOUT, 12000, 0);
    assert_true(find(LC_ACT_KILL_GROUP) >= 0);
    step(LC_EV_CHILD_EXITED, 12001, SIGKILL);
    i = find(LC_ACT_KILL_OLD_GROUP); /* only the old child's group */
    assert_true(i >= 0);
    assert_int_equal(res.actions[i].pid, 42);
    /* The command starts once the old group is empty, not at the SIGKILL. */
    assert_int_equal(find(LC_ACT_SPAWN), -1);
    assert_int_equal(res.actions[find(LC_ACT_AWAIT_GROUP)].pid, 42);
    assert_true(armed(LC_EV_OLD_GROUP_DEADLINE, LC_OLD_GROUP_WAIT_MS));
    step(LC_EV_OLD_GROUP_GONE, 12050, 0);
    i = find(LC_ACT_SPAWN);
    assert_true(i >= 0);
    assert_int_equal(res.actions[i].child, LC_GEN_A);
    assert_int_equal(lc.restarts_by[LC_REASON_CONFIG], 1);
    assert_true(lifecycle_restarting(lc.state));
    step(LC_EV_FORKED, 12002, 43);
    step(LC_EV_EXEC_OK, 12003, 0);
    assert_int_equal(lc.state, LC_READY);
    assert_true(lifecycle_ready(&lc));
    assert_string_equal(lc.config.hash, "h2");
    assert_int_equal(lc.config.changes, 1);
    /* The same content again (a no-op rewrite the hash saw through) does nothing. */
    changed(13000, "h2");
    assert_int_equal(res.nactions, 0);
    assert_int_equal(lc.state, LC_READY);
}

static void changes_during_a_restart_coalesce(void **state)
{
    setup_cfg(2000, 5000, SIGTERM);
    start();
    changed(2000, "h2");
    changed(2500, "h3"); /* the new child reads h3 anyway */
    assert_int_equal(res.nactions, 0);
    step(LC_EV_PRESTOP_ELAPSED, 4000, 0);
    changed(4100, "h4");
    assert_int_equal(res.nactions, 0);
    step(LC_EV_CHILD_EXITED, 4200, SIGTERM);
    step(LC_EV_OLD_GROUP_GONE, 4200, 0);
    step(LC_EV_FORKED, 4200, 43);
    step(LC_EV_EXEC_OK, 4200, 0);
    assert_int_equal(lc.restarts, 1);
    assert_int_equal(lc.config.changes, 3);
}

/* The old group does not empty in time: the command starts anyway, and
 * says why; a SIGTERM while waiting ends podvisor with the last status. */
static void a_restart_waits_for_the_old_group_within_a_bound(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    start();
    changed(2000, "h2");
    step(LC_EV_CHILD_EXITED, 2100, SIGTERM);
    assert_int_equal(find(LC_ACT_SPAWN), -1);
    step(LC_EV_OLD_GROUP_DEADLINE, 2100 + LC_OLD_GROUP_WAIT_MS, 0);
    int i = find(LC_ACT_SPAWN);
    assert_true(i >= 0);
    assert_non_null(res.actions[i].why);
    step(LC_EV_OLD_GROUP_GONE, 7200, 0); /* late: nothing more */
    assert_int_equal(find(LC_ACT_SPAWN), -1);
    setup_cfg(0, 5000, SIGTERM);
    start();
    changed(2000, "h2");
    step(LC_EV_CHILD_EXITED, 2100, 0);
    step(LC_EV_SIGNAL, 2200, SIGTERM);
    assert_int_equal(lc.state, LC_EXITED);
    assert_int_equal(find(LC_ACT_SPAWN), -1);
    step(LC_EV_OLD_GROUP_GONE, 2300, 0);
    assert_int_equal(find(LC_ACT_SPAWN), -1);
}

static void sigterm_during_a_restart_wins(void **state)
{
    /* In the prestop delay: it becomes the drain's delay. */
    setup_cfg(2000, 5000, SIGTERM);
    start();
    changed(2000, "h2");
    step(LC_EV_SIGNAL, 3000, SIGTERM);
    assert_int_equal(lc.state, LC_DRAINING);
    step(LC_EV_PRESTOP_ELAPSED, 4000, 0);
    assert_int_equal(lc.state, LC_STOPPING);
    step(LC_EV_CHILD_EXITED, 4100, SIGTERM);
    assert_int_equal(lc.state, LC_EXITED);
    assert_int_equal(find(LC_ACT_SPAWN), -1);
    assert_int_equal(lc.exit_code, 128 + SIGTERM);

    /* After the stop signal: stopping, the deadline running stays. */
    setup_cfg(0, 5000, SIGTERM);
    start();
    changed(2000, "h2");
    assert_true(find(LC_ACT_STOP_CHILD) >= 0);
    step(LC_EV_SIGNAL, 2100, SIGTERM);
    assert_int_equal(lc.state, LC_STOPPING);
    step(LC_EV_CHILD_EXITED, 2200, SIGTERM);
    assert_int_equal(lc.state, LC_EXITED);
    assert_int_equal(find(LC_ACT_SPAWN), -1);
}

static char *validate_argv[] = {"nginx", "-t", NULL};

/* A change passed, but the files moved on while it was validated: nothing
 * is applied; what is on disk now is validated first. And /reload never
 * applies a change that was refused or is being validated. */
static void what_is_applied_is_what_passed(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    cfg.validate.argv = validate_argv;
    start();
    changed(2000, "h2");
    step_ev(
        (struct lc_event){.type = LC_EV_FORKED, .now_ms = 2000, .child = LC_VALIDATE, .pid = 50});
    assert_string_equal(lifecycle_admin_refusal(&lc, LC_ADMIN_RELOAD),
                        "not now: a change is being validated");
    step_ev((struct lc_event){.type = LC_EV_CHILD_EXITED,
                              .now_ms = 2200,
                              .child = LC_VALIDATE,
                              .status = 0,
                              .hash = "h3"});
    assert_int_equal(lc.state, LC_READY); /* no restart onto h3 */
    assert_string_equal(lc.config.hash, "");
    int i = find(LC_ACT_SPAWN);
    assert_true(i >= 0);
    assert_int_equal(res.actions[i].child, LC_VALIDATE);
    assert_string_equal(lc.config.validating, "h3");
    step_ev(
        (struct lc_event){.type = LC_EV_FORKED, .now_ms = 2300, .child = LC_VALIDATE, .pid = 51});
    step_ev((struct lc_event){.type = LC_EV_CHILD_EXITED,
                              .now_ms = 2400,
                              .child = LC_VALIDATE,
                              .status = 1 << 8,
                              .hash = "h3"});
    assert_int_equal(lc.state, LC_READY);
    assert_string_equal(lc.config.last_refused.hash, "h3");
    assert_string_equal(lifecycle_admin_refusal(&lc, LC_ADMIN_RELOAD),
                        "the files hold a change --validate refused: fix them first");
    /* Passed, and still on disk: applied. */
    changed(3000, "h4");
    step_ev(
        (struct lc_event){.type = LC_EV_FORKED, .now_ms = 3000, .child = LC_VALIDATE, .pid = 52});
    step_ev((struct lc_event){.type = LC_EV_CHILD_EXITED,
                              .now_ms = 3100,
                              .child = LC_VALIDATE,
                              .status = 0,
                              .hash = "h4"});
    assert_true(lifecycle_restarting(lc.state));
    assert_string_equal(lc.config.hash, "h4");
}

static void validate_refuses_and_keeps_the_child(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    cfg.validate.argv = validate_argv;
    start();
    changed(2000, "h2");
    int i = find(LC_ACT_SPAWN);
    assert_true(i >= 0);
    assert_int_equal(res.actions[i].child, LC_VALIDATE);
    assert_true(armed(LC_EV_VALIDATE_TIMEOUT, LC_HELPER_TIMEOUT_MS));
    assert_int_equal(lc.state, LC_READY); /* serving while validating */
    step_ev(
        (struct lc_event){.type = LC_EV_FORKED, .now_ms = 2000, .child = LC_VALIDATE, .pid = 50});
    assert_int_equal(lifecycle_child_by_pid(&lc, 50), LC_VALIDATE);
    step_ev((struct lc_event){.type = LC_EV_CHILD_EXITED,
                              .now_ms = 2050,
                              .child = LC_VALIDATE,
                              .status = 1 << 8,
                              .text = "nginx: [emerg] unknown directive"});
    assert_int_equal(lc.state, LC_READY);
    assert_int_equal(lc.config.refused, 1);
    assert_string_equal(lc.config.last_refused.hash, "h2");
    assert_string_equal(lc.config.last_refused.output, "nginx: [emerg] unknown directive");
    assert_string_equal(lc.config.hash, ""); /* still what the child started with */
    /* A change while --validate judges the one before: that one is stopped
     * (its verdict would be on content gone), and no verdict is taken. */
    changed(2060, "h2b");
    step_ev(
        (struct lc_event){.type = LC_EV_FORKED, .now_ms = 2060, .child = LC_VALIDATE, .pid = 53});
    changed(2100, "h3");
    assert_int_equal(res.nactions, 1);
    assert_int_equal(res.actions[0].type, LC_ACT_KILL_GROUP);
    assert_int_equal(res.actions[0].pid, 53);
    assert_true(lc.children[LC_VALIDATE].cancelled);
    changed(2150, "h3b"); /* killed once */
    assert_int_equal(res.nactions, 0);
    changed(2160, "h3");
    step_ev((struct lc_event){
        .type = LC_EV_CHILD_EXITED, .now_ms = 2200, .child = LC_VALIDATE, .status = SIGKILL});
    assert_int_equal(lc.config.refused, 1); /* not a refusal */
    assert_string_equal(lc.config.last_refused.hash, "h2");
    assert_string_equal(lc.config.hash, "");
    i = find(LC_ACT_SPAWN); /* what is on disk now, h3, is tried next */
    assert_true(i >= 0);
    assert_int_equal(res.actions[i].child, LC_VALIDATE);
    assert_string_equal(lc.config.validating, "h3");
    step_ev(
        (struct lc_event){.type = LC_EV_FORKED, .now_ms = 2300, .child = LC_VALIDATE, .pid = 51});
    step_ev((struct lc_event){.type = LC_EV_CHILD_EXITED,
                              .now_ms = 2400,
                              .child = LC_VALIDATE,
                              .status = 0,
                              .text = "syntax is ok"});
    assert_true(lifecycle_restarting(lc.state));
    assert_string_equal(lc.config.hash, "h3");

    /* A validate that hangs is killed, and counts as a refusal. */
    setup_cfg(0, 5000, SIGTERM);
    cfg.validate.argv = validate_argv;
    start();
    changed(2000, "h2");
    step_ev(
        (struct lc_event){.type = LC_EV_FORKED, .now_ms = 2000, .child = LC_VALIDATE, .pid = 50});
    step_ev(
        (struct lc_event){.type = LC_EV_VALIDATE_TIMEOUT, .now_ms = 32000, .child = LC_VALIDATE});
    i = find(LC_ACT_KILL_GROUP);
    assert_true(i >= 0);
    assert_int_equal(res.actions[i].pid, 50);
    step_ev((struct lc_event){
        .type = LC_EV_CHILD_EXITED, .now_ms = 32001, .child = LC_VALIDATE, .status = SIGKILL});
    assert_int_equal(lc.config.refused, 1);
    assert_true(lc.config.last_refused.timed_out);
    assert_int_equal(lc.state, LC_READY);
}

static char *exec_argv[] = {"nginx", "-s", "reload", NULL};

static void reload_actions(void **state)
{
    /* signal: to the child; no restart. */
    setup_cfg(0, 5000, SIGTERM);
    cfg.on_change.kind = ON_CHANGE_SIGNAL;
    cfg.on_change.sig = SIGHUP;
    start();
    changed(2000, "h2");
    int i = find(LC_ACT_FORWARD);
    assert_true(i >= 0);
    assert_int_equal(res.actions[i].sig, SIGHUP);
    assert_int_equal(res.actions[i].pid, 42);
    assert_int_equal(lc.state, LC_READY);
    assert_int_equal(lc.config.reloads, 1);
    assert_true(lc.config.last_action.ok);

    /* exec: one run at a time; changes meanwhile make one more run. */
    setup_cfg(0, 5000, SIGTERM);
    cfg.on_change.kind = ON_CHANGE_EXEC;
    cfg.on_change.argv = exec_argv;
    start();
    changed(2000, "h2");
    i = find(LC_ACT_SPAWN);
    assert_int_equal(res.actions[i].child, LC_ACTION);
    step_ev((struct lc_event){.type = LC_EV_FORKED, .now_ms = 2000, .child = LC_ACTION, .pid = 60});
    changed(2100, "h3");
    changed(2200, "h4");
    assert_int_equal(find(LC_ACT_SPAWN), -1);
    step_ev((struct lc_event){
        .type = LC_EV_CHILD_EXITED, .now_ms = 2300, .child = LC_ACTION, .status = 1 << 8});
    assert_int_equal(lc.config.action_failures, 1);
    assert_true(lc.config.last_action.pending); /* the next run started */
    assert_string_equal(lc.config.last_action.result, "exec: running");
    i = find(LC_ACT_SPAWN);
    assert_true(i >= 0);
    assert_int_equal(res.actions[i].child, LC_ACTION);
    step_ev((struct lc_event){.type = LC_EV_FORKED, .now_ms = 2300, .child = LC_ACTION, .pid = 61});
    step_ev((struct lc_event){
        .type = LC_EV_CHILD_EXITED, .now_ms = 2400, .child = LC_ACTION, .status = 0});
    assert_true(lc.config.last_action.ok);
    assert_string_equal(lc.config.last_action.result, "exec: exited with status 0");
    assert_int_equal(find(LC_ACT_SPAWN), -1);

    /* webhook: an action; the result comes back as an event. */
    setup_cfg(0, 5000, SIGTERM);
    cfg.on_change.kind = ON_CHANGE_WEBHOOK;
    start();
    changed(2000, "h2");
    assert_true(find(LC_ACT_WEBHOOK) >= 0);
    assert_true(lc.config.last_action.pending);
    step_ev((struct lc_event){.type = LC_EV_ACTION_RESULT,
                              .now_ms = 2100,
                              .code = 0,
                              .text = "webhook: HTTP 500; retrying in 1.0s"});
    assert_false(lc.config.last_action.ok);
    step_ev((struct lc_event){
        .type = LC_EV_ACTION_RESULT, .now_ms = 3100, .code = 1, .text = "webhook: HTTP 200"});
    assert_true(lc.config.last_action.ok);
    assert_int_equal(lc.state, LC_READY);

    /* none: only recorded. */
    setup_cfg(0, 5000, SIGTERM);
    cfg.on_change.kind = ON_CHANGE_NONE;
    start();
    changed(2000, "h2");
    assert_int_equal(res.nactions, 0);
    assert_string_equal(lc.config.hash, "h2");
}

static void crash_restarts_with_backoff(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    cfg.restart_policy = RESTART_ON_FAILURE;
    cfg.backoff_initial_ms = 1000;
    cfg.backoff_max_ms = 4000;
    start(); /* at 1000 */
    int64_t t = 2000;
    static const int64_t delays[] = {1000, 2000, 4000, 4000};
    for (int k = 0; k < 4; k++) {
        step(LC_EV_CHILD_EXITED, t, 1 << 8);
        assert_true(lifecycle_restarting(lc.state));
        assert_true(lifecycle_live(&lc));
        assert_false(lifecycle_ready(&lc));
        assert_true(find(LC_ACT_KILL_OLD_GROUP) >= 0);
        if (!armed(LC_EV_BACKOFF_ELAPSED, delays[k]))
            fail_msg("crash %d: backoff is not %lld ms", k, (long long)delays[k]);
        t += delays[k];
        step(LC_EV_BACKOFF_ELAPSED, t, 0);
        assert_true(find(LC_ACT_SPAWN) >= 0);
        step(LC_EV_FORKED, t, 100 + k);
        step(LC_EV_EXEC_OK, t, 0);
        assert_int_equal(lc.state, LC_READY);
        t += 100; /* a short run */
    }
    assert_int_equal(lc.restarts_by[LC_REASON_CRASH], 4);
    /* A stable run (>= --backoff-max) resets the backoff. */
    t += 5000;
    step(LC_EV_CHILD_EXITED, t, SIGSEGV);
    assert_true(armed(LC_EV_BACKOFF_ELAPSED, 1000));
    struct lc_condition c[LC_N_CONDITIONS];
    lifecycle_conditions(&lc, t + 400, c);
    assert_string_equal(c[0].why, "restarting (crash): next start in 0.6s");
    /* SIGTERM while waiting: nothing to drain; exit with the last status. */
    step(LC_EV_SIGNAL, t + 500, SIGTERM);
    assert_int_equal(lc.state, LC_EXITED);
    assert_true(find(LC_ACT_REAP) >= 0);
    assert_int_equal(lc.exit_code, 128 + SIGSEGV);
    step(LC_EV_REAPED, t + 501, 0);
    assert_true(find(LC_ACT_EXIT) >= 0);

    /* on-failure: a clean exit is the end. */
    setup_cfg(0, 5000, SIGTERM);
    cfg.restart_policy = RESTART_ON_FAILURE;
    cfg.backoff_initial_ms = 1000;
    cfg.backoff_max_ms = 4000;
    start();
    step(LC_EV_CHILD_EXITED, 2000, 0);
    assert_int_equal(lc.state, LC_EXITED);
    /* always: even a clean exit restarts; an exec failure never does. */
    cfg.restart_policy = RESTART_ALWAYS;
    lifecycle_init(&lc, &cfg);
    start();
    step(LC_EV_CHILD_EXITED, 2000, 0);
    assert_true(lifecycle_restarting(lc.state));
    step(LC_EV_BACKOFF_ELAPSED, 3000, 0);
    step(LC_EV_FORKED, 3000, 77);
    step(LC_EV_EXEC_FAILED, 3000, 127);
    step(LC_EV_CHILD_EXITED, 3000, 127 << 8);
    assert_int_equal(lc.state, LC_EXITED);
    assert_int_equal(lc.exit_code, 127);
}

static void admin_restart_is_an_event(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    start();
    step_ev((struct lc_event){.type = LC_EV_RESTART, .now_ms = 2000, .code = LC_REASON_ADMIN});
    assert_true(lifecycle_restarting(lc.state));
    step(LC_EV_CHILD_EXITED, 2100, SIGTERM);
    step(LC_EV_OLD_GROUP_GONE, 2100, 0);
    assert_int_equal(lc.restarts_by[LC_REASON_ADMIN], 1);
}

static void sidecar_has_no_child(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    cfg.sidecar = 1;
    cfg.on_change.kind = ON_CHANGE_SIGNAL;
    cfg.on_change.sig = SIGHUP;
    step_ev((struct lc_event){.type = LC_EV_START, .now_ms = 1000, .text = "h1"});
    assert_int_equal(find(LC_ACT_SPAWN), -1);
    assert_int_equal(lc.state, LC_READY);
    assert_true(lifecycle_ready(&lc));
    changed(2000, "h2");
    int i = find(LC_ACT_SIGNAL_PROCESSES);
    assert_true(i >= 0);
    assert_int_equal(res.actions[i].sig, SIGHUP);
    step(LC_EV_SIGNAL, 3000, SIGTERM);
    assert_int_equal(lc.state, LC_EXITED);
    assert_int_equal(lc.exit_code, 0);
    assert_true(find(LC_ACT_REAP) >= 0);
    step(LC_EV_REAPED, 3001, 0);
    i = find(LC_ACT_EXIT);
    assert_true(i >= 0);
    assert_int_equal(res.actions[i].code, 0);
}

static void state_names(void **state)
{
    assert_string_equal(lifecycle_state_name(LC_DRAINING), "draining");
    assert_string_equal(lifecycle_state_name(LC_EXITED), "exited");
    assert_string_equal(lifecycle_state_name((enum lc_state)99), "unknown");
}

static void feed_ev(struct lc_event ev)
{
    lifecycle_step(&lc, &ev, &res);
}

static void change(int64_t now, const char *hash)
{
    feed_ev((struct lc_event){.type = LC_EV_CONFIG_CHANGED, .now_ms = now, .text = hash});
}

/* Start-first: a next generation that fails is rolled back; what the
 * running one was given is what /status says again; that content is not
 * tried again, any other change is, and a change during a restart in
 * flight merges into one more restart after it. */
static void start_first_rolls_back_and_merges(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    cfg.restart_mode = RESTART_MODE_START_FIRST;
    cfg.ready_timeout_ms = 60000;
    cfg.on_change.kind = ON_CHANGE_RESTART;
    lifecycle_init(&lc, &cfg);
    feed_ev((struct lc_event){.type = LC_EV_START, .now_ms = 1000, .text = "h1"});
    step(LC_EV_FORKED, 1000, 42);
    step(LC_EV_EXEC_OK, 1000, 0);
    assert_int_equal(lc.state, LC_READY);

    change(2000, "h2");
    assert_int_equal(lc.state, LC_RESTART_NEXT);
    assert_int_equal(res.actions[find(LC_ACT_SPAWN)].child, LC_GEN_B);
    assert_true(lifecycle_ready(&lc));
    feed_ev((struct lc_event){.type = LC_EV_FORKED, .now_ms = 2000, .child = LC_GEN_B, .pid = 43});
    assert_int_equal(lifecycle_slot_role(&lc, LC_GEN_B), LC_ROLE_NEXT);
    /* the next exits before READY=1: rolled back */
    feed_ev((struct lc_event){
        .type = LC_EV_CHILD_EXITED, .now_ms = 2500, .child = LC_GEN_B, .status = 3 << 8});
    assert_int_equal(lc.state, LC_READY);
    assert_int_equal(lc.rollbacks, 1);
    assert_string_equal(lc.last_rollback.hash, "h2");
    assert_string_equal(lc.config.hash, "h1");
    assert_int_equal(lifecycle_main_pid(&lc), 42);
    assert_false(lc.config.last_action.ok);
    assert_non_null(lifecycle_admin_refusal(&lc, LC_ADMIN_RELOAD));

    /* the same content again is not tried; another change is */
    change(3000, "h2");
    assert_int_equal(lc.state, LC_READY);
    change(3100, "h3");
    assert_int_equal(lc.state, LC_RESTART_NEXT);
    feed_ev((struct lc_event){.type = LC_EV_FORKED, .now_ms = 3100, .child = LC_GEN_B, .pid = 44});
    /* a change while it starts: merged, one more restart after it */
    change(3200, "h4");
    assert_int_equal(lc.state, LC_RESTART_NEXT);
    assert_true(lc.restart_again);
    assert_string_equal(lc.config.hash, "h3"); /* h4 is not applied yet */
    /* READY=1 from the next: promoted; the old one stops */
    feed_ev((struct lc_event){.type = LC_EV_NEXT_READY, .now_ms = 3300, .child = LC_GEN_B});
    assert_int_equal(lc.state, LC_READY);
    assert_int_equal(lc.current, LC_GEN_B);
    assert_int_equal(lifecycle_main_pid(&lc), 44);
    assert_int_equal(lifecycle_slot_role(&lc, LC_GEN_A), LC_ROLE_OLD);
    int stop = find(LC_ACT_STOP_CHILD);
    assert_true(stop >= 0);
    assert_int_equal(res.actions[stop].pid, 42);
    assert_int_equal(lc.restarts, 1);
    /* the old one gone: the merged restart starts in the freed slot */
    feed_ev((struct lc_event){
        .type = LC_EV_CHILD_EXITED, .now_ms = 3400, .child = LC_GEN_A, .status = 0});
    assert_int_equal(lc.state, LC_RESTART_NEXT);
    assert_int_equal(res.actions[find(LC_ACT_SPAWN)].child, LC_GEN_A);
    assert_false(lc.restart_again);
    assert_string_equal(lc.config.hash, "h4");
    assert_string_equal(lc.next_hash, "h4");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spawn_makes_ready),
        cmocka_unit_test(a_signal_rewritten_to_term_drains),
        cmocka_unit_test(drain_idle_ends_the_drain_once_no_connection_is_left),
        cmocka_unit_test(drain_endpoints_moves_the_wait_earlier_never_later),
        cmocka_unit_test(kill_group_carries_its_reason),
        cmocka_unit_test(what_is_applied_is_what_passed),
        cmocka_unit_test(a_restart_waits_for_the_old_group_within_a_bound),
        cmocka_unit_test(sigterm_with_delay_drains_then_stops),
        cmocka_unit_test(sigterm_without_delay_stops_at_once),
        cmocka_unit_test(second_sigterm_cuts_delay),
        cmocka_unit_test(child_exit_during_delay_exits_at_once),
        cmocka_unit_test(signals_are_forwarded_and_rewritten),
        cmocka_unit_test(stop_signal_zero_sends_nothing),
        cmocka_unit_test(exit_codes_and_remap),
        cmocka_unit_test(state_names),
        cmocka_unit_test(cleanup_after_the_main_child),
        cmocka_unit_test(cleanup_has_a_deadline),
        cmocka_unit_test(reaped_orphans_change_nothing_while_running),
        cmocka_unit_test(exec_failure_exits_126_or_127),
        cmocka_unit_test(stopped_child_is_not_ready),
        cmocka_unit_test(config_change_restarts_gracefully),
        cmocka_unit_test(changes_during_a_restart_coalesce),
        cmocka_unit_test(sigterm_during_a_restart_wins),
        cmocka_unit_test(validate_refuses_and_keeps_the_child),
        cmocka_unit_test(reload_actions),
        cmocka_unit_test(crash_restarts_with_backoff),
        cmocka_unit_test(admin_restart_is_an_event),
        cmocka_unit_test(sidecar_has_no_child),
        cmocka_unit_test(child_stopped_after_its_stop_signal_is_continued),
        cmocka_unit_test(ready_checks_gate_readiness),
        cmocka_unit_test(live_checks_fail_after_the_threshold),
        cmocka_unit_test(notify_checks_count_at_once),
        cmocka_unit_test(admin_drain_and_reload),
        cmocka_unit_test(start_first_rolls_back_and_merges),
    };
    return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
