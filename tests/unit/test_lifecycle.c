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
    struct lc_event ev = {.type = type, .now_ms = now};
    if (type == LC_EV_SIGNAL)
        ev.sig = arg;
    else if (type == LC_EV_CHILD_EXITED)
        ev.status = arg;
    else if (type == LC_EV_SPAWNED)
        ev.pid = arg;
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
    step(LC_EV_SPAWNED, 1000, 42);
}

static void spawn_makes_ready(void **state)
{
    setup_cfg(0, 5000, SIGTERM);
    assert_int_equal(lc.state, LC_STARTING);
    assert_false(lifecycle_ready(&lc));
    assert_false(lifecycle_started(&lc));
    start();
    assert_int_equal(lc.state, LC_READY);
    assert_int_equal(lc.child_pid, 42);
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
    assert_int_equal(res.actions[a].timer, LC_TIMER_PRESTOP);
    assert_int_equal(res.actions[a].ms, 5000);

    step(LC_EV_PRESTOP_ELAPSED, 7000, 0);
    assert_int_equal(lc.state, LC_STOPPING);
    a = find(LC_ACT_STOP_CHILD);
    assert_true(a >= 0);
    assert_int_equal(res.actions[a].sig, SIGQUIT);
    a = find(LC_ACT_ARM_TIMER);
    assert_int_equal(res.actions[a].timer, LC_TIMER_STOP);
    assert_int_equal(res.actions[a].ms, 20000);
    assert_true(lifecycle_live(&lc));

    step(LC_EV_STOP_TIMEOUT, 27000, 0);
    assert_true(find(LC_ACT_KILL_GROUP) >= 0);
    step(LC_EV_CHILD_EXITED, 27005, SIGKILL); /* raw wait status: killed by 9 */
    assert_int_equal(lc.state, LC_EXITED);
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
    assert_int_equal(res.actions[c].timer, LC_TIMER_PRESTOP);
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
    assert_int_equal(res.actions[find(LC_ACT_EXIT)].code, 3);
    assert_true(find(LC_ACT_CANCEL_TIMER) >= 0);
    assert_int_equal(find(LC_ACT_STOP_CHILD), -1);
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
    };
    return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
