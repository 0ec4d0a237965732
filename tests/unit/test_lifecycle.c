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
    struct lc_event ev = {.type = type, .now_ms = now, .child = LC_MAIN};
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
    assert_int_equal(res.actions[0].child, LC_MAIN);
    step(LC_EV_START, 1000, 0); /* never twice */
    assert_int_equal(res.nactions, 0);
    step(LC_EV_FORKED, 1000, 42);
    assert_int_equal(lc.state, LC_STARTING); /* exec still pending */
    assert_int_equal(lifecycle_child_by_pid(&lc, 42), LC_MAIN);
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
    assert_false(lifecycle_ready(&lc)); /* readiness fails at once */
    assert_true(lifecycle_live(&lc));   /* liveness stays */
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
    assert_int_equal(res.actions[a].child, LC_MAIN);
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

static void state_names(void **state)
{
    assert_string_equal(lifecycle_state_name(LC_DRAINING), "draining");
    assert_string_equal(lifecycle_state_name(LC_EXITED), "exited");
    assert_string_equal(lifecycle_state_name((enum lc_state)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spawn_makes_ready),
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
    };
    return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
