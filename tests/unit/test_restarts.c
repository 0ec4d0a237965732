/* The restart defects found under attack (issue 23), one test each, on
 * the pure lifecycle: refused content never reaches a generation while
 * the one serving can be kept, a merged restart runs only on what it was
 * queued for, a memory shortfall is the lifecycle's own event, and admin
 * restarts during a restart follow one rule. */
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
static int64_t now;
static char *validate_argv[] = {"nginx", "-t", NULL};

static void feed(struct lc_event ev)
{
    now += 100;
    ev.now_ms = now;
    lifecycle_step(&lc, &ev, &res);
    assert_int_equal(lc.faults, 0);
}

static int find(enum lc_action_type type, int child)
{
    for (int i = 0; i < res.nactions; i++)
        if (res.actions[i].type == type && (child < 0 || (int)res.actions[i].child == child))
            return i;
    return -1;
}

/* h1 runs in gen-a, ready (no ready checks), with --validate and
 * --on-change restart. */
static void setup(enum restart_mode mode, int64_t prestop_ms)
{
    memset(&cfg, 0, sizeof cfg);
    for (int i = 0; i < OPTIONS_NSIG; i++)
        cfg.rewrite[i] = -1;
    cfg.prestop_delay_ms = prestop_ms;
    cfg.stop_timeout_ms = 5000;
    cfg.grace_ms = 30000;
    cfg.stop_signal = SIGTERM;
    cfg.ready_timeout_ms = 60000;
    cfg.restart_mode = mode;
    cfg.on_change.kind = ON_CHANGE_RESTART;
    cfg.validate.argv = validate_argv;
    lifecycle_init(&lc, &cfg);
    now = 1000;
    feed((struct lc_event){.type = LC_EV_START, .text = "h1"});
    feed((struct lc_event){.type = LC_EV_FORKED, .child = LC_GEN_A, .pid = 42});
    feed((struct lc_event){.type = LC_EV_EXEC_OK, .child = LC_GEN_A});
    assert_int_equal(lc.state, LC_READY);
}

static void change(const char *hash)
{
    feed((struct lc_event){.type = LC_EV_CONFIG_CHANGED, .text = hash});
}

/* --validate runs for what landed last, and ends with a verdict on it. */
static void verdict(const char *hash, int passes)
{
    assert_true(lc.children[LC_VALIDATE].in_use);
    assert_string_equal(lc.config.validating, hash);
    if (lc.children[LC_VALIDATE].pid == 0)
        feed((struct lc_event){.type = LC_EV_FORKED, .child = LC_VALIDATE, .pid = 60});
    feed((struct lc_event){.type = LC_EV_CHILD_EXITED,
                           .child = LC_VALIDATE,
                           .status = passes ? 0 : 1 << 8,
                           .hash = hash});
}

static void validate_starts(void)
{
    feed((struct lc_event){.type = LC_EV_FORKED, .child = LC_VALIDATE, .pid = 60});
}

/* good h2 passes; its next generation starts in gen-b as pid 43. */
static void next_generation_started(void)
{
    change("h2");
    verdict("h2", 1);
    assert_int_equal(lc.state, LC_RESTART_NEXT);
    assert_true(find(LC_ACT_SPAWN, LC_GEN_B) >= 0);
    feed((struct lc_event){.type = LC_EV_FORKED, .child = LC_GEN_B, .pid = 43});
}

/* Stop-first, a 1.5 s prestop delay: good h2 passed and its restart
 * began; `second` landed and is being judged when the delay ends. */
static void delay_over_while_judging(const char *second)
{
    setup(RESTART_MODE_STOP_FIRST, 1500);
    change("h2");
    verdict("h2", 1);
    change(second);
    validate_starts();
    feed((struct lc_event){.type = LC_EV_PRESTOP_ELAPSED, .child = LC_GEN_A});
}

/* --restart-policy on-failure: the child exited 1 and its restart waits
 * out the backoff. */
static void crashed_in_backoff(void)
{
    setup(RESTART_MODE_STOP_FIRST, 0);
    cfg.restart_policy = RESTART_ON_FAILURE;
    cfg.backoff_initial_ms = 1000;
    cfg.backoff_max_ms = 30000;
    feed((struct lc_event){.type = LC_EV_CHILD_EXITED, .child = LC_GEN_A, .status = 1 << 8});
}

