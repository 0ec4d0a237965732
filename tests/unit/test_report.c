/* Unit tests for src/report.c: probe texts, /status JSON, /metrics format,
 * in each lifecycle state. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <cmocka.h>

#include "report.h"

static struct podvisor_config cfg;
static struct lifecycle lc;
static const struct report_now NOW = {.mono_ms = 10000, .wall_ms = 1790000000000LL};

static void feed(enum lc_event_type type, int64_t t, int arg)
{
    struct lc_event ev = {.type = type, .now_ms = t, .pid = arg, .sig = arg, .status = arg};
    struct lc_result res;
    lifecycle_step(&lc, &ev, &res);
}

/* The main child forked (pid) at t and exec'd. */
static void spawned(int64_t t, int pid)
{
    feed(LC_EV_START, t, 0);
    feed(LC_EV_FORKED, t, pid);
    feed(LC_EV_EXEC_OK, t, 0);
}

static void setup_lc(int64_t delay)
{
    memset(&cfg, 0, sizeof cfg);
    for (int i = 0; i < OPTIONS_NSIG; i++)
        cfg.rewrite[i] = -1;
    cfg.prestop_delay_ms = delay;
    cfg.stop_timeout_ms = 5000;
    cfg.stop_signal = SIGTERM;
    lifecycle_init(&lc, &cfg);
}

static char *b; /* the body the call under test made */

/* Runs after its first argument, the call that sets b, has been evaluated. */
static void check(int got_status, int status, const char *text)
{
    assert_int_equal(got_status, status);
    assert_non_null(b);
    assert_string_equal(b, text);
    free(b);
    b = NULL;
}

static void probes_through_the_lifecycle(void **state)
{
    setup_lc(5000);
    check(report_livez(&lc, &b), 503, "not live: the child has not started\n");
    check(report_readyz(&lc, 0, NOW, &b), 503, "not ready: child not started yet\n");
    check(report_startupz(&lc, &b), 503, "not started: the child has not been ready yet\n");
    spawned(1000, 7);
    check(report_livez(&lc, &b), 200, "ok\n");
    check(report_readyz(&lc, 0, NOW, &b), 200, "ok\n");
    check(report_readyz(&lc, 1, NOW, &b), 200,
          "[+]child ok\n[+]ready-checks ok\n[+]shutdown ok\nreadyz check passed\n");
    check(report_startupz(&lc, &b), 200, "ok\n");
    feed(LC_EV_SIGNAL, 8500, SIGTERM);         /* draining, 1.5 s before NOW */
    check(report_livez(&lc, &b), 200, "ok\n"); /* liveness stays */
    check(report_readyz(&lc, 0, NOW, &b), 503,
          "not ready: shutdown draining since SIGTERM 1.5s ago\n");
    check(report_readyz(&lc, 1, NOW, &b), 503,
          "[+]child ok\n[+]ready-checks ok\n[-]shutdown failed: draining since SIGTERM 1.5s "
          "ago\nreadyz check failed\n");
    check(report_startupz(&lc, &b), 200, "ok\n");
    feed(LC_EV_PRESTOP_ELAPSED, 9000, 0);
    check(report_readyz(&lc, 0, NOW, &b), 503,
          "not ready: shutdown stopping since SIGTERM 1.5s ago\n");
    check(report_livez(&lc, &b), 200, "ok\n");
    feed(LC_EV_CHILD_EXITED, 9500, SIGKILL);
    check(report_livez(&lc, &b), 503, "not live: the child has exited\n");
    check(report_readyz(&lc, 1, NOW, &b), 503,
          "[-]child failed: exited: killed by SIGKILL\n[+]ready-checks ok\n[+]shutdown ok\n"
          "readyz check failed\n");
}

