/* The golden transition table: every (situation, event) pair of the pure
 * lifecycle, walked from a fresh lifecycle each time, and what it does (the
 * new state, the actions with their arguments), compared line by line with
 * tests/unit/transitions.golden. "What does event X do in state Y" is
 * answered by that one file, as s6-supervise's actions[state][event] is;
 * a change in behaviour shows there as a diff a reviewer reads.
 *
 *   PODVISOR_UPDATE_GOLDEN=1 build/tests/test_transitions   writes the file anew */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lifecycle.h"

#define GOLDEN "tests/unit/transitions.golden"

static struct podvisor_config cfg;
static struct lifecycle lc;
static struct lc_result res;
static int64_t now;

static const char *const slot_names[LC_MAX_CHILDREN] = {
    [LC_GEN_A] = "gen-a", [LC_VALIDATE] = "validate", [LC_ACTION] = "action", [LC_GEN_B] = "gen-b"};

static const char *const action_names[] = {
    [LC_ACT_SPAWN] = "spawn",
    [LC_ACT_FORWARD] = "forward",
    [LC_ACT_STOP_CHILD] = "stop",
    [LC_ACT_KILL_GROUP] = "kill-group",
    [LC_ACT_KILL_OLD_GROUP] = "kill-old-group",
    [LC_ACT_AWAIT_GROUP] = "await-group",
    [LC_ACT_SIGNAL_REMAINING] = "signal-remaining",
    [LC_ACT_ARM_TIMER] = "arm",
    [LC_ACT_CANCEL_TIMER] = "cancel",
    [LC_ACT_EXIT] = "exit",
    [LC_ACT_WEBHOOK] = "webhook",
    [LC_ACT_SIGNAL_PROCESSES] = "signal-processes",
    [LC_ACT_REAP] = "reap",
    [LC_ACT_WARN] = "warn",
};

static void step(struct lc_event ev)
{
    now += 10;
    ev.now_ms = now;
    lifecycle_step(&lc, &ev, &res);
}

static void step_type(enum lc_event_type type)
{
    step((struct lc_event){.type = type});
}

/* One config for the whole table: a prestop delay, a ready check, a crash
 * restart policy and the graceful restart on a change, so that every state
 * and restart phase can be reached. */
static int with_socket;   /* the situations with a --socket held */
static int start_first;   /* the situations with --restart-mode start-first */
static int with_validate; /* the situations with --validate */
static int exec_action;   /* the situations with --on-change exec: */
static int sidecar;       /* sidecar mode */
static int drain_idle;    /* --drain-idle */

static void fresh(void)
{
    static char *ready[] = {"tcp://127.0.0.1:8080"};
    static char *sockets[] = {"tcp://:8080"};
    memset(&cfg, 0, sizeof cfg);
    for (int i = 0; i < OPTIONS_NSIG; i++)
        cfg.rewrite[i] = -1;
    cfg.prestop_delay_ms = 1000;
    cfg.stop_timeout_ms = 5000;
    cfg.grace_ms = 30000;
    cfg.stop_signal = SIGTERM;
    cfg.restart_policy = RESTART_ON_FAILURE;
    cfg.backoff_initial_ms = 1000;
    cfg.backoff_max_ms = 30000;
    cfg.on_change.kind = ON_CHANGE_RESTART;
    cfg.ready_check = (struct strlist){ready, 1};
    cfg.failure_threshold = 3;
    cfg.ready_timeout_ms = 60000;
    if (with_socket)
        cfg.socket = (struct strlist){sockets, 1};
    cfg.drain_idle = drain_idle;
    if (start_first)
        cfg.restart_mode = RESTART_MODE_START_FIRST;
    static char *validate[] = {"validate", NULL}, *reload[] = {"reload", NULL};
    if (with_validate)
        cfg.validate.argv = validate;
    if (exec_action) {
        cfg.on_change.kind = ON_CHANGE_EXEC;
        cfg.on_change.argv = reload;
    }
    if (sidecar) {
        cfg.sidecar = 1;
        cfg.ready_check = (struct strlist){NULL, 0};
    }
    lifecycle_init(&lc, &cfg);
    now = 1000;
}

static void started(void)
{
    fresh();
    step_type(LC_EV_START);
    step((struct lc_event){.type = LC_EV_FORKED, .child = LC_GEN_A, .pid = 42});
}

static void running(void)
{
    started();
    step((struct lc_event){.type = LC_EV_EXEC_OK, .child = LC_GEN_A});
}