/* High: BAD lands while the next generation starts, and is refused: the
 * next one may have read it; it is stopped, never promoted, and the
 * current generation (and what /status names) is kept. */
static void refused_content_is_never_promoted(void **state)
{
    setup(RESTART_MODE_START_FIRST, 0);
    next_generation_started();
    change("BAD3");
    verdict("BAD3", 0);
    assert_int_equal(lc.state, LC_READY);
    assert_int_equal(lc.current, LC_GEN_A);
    assert_int_equal(lifecycle_main_pid(&lc), 42);
    int stop = find(LC_ACT_STOP_CHILD, LC_GEN_B);
    assert_true(stop >= 0);
    assert_int_equal(res.actions[stop].pid, 43);
    assert_string_equal(lc.config.hash, "h1");
    assert_int_equal(lc.rollbacks, 1);
    /* its READY=1 afterwards promotes nothing */
    feed((struct lc_event){.type = LC_EV_NEXT_READY, .child = LC_GEN_B});
    assert_int_equal(lc.current, LC_GEN_A);
}

/* The next generation's READY=1 while the change that landed during its
 * start is still judged: it waits for the verdict. */
static void ready_waits_for_the_verdict(void **state)
{
    setup(RESTART_MODE_START_FIRST, 0);
    next_generation_started();
    change("BAD3");
    validate_starts();
    feed((struct lc_event){.type = LC_EV_NEXT_READY, .child = LC_GEN_B});
    assert_int_equal(lc.state, LC_RESTART_NEXT);
    assert_int_equal(lc.current, LC_GEN_A);
    assert_true(lifecycle_ready(&lc)); /* the current one serves meanwhile */
    verdict("BAD3", 0);
    assert_int_equal(lc.state, LC_READY);
    assert_int_equal(lc.current, LC_GEN_A);
    assert_true(find(LC_ACT_STOP_CHILD, LC_GEN_B) >= 0);

    /* the same with a change that passes: promoted at the verdict, and the
     * passed change is one more restart after it */
    setup(RESTART_MODE_START_FIRST, 0);
    next_generation_started();
    change("h3");
    validate_starts();
    feed((struct lc_event){.type = LC_EV_NEXT_READY, .child = LC_GEN_B});
    assert_int_equal(lc.current, LC_GEN_A);
    verdict("h3", 1);
    assert_int_equal(lc.current, LC_GEN_B);
    assert_int_equal(lc.state, LC_READY);
    assert_true(lc.restart_again);
}

/* High: goodA restarting, goodB queued, BADC refused: the queued restart
 * never starts on BADC. */
static void a_queued_restart_runs_only_on_what_it_was_queued_for(void **state)
{
    setup(RESTART_MODE_START_FIRST, 0);
    next_generation_started(); /* goodA = h2 */
    feed((struct lc_event){.type = LC_EV_NEXT_READY, .child = LC_GEN_B});
    assert_int_equal(lc.current, LC_GEN_B); /* promoted; gen-a (42) stops */
    change("h3");                           /* goodB */
    verdict("h3", 1);
    assert_true(lc.restart_again);
    assert_string_equal(lc.queued_hash, "h3");
    change("BADC");
    verdict("BADC", 0);
    /* the old generation is gone: the queued restart would read BADC */
    feed((struct lc_event){.type = LC_EV_CHILD_EXITED, .child = LC_GEN_A, .status = 0});
    assert_int_equal(find(LC_ACT_SPAWN, -1), -1);
    assert_true(find(LC_ACT_WARN, -1) >= 0);
    assert_int_equal(lc.state, LC_READY);
    assert_false(lc.restart_again);
    assert_string_equal(lc.config.hash, "h2");
    /* without the refusal, the queued restart runs on what it was queued for */
    setup(RESTART_MODE_START_FIRST, 0);
    next_generation_started();
    feed((struct lc_event){.type = LC_EV_NEXT_READY, .child = LC_GEN_B});
    change("h3");
    verdict("h3", 1);
    feed((struct lc_event){.type = LC_EV_CHILD_EXITED, .child = LC_GEN_A, .status = 0});
    assert_int_equal(lc.state, LC_RESTART_NEXT);
    assert_true(find(LC_ACT_SPAWN, LC_GEN_A) >= 0);
    assert_string_equal(lc.config.hash, "h3");
}