static void status_json(void **state)
{
    setup_lc(0);
    spawned(4000, 42);
    feed(LC_EV_SIGNAL, 5000, SIGUSR1);
    char *s = report_status(&lc, NOW);
    assert_non_null(s);
    json_error_t err;
    json_t *doc = json_loads(s, 0, &err);
    free(s);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "state")), "ready");
    assert_true(json_is_true(json_object_get(doc, "ready")));
    assert_true(json_is_true(json_object_get(doc, "live")));
    assert_true(json_is_true(json_object_get(doc, "started")));
    assert_string_equal(json_string_value(json_object_get(doc, "version")), PODVISOR_VERSION);
    json_t *child = json_object_get(doc, "child");
    assert_int_equal(json_integer_value(json_object_get(child, "pid")), 42);
    /* started 6 s before NOW's wall clock */
    assert_string_equal(json_string_value(json_object_get(child, "started_at")),
                        "2026-09-21T14:13:14.000Z");
    assert_int_equal(json_integer_value(json_object_get(child, "restarts")), 0);
    json_t *children = json_object_get(doc, "children");
    assert_int_equal(json_array_size(children), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(children, 0), "role")),
                        "main");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(children, 0), "pid")), 42);
    assert_true(json_is_null(json_object_get(child, "last_exit")));
    json_t *cfgj = json_object_get(doc, "config");
    assert_true(json_is_object(cfgj));
    assert_true(json_is_null(json_object_get(cfgj, "hash")));
    assert_int_equal(json_integer_value(json_object_get(cfgj, "reloads")), 0);
    assert_true(json_is_array(json_object_get(doc, "checks")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "signals_forwarded"), "USR1")), 1);
    json_decref(doc);

    feed(LC_EV_CHILD_EXITED, 6000, 3 << 8);
    s = report_status(&lc, NOW);
    doc = json_loads(s, 0, &err);
    free(s);
    json_t *last = json_object_get(json_object_get(doc, "child"), "last_exit");
    assert_string_equal(json_string_value(json_object_get(last, "how")), "exit");
    assert_int_equal(json_integer_value(json_object_get(last, "exit_code")), 3);
    assert_true(json_is_null(json_object_get(json_object_get(doc, "child"), "pid")));
    assert_string_equal(json_string_value(json_object_get(doc, "state")), "exited");
    json_decref(doc);
}

/* Every line is a HELP or TYPE comment or a sample "name{labels} value";
 * every sample's metric was declared by a TYPE line before it. */
static void metrics_format(void **state)
{
    setup_lc(0);
    spawned(4000, 42);
    feed(LC_EV_SIGNAL, 5000, SIGHUP);
    feed(LC_EV_SIGNAL, 5000, SIGHUP);
    feed(LC_EV_SIGNAL, 6000, SIGTERM); /* sends the stop signal: counted */
    char *m = report_metrics(&lc, NOW);
    assert_non_null(m);
    assert_true(m[strlen(m) - 1] == '\n');
    char typed[32][64];
    int ntyped = 0, samples = 0;
    char *save = NULL;
    for (char *line = strtok_r(m, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[64], type[16];
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        if (sscanf(line, "# TYPE %63s %15s", name, type) == 2) {
            assert_true(strcmp(type, "gauge") == 0 || strcmp(type, "counter") == 0);
            strcpy(typed[ntyped++], name);
            continue;
        }
        char value[32];
        assert_int_equal(sscanf(line, "%63[a-z_]%*[^ ] %31s", name, value) == 2 ||
                             sscanf(line, "%63[a-z_] %31s", name, value) == 2,
                         1);
        char *end;
        strtod(value, &end);
        assert_true(*end == '\0');
        int declared = 0;
        for (int i = 0; i < ntyped; i++)
            declared |= strcmp(typed[i], name) == 0;
        if (!declared)
            fail_msg("sample of undeclared metric: %s", line);
        samples++;
    }
    free(m);
    assert_true(samples >= 12);
    m = report_metrics(&lc, NOW);
    assert_non_null(strstr(m, "\npodvisor_ready 0\n"));
    assert_non_null(strstr(m, "\npodvisor_state{state=\"stopping\"} 1\n"));
    assert_non_null(strstr(m, "\npodvisor_state{state=\"ready\"} 0\n"));
    assert_non_null(strstr(m, "\npodvisor_signals_forwarded_total{signal=\"HUP\"} 2\n"));
    assert_non_null(strstr(m, "\npodvisor_signals_forwarded_total{signal=\"TERM\"} 1\n"));
    assert_non_null(strstr(m, "\npodvisor_drain_seconds 4.000\n"));
    assert_non_null(strstr(m, "\npodvisor_child_restarts_total{reason=\"config\"} 0\n"));
    assert_non_null(strstr(m, "\npodvisor_child_restarts_total{reason=\"crash\"} 0\n"));
    assert_non_null(strstr(m, "\npodvisor_config_refused_total 0\n"));
    assert_non_null(strstr(m, "podvisor_build_info{version=\"" PODVISOR_VERSION "\"} 1\n"));
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(probes_through_the_lifecycle),
        cmocka_unit_test(status_json),
        cmocka_unit_test(metrics_format),
    };
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