static void ready(void)
{
    running();
    step((struct lc_event){.type = LC_EV_CHECK_RESULT, .check = 0, .code = 1});
}

static void draining(void)
{
    ready();
    step((struct lc_event){.type = LC_EV_SIGNAL, .sig = SIGTERM});
}

static void stopping(void)
{
    draining();
    step_type(LC_EV_PRESTOP_ELAPSED);
}

static void exited(void)
{
    stopping();
    step((struct lc_event){.type = LC_EV_CHILD_EXITED, .child = LC_GEN_A, .status = 0});
}

static void restart_delay(void)
{
    ready();
    step((struct lc_event){.type = LC_EV_CONFIG_CHANGED, .text = "h2"});
}

static void restart_stopping(void)
{
    restart_delay();
    step_type(LC_EV_PRESTOP_ELAPSED);
}

static void restart_old_group(void)
{
    restart_stopping();
    step((struct lc_event){.type = LC_EV_CHILD_EXITED, .child = LC_GEN_A, .status = SIGTERM});
}

static void restart_starting(void)
{
    restart_old_group();
    step_type(LC_EV_OLD_GROUP_GONE);
    step((struct lc_event){.type = LC_EV_FORKED, .child = LC_GEN_A, .pid = 43});
}

static void restart_backoff(void)
{
    ready();
    step((struct lc_event){.type = LC_EV_CHILD_EXITED, .child = LC_GEN_A, .status = 1 << 8});
}

static void held_restart_stopping(void)
{
    with_socket = 1;
    ready();
    with_socket = 0;
    step((struct lc_event){.type = LC_EV_CONFIG_CHANGED, .text = "h2"});
}

static void held_restart_running(void)
{
    held_restart_stopping();
    step((struct lc_event){.type = LC_EV_CHILD_EXITED, .child = LC_GEN_A, .status = SIGTERM});
    step_type(LC_EV_OLD_GROUP_GONE);
    step((struct lc_event){.type = LC_EV_FORKED, .child = LC_GEN_A, .pid = 43});
    step((struct lc_event){.type = LC_EV_EXEC_OK, .child = LC_GEN_A});
}

static void next_starting(void)
{
    start_first = 1;
    ready();
    start_first = 0;
    step((struct lc_event){.type = LC_EV_CONFIG_CHANGED, .text = "h2"});
    step((struct lc_event){.type = LC_EV_FORKED, .child = LC_GEN_B, .pid = 44});
    step((struct lc_event){.type = LC_EV_EXEC_OK, .child = LC_GEN_B});
}

static void old_stopping(void)
{
    next_starting();
    step((struct lc_event){.type = LC_EV_NEXT_READY, .child = LC_GEN_B});
}

/* The situations the flags make (lifecycle_flags): helpers running,
 * sidecar mode, the clean-up's phases, a queued restart, a rollback, a
 * successor, a stop waiting for a verdict. */
static void validating(void)
{
    with_validate = 1;
    ready();
    with_validate = 0;
    step((struct lc_event){.type = LC_EV_CONFIG_CHANGED, .text = "h2"});
    step((struct lc_event){.type = LC_EV_FORKED, .child = LC_VALIDATE, .pid = 70});
}

static void action_running(void)
{
    exec_action = 1;
    ready();
    exec_action = 0;
    step((struct lc_event){.type = LC_EV_CONFIG_CHANGED, .text = "h2"});
    step((struct lc_event){.type = LC_EV_FORKED, .child = LC_ACTION, .pid = 71});
}

static void sidecar_watching(void)
{
    sidecar = 1;
    fresh();
    sidecar = 0;
    step_type(LC_EV_START);
}

/* --drain-idle: the stop signal is out and no connection has been seen on
 * the app's ports since LC_DRAIN_IDLE_SETTLE_MS ago: the next count of 0
 * ends the drain. */
static void stopping_idle(void)
{
    drain_idle = 1;
    stopping();
    drain_idle = 0;
    step((struct lc_event){.type = LC_EV_CONNECTIONS, .code = 0});
    now += LC_DRAIN_IDLE_SETTLE_MS;
}

static void cleanup_term(void)
{
    exited();
    step((struct lc_event){.type = LC_EV_REAPED, .left = 1});
}

static void cleanup_kill(void)
{
    cleanup_term();
    step_type(LC_EV_CLEANUP_TERM_ELAPSED);
}

static void queued_restart(void)
{
    next_starting();
    step((struct lc_event){.type = LC_EV_CONFIG_CHANGED, .text = "h3"});
}

static void rolled_back(void)
{
    next_starting();
    step_type(LC_EV_READY_TIMEOUT);
}