/* High: stop-first, good h2 validated, a 1.5 s prestop delay, BAD3 lands
 * 0.6 s in and is refused: the old child still runs h1; it is kept, ready
 * again, and nothing is stopped or started. */
static void a_restart_not_yet_stopping_is_cancelled_by_a_refusal(void **state)
{
    setup(RESTART_MODE_STOP_FIRST, 1500);
    change("h2");
    verdict("h2", 1);
    assert_int_equal(lc.state, LC_RESTART_DELAY);
    assert_false(lifecycle_ready(&lc));
    change("BAD3");
    verdict("BAD3", 0);
    assert_int_equal(lc.state, LC_READY);
    assert_true(lifecycle_ready(&lc));
    assert_true(find(LC_ACT_WARN, -1) >= 0);
    int c = find(LC_ACT_CANCEL_TIMER, LC_GEN_A);
    assert_true(c >= 0);
    assert_int_equal(res.actions[c].timer, LC_EV_PRESTOP_ELAPSED);
    assert_string_equal(lc.config.hash, "h1");
    feed((struct lc_event){.type = LC_EV_PRESTOP_ELAPSED, .child = LC_GEN_A});
    assert_int_equal(lc.state, LC_READY);
    assert_int_equal(find(LC_ACT_STOP_CHILD, -1), -1);

    /* the delay ends while BAD3 is judged: the stop waits for the verdict */
    delay_over_while_judging("BAD3");
    assert_int_equal(lc.state, LC_RESTART_DELAY);
    assert_int_equal(find(LC_ACT_STOP_CHILD, -1), -1);
    verdict("BAD3", 0);
    assert_int_equal(lc.state, LC_READY);
    assert_int_equal(find(LC_ACT_STOP_CHILD, -1), -1);

    /* ... and a passing verdict lets the stop go out */
    delay_over_while_judging("h3");
    verdict("h3", 1);
    assert_int_equal(lc.state, LC_RESTART_STOPPING);
    assert_true(find(LC_ACT_STOP_CHILD, LC_GEN_A) >= 0);
    assert_string_equal(lc.config.hash, "h3");
}

/* SIGTERM while the stop waits for a verdict: the delay is over, so the
 * drain stops the child at once instead of waiting for a timer that
 * already fired. */
static void sigterm_while_the_stop_waits_for_a_verdict(void **state)
{
    delay_over_while_judging("h3");
    feed((struct lc_event){.type = LC_EV_SIGNAL, .sig = SIGTERM});
    assert_int_equal(lc.state, LC_STOPPING);
    assert_true(find(LC_ACT_STOP_CHILD, LC_GEN_A) >= 0);
}

/* High: a next generation that would not fit in memory is a lifecycle
 * event of its own: the restart goes stop-first, the reason said. */
static void no_memory_for_a_next_generation_restarts_stop_first(void **state)
{
    setup(RESTART_MODE_START_FIRST, 0);
    change("h2");
    verdict("h2", 1);
    assert_int_equal(lc.state, LC_RESTART_NEXT);
    feed((struct lc_event){.type = LC_EV_NO_MEMORY, .child = LC_GEN_B});
    assert_false(lc.children[LC_GEN_B].in_use);
    assert_int_equal(lc.state, LC_RESTART_STOPPING);
    assert_true(find(LC_ACT_STOP_CHILD, LC_GEN_A) >= 0);
    int w = find(LC_ACT_WARN, -1);
    assert_true(w >= 0);
    assert_non_null(strstr(res.actions[w].why, "memory"));
    /* late or foreign: ignored */
    feed((struct lc_event){.type = LC_EV_NO_MEMORY, .child = LC_GEN_B});
    assert_int_equal(res.nactions, 0);
}

/* Medium: POST /restart during a start-first restart: accepted at every
 * point of it (never 202 once and 409 later), merged into one more
 * restart, and counted as admin. */