static void ready_after_rollback(void)
{
    rolled_back();
    step((struct lc_event){.type = LC_EV_CHILD_EXITED, .child = LC_GEN_B, .status = SIGTERM});
}

static void successor(void)
{
    ready();
    step((struct lc_event){.type = LC_EV_MAINPID, .child = LC_GEN_A, .pid = 61, .pgid = 42});
}

static void stop_waits_for_verdict(void)
{
    validating();
    step((struct lc_event){
        .type = LC_EV_CHILD_EXITED, .child = LC_VALIDATE, .status = 0, .hash = "h2"});
    step((struct lc_event){.type = LC_EV_CONFIG_CHANGED, .text = "h3"});
    step((struct lc_event){.type = LC_EV_FORKED, .child = LC_VALIDATE, .pid = 72});
    step_type(LC_EV_PRESTOP_ELAPSED);
}

static const struct situation {
    const char *name;
    void (*reach)(void);
} situations[] = {
    {"fresh", fresh},
    {"started (exec pending)", started},
    {"running (a ready check pending)", running},
    {"ready", ready},
    {"draining", draining},
    {"stopping", stopping},
    {"exited (cleaning up)", exited},
    {"restart: prestop delay", restart_delay},
    {"restart: stopping", restart_stopping},
    {"restart: old group", restart_old_group},
    {"restart: starting", restart_starting},
    {"restart: crash backoff", restart_backoff},
    {"--socket restart: stopping (ready kept)", held_restart_stopping},
    {"--socket restart: running, not ready yet (ready kept)", held_restart_running},
    {"start-first: the next generation starts (gen-b)", next_starting},
    {"start-first: promoted; the old generation (gen-a) stops", old_stopping},
    {"ready; --validate judges a change", validating},
    {"ready; an exec: on-change action runs", action_running},
    {"sidecar mode", sidecar_watching},
    {"stopping, --drain-idle: no connection for the settle", stopping_idle},
    {"exited: leftovers got SIGTERM", cleanup_term},
    {"exited: leftovers got SIGKILL", cleanup_kill},
    {"start-first: a change queued behind the restart", queued_restart},
    {"start-first: rolled back; the next generation stops", rolled_back},
    {"start-first: ready again after a rollback", ready_after_rollback},
    {"ready; a successor adopted (MAINPID=)", successor},
    {"restart: delay over; the stop waits for a verdict", stop_waits_for_verdict},
};

/* Each event once, with the arguments a real one has (the main child's). */
static const struct lc_event events[] = {
    {.type = LC_EV_START},
    {.type = LC_EV_FORKED, .child = LC_GEN_A, .pid = 50},
    {.type = LC_EV_EXEC_OK, .child = LC_GEN_A},
    {.type = LC_EV_EXEC_FAILED, .child = LC_GEN_A, .code = 127},
    {.type = LC_EV_SPAWN_FAILED, .child = LC_GEN_A},
    {.type = LC_EV_SIGNAL, .sig = SIGTERM},
    {.type = LC_EV_SIGNAL, .sig = SIGHUP},
    {.type = LC_EV_SIGNAL, .sig = SIGINT},
    {.type = LC_EV_CHILD_STOPPED, .child = LC_GEN_A, .sig = SIGTSTP},
    {.type = LC_EV_CHILD_CONTINUED, .child = LC_GEN_A},
    {.type = LC_EV_CHILD_EXITED, .child = LC_GEN_A, .status = 0},
    {.type = LC_EV_CHILD_EXITED, .child = LC_GEN_A, .status = 3 << 8},
    {.type = LC_EV_REAPED, .left = 1},
    {.type = LC_EV_REAPED, .left = 0},
    {.type = LC_EV_PRESTOP_ELAPSED},
    {.type = LC_EV_STOP_TIMEOUT, .child = LC_GEN_A},
    {.type = LC_EV_CLEANUP_TERM_ELAPSED},
    {.type = LC_EV_CLEANUP_DEADLINE},
    {.type = LC_EV_CONFIG_CHANGED, .text = "h9"},
    {.type = LC_EV_RESTART, .code = LC_REASON_ADMIN},
    {.type = LC_EV_ACTION_RESULT, .code = 1, .text = "ok"},
    {.type = LC_EV_VALIDATE_TIMEOUT},
    {.type = LC_EV_ACTION_TIMEOUT},
    {.type = LC_EV_BACKOFF_ELAPSED},
    {.type = LC_EV_CHECK_RESULT, .check = 0, .code = 1},
    {.type = LC_EV_CHECK_RESULT, .check = 0, .code = 0, .text = "refused"},
    {.type = LC_EV_MAINPID, .pid = 60},
    {.type = LC_EV_NOTIFY_STATUS, .text = "up"},
    {.type = LC_EV_NOTIFY_REJECTED, .code = 0},
    {.type = LC_EV_DRAIN},
    {.type = LC_EV_RELOAD},
    {.type = LC_EV_OLD_GROUP_GONE},
    {.type = LC_EV_OLD_GROUP_DEADLINE},
    {.type = LC_EV_READY_TIMEOUT},
    {.type = LC_EV_CONNECTIONS, .code = 0},
    {.type = LC_EV_CONNECTIONS, .code = 2},
    /* the other generation slot's events (start-first) */
    {.type = LC_EV_NEXT_READY, .child = LC_GEN_B},
    {.type = LC_EV_CHILD_EXITED, .child = LC_GEN_B, .status = 1 << 8},
    {.type = LC_EV_STOP_TIMEOUT, .child = LC_GEN_B},
    {.type = LC_EV_CHILD_EXITED, .child = LC_GEN_A, .status = 0},
    {.type = LC_EV_STOP_TIMEOUT, .child = LC_GEN_A},
    {.type = LC_EV_SPAWN_FAILED, .child = LC_GEN_B},
    {.type = LC_EV_NO_MEMORY, .child = LC_GEN_B},
    /* the helpers' slots: a verdict on what is being judged, an action done */
    {.type = LC_EV_CHILD_EXITED, .child = LC_VALIDATE, .status = 0},
    {.type = LC_EV_CHILD_EXITED, .child = LC_VALIDATE, .status = 1 << 8},
    {.type = LC_EV_CHILD_EXITED, .child = LC_ACTION, .status = 0},
};

static size_t put(char *buf, size_t len, size_t o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t put(char *buf, size_t len, size_t o, const char *fmt, ...)
{
    if (o >= len)
        return o;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + o, len - o, fmt, ap);
    va_end(ap);
    return n > 0 ? o + (size_t)n : o;
}

static size_t describe_event(char *buf, size_t len, size_t o, const struct lc_event *ev)
{
    o = put(buf, len, o, "%s", lifecycle_event_name(ev->type));
    if (ev->child == LC_GEN_B || (ev->child == LC_GEN_A && ev->type == LC_EV_STOP_TIMEOUT) ||
        (ev->type == LC_EV_CHILD_EXITED && ev->child != LC_GEN_A))
        o = put(buf, len, o, "[%s]", slot_names[ev->child]);
    if (ev->type == LC_EV_SIGNAL || ev->type == LC_EV_CHILD_STOPPED)
        o = put(buf, len, o, "(%d)", ev->sig);
    else if (ev->type == LC_EV_CHILD_EXITED)
        o = put(buf, len, o, "(status %d)", ev->status);
    else if (ev->type == LC_EV_REAPED)
        o = put(buf, len, o, "(left %d)", ev->left);
    else if (ev->type == LC_EV_CHECK_RESULT)
        o = put(buf, len, o, "(%s)", ev->code ? "pass" : "fail");
    else if (ev->type == LC_EV_EXEC_FAILED || ev->type == LC_EV_CONNECTIONS)
        o = put(buf, len, o, "(%d)", ev->code);
    return o;
}

static size_t describe_state(char *buf, size_t len, size_t o)
{
    struct lc_condition c[LC_N_CONDITIONS];
    char flags[400];
    lifecycle_flags(&lc, flags, sizeof flags);
    return put(buf, len, o, "%s%s%s%s [%d]", lifecycle_state_detail(lc.state), flags[0] ? " {" : "",
               flags, flags[0] ? "}" : "", lifecycle_conditions(&lc, now, c) ? 200 : 503);
}