static void admin_restarts_during_a_restart_merge_and_count_as_admin(void **state)
{
    setup(RESTART_MODE_START_FIRST, 0);
    cfg.validate.argv = NULL;
    feed((struct lc_event){.type = LC_EV_RESTART, .code = LC_REASON_ADMIN});
    assert_int_equal(lc.state, LC_RESTART_NEXT);
    feed((struct lc_event){.type = LC_EV_FORKED, .child = LC_GEN_B, .pid = 43});
    assert_null(lifecycle_admin_refusal(&lc, LC_ADMIN_RESTART));
    assert_true(lifecycle_restart_queues(&lc));
    feed((struct lc_event){.type = LC_EV_RESTART, .code = LC_REASON_ADMIN});
    feed((struct lc_event){.type = LC_EV_NEXT_READY, .child = LC_GEN_B});
    assert_null(lifecycle_admin_refusal(&lc, LC_ADMIN_RESTART));
    feed((struct lc_event){.type = LC_EV_RESTART, .code = LC_REASON_ADMIN});
    feed((struct lc_event){.type = LC_EV_CHILD_EXITED, .child = LC_GEN_A, .status = 0});
    assert_int_equal(lc.state, LC_RESTART_NEXT); /* the one merged restart */
    assert_int_equal(lc.restart_reason, LC_REASON_ADMIN);
    feed((struct lc_event){.type = LC_EV_FORKED, .child = LC_GEN_A, .pid = 44});
    feed((struct lc_event){.type = LC_EV_NEXT_READY, .child = LC_GEN_A});
    feed((struct lc_event){.type = LC_EV_CHILD_EXITED, .child = LC_GEN_B, .status = 0});
    assert_int_equal(lc.state, LC_READY);
    assert_int_equal(lc.restarts_by[LC_REASON_ADMIN], 2);
    assert_int_equal(lc.restarts_by[LC_REASON_CONFIG], 0);
    /* draining: refused */
    feed((struct lc_event){.type = LC_EV_SIGNAL, .sig = SIGTERM});
    assert_non_null(lifecycle_admin_refusal(&lc, LC_ADMIN_RESTART));
    assert_false(lifecycle_restart_queues(&lc));
}

/* Found by the explorer: the main child cannot be spawned while a
 * --validate runs: podvisor exits 1 only after the clean-up has seen to
 * the helper, never leaving it behind. */
static void a_failed_spawn_cleans_up_before_exiting(void **state)
{
    crashed_in_backoff();
    assert_int_equal(lc.state, LC_RESTART_BACKOFF);
    change("g1");
    validate_starts();
    feed((struct lc_event){.type = LC_EV_BACKOFF_ELAPSED, .child = LC_GEN_A});
    verdict("g1", 1);
    assert_true(find(LC_ACT_SPAWN, LC_GEN_A) >= 0);
    change("g2");
    validate_starts();
    feed((struct lc_event){.type = LC_EV_SPAWN_FAILED, .child = LC_GEN_A});
    assert_int_equal(lc.state, LC_EXITED);
    assert_int_equal(find(LC_ACT_EXIT, -1), -1);
    int k = find(LC_ACT_KILL_GROUP, LC_VALIDATE);
    assert_true(k >= 0);
    assert_int_equal(res.actions[k].pid, 60);
    feed((struct lc_event){.type = LC_EV_REAPED, .left = 1});
    assert_int_equal(find(LC_ACT_EXIT, -1), -1);
    feed((struct lc_event){.type = LC_EV_CHILD_EXITED, .child = LC_VALIDATE, .status = SIGKILL});
    feed((struct lc_event){.type = LC_EV_REAPED, .left = 0});
    assert_int_equal(res.actions[find(LC_ACT_EXIT, -1)].code, 1);
}

/* Found by the explorer: POST /restart while --validate judges a change
 * started a generation on the unjudged content. Now it is refused, as
 * /reload is, and when the files hold refused content too. */
static void admin_restart_never_applies_unjudged_or_refused_content(void **state)
{
    setup(RESTART_MODE_START_FIRST, 0);
    change("g1");
    validate_starts();
    assert_string_equal(lifecycle_admin_refusal(&lc, LC_ADMIN_RESTART),
                        "not now: a change is being validated");
    feed((struct lc_event){.type = LC_EV_RESTART, .code = LC_REASON_ADMIN});
    assert_int_equal(lc.state, LC_READY);
    assert_int_equal(find(LC_ACT_SPAWN, -1), -1);
    setup(RESTART_MODE_STOP_FIRST, 0);
    change("b1");
    verdict("b1", 0);
    assert_string_equal(lifecycle_admin_refusal(&lc, LC_ADMIN_RESTART),
                        "the files hold a change --validate refused: fix them first");
    change("h1"); /* back to what runs: a restart is fine again */
    assert_null(lifecycle_admin_refusal(&lc, LC_ADMIN_RESTART));
}

/* Found by the explorer: the files went g1 -> g2 -> g1 while g1 was
 * judged; its pass is applied, and g1 is not judged a second time. */
static void content_just_judged_is_not_judged_again(void **state)
{
    setup(RESTART_MODE_STOP_FIRST, 0);
    change("g1");
    validate_starts();
    change("g2");
    change("g1");
    verdict("g1", 1);
    assert_true(lifecycle_restarting(lc.state));
    assert_string_equal(lc.config.hash, "g1");
    assert_false(lc.children[LC_VALIDATE].in_use);
}

/* Found by the explorer (and the "SIGKILL after 1 s"): a
 * rolled-back generation still within its stop timeout is not cut short
 * by the clean-up after the current one exits: the clean-up's SIGKILL
 * waits for its deadline. */
static void the_clean_up_keeps_each_generations_own_deadline(void **state)
{
    setup(RESTART_MODE_START_FIRST, 0);
    next_generation_started();
    feed((struct lc_event){.type = LC_EV_READY_TIMEOUT}); /* rolled back: gen-b stops */
    assert_int_equal(lc.state, LC_READY);
    int64_t stop_at = now;
    assert_true(lc.children[LC_GEN_B].kill_at_ms == stop_at + 5000);
    feed((struct lc_event){.type = LC_EV_CHILD_EXITED, .child = LC_GEN_A, .status = 0});
    assert_int_equal(lc.state, LC_EXITED);
    feed((struct lc_event){.type = LC_EV_REAPED, .left = 1});
    int a = find(LC_ACT_ARM_TIMER, -1);
    assert_true(a >= 0);
    assert_int_equal(res.actions[a].timer, LC_EV_CLEANUP_TERM_ELAPSED);
    assert_true(now + res.actions[a].ms == stop_at + 5000);
}

/* Found by the explorer: a --validate that cannot even be forked while a
 * crash restart waits for its verdict left podvisor with no child, in
 * restarting/backoff, for good. */
static void a_validate_that_cannot_start_does_not_strand_a_restart(void **state)
{
    crashed_in_backoff();
    change("g1");
    validate_starts();
    feed((struct lc_event){.type = LC_EV_BACKOFF_ELAPSED, .child = LC_GEN_A});
    assert_true(lc.start_after_validate);
    change("g2");
    /* g1 passed, but the files hold g2 now: g2 is judged, and that
     * --validate cannot be forked */
    feed((struct lc_event){
        .type = LC_EV_CHILD_EXITED, .child = LC_VALIDATE, .status = 0, .hash = "g2"});
    assert_true(find(LC_ACT_SPAWN, LC_VALIDATE) >= 0);
    feed((struct lc_event){.type = LC_EV_SPAWN_FAILED, .child = LC_VALIDATE});
    assert_int_equal(lc.state, LC_RESTART_STARTING);
    assert_true(find(LC_ACT_SPAWN, LC_GEN_A) >= 0);
}

/* Medium: the old generation says RELOADING=1 (or STOPPING=1) while the
 * next one starts; the next one's READY=1 promotes it, and that READY=1 is
 * its notify check's result: the pod is ready, not 503 for good. */
static void a_promoted_generation_is_ready_whatever_the_old_one_said(void **state)
{
    static char *notify[] = {"notify"};
    setup(RESTART_MODE_START_FIRST, 0);
    cfg.ready_check = (struct strlist){notify, 1};
    cfg.validate.argv = NULL;
    lifecycle_init(&lc, &cfg);
    feed((struct lc_event){.type = LC_EV_START, .text = "h1"});
    feed((struct lc_event){.type = LC_EV_FORKED, .child = LC_GEN_A, .pid = 42});
    feed((struct lc_event){.type = LC_EV_EXEC_OK, .child = LC_GEN_A});
    feed((struct lc_event){.type = LC_EV_CHECK_RESULT, .check = 0, .code = 1});
    assert_int_equal(lc.state, LC_READY);
    change("h2");
    feed((struct lc_event){.type = LC_EV_FORKED, .child = LC_GEN_B, .pid = 43});
    feed((struct lc_event){.type = LC_EV_CHECK_RESULT,
                           .check = 0,
                           .code = 0,
                           .text = "RELOADING=1: the app is reloading"});
    feed((struct lc_event){.type = LC_EV_NEXT_READY, .child = LC_GEN_B});
    assert_int_equal(lc.current, LC_GEN_B);
    assert_int_equal(lc.state, LC_READY);
    assert_true(lifecycle_ready(&lc));
}