static size_t describe_actions(char *buf, size_t len, size_t o)
{
    if (res.nactions == 0)
        return put(buf, len, o, " -");
    for (int i = 0; i < res.nactions; i++) {
        const struct lc_action *a = &res.actions[i];
        o = put(buf, len, o, " %s", action_names[a->type]);
        switch (a->type) {
        case LC_ACT_FORWARD:
        case LC_ACT_STOP_CHILD:
        case LC_ACT_SIGNAL_REMAINING:
        case LC_ACT_SIGNAL_PROCESSES:
            o = put(buf, len, o, "(%d)", a->sig);
            break;
        case LC_ACT_ARM_TIMER:
            o = put(buf, len, o, "(%s %lldms)", lifecycle_event_name(a->timer), (long long)a->ms);
            break;
        case LC_ACT_CANCEL_TIMER:
            o = put(buf, len, o, "(%s)", lifecycle_event_name(a->timer));
            break;
        case LC_ACT_EXIT:
        case LC_ACT_KILL_GROUP:
            o = put(buf, len, o, "(%d)", a->code);
            break;
        case LC_ACT_SPAWN:
            o = put(buf, len, o, "(%s)", slot_names[a->child]);
            break;
        default:
            break;
        }
        /* which child a child action or timer is for, when not gen-a */
        switch (a->type) {
        case LC_ACT_FORWARD:
        case LC_ACT_STOP_CHILD:
        case LC_ACT_KILL_GROUP:
        case LC_ACT_KILL_OLD_GROUP:
        case LC_ACT_ARM_TIMER:
        case LC_ACT_CANCEL_TIMER:
            if (a->child == LC_GEN_B)
                o = put(buf, len, o, "[%s]", slot_names[a->child]);
            break;
        default:
            break;
        }
    }
    return o;
}

/* The whole table as text. */
static char *table(void)
{
    size_t len = 1 << 20, o = 0;
    char *buf = malloc(len);
    assert_non_null(buf);
    o = put(buf, len, o,
            "# The lifecycle's transition table (tests/unit/test_transitions.c).\n"
            "# SITUATION | EVENT -> STATE[/restart phase] {FLAGS} [/readyz status] ACTIONS\n"
            "# FLAGS: what beyond the state changes what an event does\n"
            "# (lifecycle_flags: helpers running, queued restarts, waits for a\n"
            "# verdict, the other generation's role, the clean-up's phase, ...).\n"
            "# Config: --prestop-delay 1s, --stop-timeout 5s, one ready check,\n"
            "# --restart-policy on-failure, --on-change restart, --ready-timeout 60s\n"
            "# (the --socket situations hold one socket; the start-first ones use\n"
            "# --restart-mode start-first). [gen-b]: for the second generation slot.\n"
            "# Signals by number.\n");
    for (size_t s = 0; s < sizeof situations / sizeof situations[0]; s++) {
        o = put(buf, len, o, "\n## %s (", situations[s].name);
        situations[s].reach();
        o = describe_state(buf, len, o);
        o = put(buf, len, o, ")\n");
        for (size_t e = 0; e < sizeof events / sizeof events[0]; e++) {
            situations[s].reach();
            struct lc_event ev = events[e];
            /* a verdict is on what is on disk now, as the supervisor says */
            if (ev.type == LC_EV_CHILD_EXITED && ev.child == LC_VALIDATE)
                ev.hash = lc.config.pending;
            o = put(buf, len, o, "%-24s| ", situations[s].name);
            o = describe_event(buf, len, o, &ev);
            step(ev);
            o = put(buf, len, o, " -> ");
            o = describe_state(buf, len, o);
            o = describe_actions(buf, len, o);
            o = put(buf, len, o, "\n");
        }
    }
    assert_true(o < len);
    return buf;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void the_table_is_the_golden_one(void **state)
{
    char *now_text = table();
    if (getenv("PODVISOR_UPDATE_GOLDEN")) {
        FILE *f = fopen(GOLDEN, "w");
        assert_non_null(f);
        fputs(now_text, f);
        fclose(f);
    }
    char *golden = read_file(GOLDEN);
    if (golden == NULL)
        fail_msg("cannot read %s (run from the repository's root)", GOLDEN);
    /* The first line that differs, to say where. */
    const char *a = now_text, *b = golden;
    int line = 1;
    while (*a && *a == *b) {
        if (*a == '\n')
            line++;
        a++;
        b++;
    }
    if (*a != *b) {
        const char *sa = a, *sb = b;
        while (sa > now_text && sa[-1] != '\n')
            sa--;
        while (sb > golden && sb[-1] != '\n')
            sb--;
        print_error("%s:%d differs (PODVISOR_UPDATE_GOLDEN=1 %s writes it anew, then read "
                    "the diff):\n  now:    %.*s\n  golden: %.*s\n",
                    GOLDEN, line, "build/tests/test_transitions", (int)strcspn(sa, "\n"), sa,
                    (int)strcspn(sb, "\n"), sb);
        free(now_text);
        free(golden);
        fail();
    }
    free(now_text);
    free(golden);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_table_is_the_golden_one),
    };
    return cmocka_run_group_tests_name("transitions", tests, NULL, NULL);
}