/* Medium: dumb-init's swap, --rewrite TERM:INT --rewrite INT:TERM with
 * the stop signal following TERM's rewrite (INT): SIGINT, rewritten to
 * TERM, starts the drain, and the app gets TERM, rewritten once. */
static void a_signal_is_rewritten_once(void **state)
{
    for (int sent = 0; sent < 2; sent++) {
        setup(RESTART_MODE_STOP_FIRST, 0);
        cfg.rewrite[SIGTERM] = SIGINT;
        cfg.rewrite[SIGINT] = SIGTERM;
        cfg.stop_signal = SIGINT; /* what options derive from --rewrite TERM:INT */
        feed((struct lc_event){.type = LC_EV_SIGNAL, .sig = sent ? SIGTERM : SIGINT});
        int stop = find(LC_ACT_STOP_CHILD, LC_GEN_A);
        assert_true(stop >= 0);
        assert_int_equal(res.actions[stop].sig, sent ? SIGINT : SIGTERM);
    }
    /* dumb-init's own sequence: TERM, QUIT, CONT, INT gives INT, QUIT, CONT,
     * TERM: the INT after the drain began repeats the stop signal as TERM */
    setup(RESTART_MODE_STOP_FIRST, 0);
    cfg.rewrite[SIGTERM] = SIGINT;
    cfg.rewrite[SIGINT] = SIGTERM;
    cfg.stop_signal = SIGINT;
    int sent[] = {SIGTERM, SIGQUIT, SIGCONT, SIGINT}, got[] = {SIGINT, SIGQUIT, SIGCONT, SIGTERM};
    for (int i = 0; i < 4; i++) {
        feed((struct lc_event){.type = LC_EV_SIGNAL, .sig = sent[i]});
        int a = find(LC_ACT_STOP_CHILD, LC_GEN_A);
        if (a < 0)
            a = find(LC_ACT_FORWARD, LC_GEN_A);
        assert_true(a >= 0);
        assert_int_equal(res.actions[a].sig, got[i]);
    }
    /* with --stop-signal given, that is the stop signal, whatever started it */
    setup(RESTART_MODE_STOP_FIRST, 0);
    cfg.rewrite[SIGQUIT] = SIGTERM;
    cfg.stop_signal = SIGQUIT;
    cfg.stop_signal_given = 1;
    feed((struct lc_event){.type = LC_EV_SIGNAL, .sig = SIGQUIT});
    assert_int_equal(res.actions[find(LC_ACT_STOP_CHILD, LC_GEN_A)].sig, SIGQUIT);
}

/* Medium: after a succession (MAINPID=, --pid-file) the group is the
 * first child's, which the successor and its workers kept; the successor's
 * pid is no group's id. A restart kills and awaits that group. */
static void a_successor_keeps_the_group_it_was_born_in(void **state)
{
    setup(RESTART_MODE_STOP_FIRST, 0);
    cfg.validate.argv = NULL;
    feed((struct lc_event){.type = LC_EV_MAINPID, .child = LC_GEN_A, .pid = 77, .pgid = 42});
    assert_int_equal(lifecycle_main_pid(&lc), 77);
    feed((struct lc_event){.type = LC_EV_RESTART, .code = LC_REASON_ADMIN});
    int stop = find(LC_ACT_STOP_CHILD, LC_GEN_A);
    assert_int_equal(res.actions[stop].pid, 77);
    assert_int_equal(res.actions[stop].pgid, 42);
    feed((struct lc_event){.type = LC_EV_CHILD_EXITED, .child = LC_GEN_A, .status = 0});
    assert_int_equal(res.actions[find(LC_ACT_KILL_OLD_GROUP, -1)].pid, 42);
    assert_int_equal(res.actions[find(LC_ACT_AWAIT_GROUP, -1)].pid, 42);
}

/* Medium: a successor adopted during the drain, after the stop signal went
 * to the process it replaces, gets its own stop signal (it was SIGKILLed at
 * the stop timeout: exit 137 instead of 0). */
static void a_successor_adopted_while_stopping_gets_the_stop_signal(void **state)
{
    setup(RESTART_MODE_STOP_FIRST, 0);
    feed((struct lc_event){.type = LC_EV_SIGNAL, .sig = SIGTERM});
    assert_int_equal(lc.state, LC_STOPPING);
    assert_int_equal(res.actions[find(LC_ACT_STOP_CHILD, LC_GEN_A)].pid, 42);
    feed((struct lc_event){.type = LC_EV_MAINPID, .child = LC_GEN_A, .pid = 77, .pgid = 42});
    int stop = find(LC_ACT_STOP_CHILD, LC_GEN_A);
    assert_true(stop >= 0);
    assert_int_equal(res.actions[stop].pid, 77);
    assert_int_equal(res.actions[stop].sig, SIGTERM);
    assert_int_equal(find(LC_ACT_ARM_TIMER, -1), -1); /* the deadline stays */
}

/* Low: /status gives the last restart's duration, from its trigger until
 * the new generation is ready, for both modes; a rollback is no restart. */
static void the_last_restart_is_timed_from_trigger_to_ready(void **state)
{
    setup(RESTART_MODE_START_FIRST, 0);
    cfg.validate.argv = NULL;
    int64_t t0;
    change("h2");
    feed((struct lc_event){.type = LC_EV_FORKED, .child = LC_GEN_B, .pid = 43});
    feed((struct lc_event){.type = LC_EV_READY_TIMEOUT});
    assert_int_equal(lc.last_restart.at_ms, 0); /* rolled back: not a restart */
    feed((struct lc_event){.type = LC_EV_CHILD_EXITED, .child = LC_GEN_B, .status = 0});
    change("h3");
    t0 = now;
    feed((struct lc_event){.type = LC_EV_FORKED, .child = LC_GEN_B, .pid = 44});
    feed((struct lc_event){.type = LC_EV_NEXT_READY, .child = LC_GEN_B});
    assert_true(lc.last_restart.took_ms == now - t0);
    assert_int_equal(lc.last_restart.reason, LC_REASON_CONFIG);
    /* stop-first: until the restarted child is ready */
    setup(RESTART_MODE_STOP_FIRST, 1000);
    cfg.validate.argv = NULL;
    feed((struct lc_event){.type = LC_EV_RESTART, .code = LC_REASON_ADMIN});
    t0 = now;
    feed((struct lc_event){.type = LC_EV_PRESTOP_ELAPSED, .child = LC_GEN_A});
    feed((struct lc_event){.type = LC_EV_CHILD_EXITED, .child = LC_GEN_A, .status = 0});
    feed((struct lc_event){.type = LC_EV_OLD_GROUP_GONE, .child = LC_GEN_A});
    feed((struct lc_event){.type = LC_EV_FORKED, .child = LC_GEN_A, .pid = 45});
    assert_int_equal(lc.last_restart.at_ms, 0);
    feed((struct lc_event){.type = LC_EV_EXEC_OK, .child = LC_GEN_A});
    assert_true(lc.last_restart.took_ms == now - t0);
    assert_int_equal(lc.last_restart.reason, LC_REASON_ADMIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refused_content_is_never_promoted),
        cmocka_unit_test(ready_waits_for_the_verdict),
        cmocka_unit_test(a_queued_restart_runs_only_on_what_it_was_queued_for),
        cmocka_unit_test(a_restart_not_yet_stopping_is_cancelled_by_a_refusal),
        cmocka_unit_test(sigterm_while_the_stop_waits_for_a_verdict),
        cmocka_unit_test(no_memory_for_a_next_generation_restarts_stop_first),
        cmocka_unit_test(admin_restarts_during_a_restart_merge_and_count_as_admin),
        cmocka_unit_test(a_failed_spawn_cleans_up_before_exiting),
        cmocka_unit_test(admin_restart_never_applies_unjudged_or_refused_content),
        cmocka_unit_test(content_just_judged_is_not_judged_again),
        cmocka_unit_test(the_clean_up_keeps_each_generations_own_deadline),
        cmocka_unit_test(a_validate_that_cannot_start_does_not_strand_a_restart),
        cmocka_unit_test(a_promoted_generation_is_ready_whatever_the_old_one_said),
        cmocka_unit_test(a_signal_is_rewritten_once),
        cmocka_unit_test(a_successor_keeps_the_group_it_was_born_in),
        cmocka_unit_test(a_successor_adopted_while_stopping_gets_the_stop_signal),
        cmocka_unit_test(the_last_restart_is_timed_from_trigger_to_ready),
    };
    return cmocka_run_group_tests_name("restarts", tests, NULL, NULL);
}
