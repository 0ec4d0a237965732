/* Unit tests for src/options.c: precedence (flag > env > file > default),
 * derived values, --rewrite and -e tables, and the one-line errors. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "options.h"

static char err[512];
static struct podvisor_config cfg;

/* Parses a NULL-terminated list of arguments (program name added). */
static enum options_result parse_env(char *const *env, ...)
{
    static char *argv[64];
    int argc = 0;
    argv[argc++] = "podvisor";
    va_list ap;
    va_start(ap, env);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && argc < 63)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    options_free(&cfg); /* the previous test's */
    return options_parse(&cfg, argc, argv, env, err, sizeof err);
}

static char *const no_env[] = {NULL};
#define parse(...) parse_env(no_env, __VA_ARGS__, (char *)NULL)

static char config_path[64];
static void write_config(const char *json)
{
    snprintf(config_path, sizeof config_path, "/tmp/podvisor-test-%d.json", (int)getpid());
    FILE *f = fopen(config_path, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
}

static void defaults(void **state)
{
    assert_int_equal(parse("--", "app", "x"), OPTIONS_RUN);
    assert_string_equal(cfg.command[0], "app");
    assert_string_equal(cfg.command[1], "x");
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_int_equal(cfg.log_format, LOG_TEXT);
    assert_int_equal(cfg.prestop_delay_ms, 0);
    assert_int_equal(cfg.grace_ms, 30000);
    assert_int_equal(cfg.stop_timeout_ms, 28000); /* grace - delay - 2s */
    assert_int_equal(cfg.stop_signal, SIGTERM);
    assert_int_equal(cfg.process_group, 0);
    assert_true(cfg.probe_listen.any);
    assert_int_equal(cfg.probe_listen.port, 8099);
    for (int s = 1; s < OPTIONS_NSIG; s++)
        assert_int_equal(options_rewrite(&cfg, s), s);
    for (int c = 0; c < 256; c++)
        assert_int_equal(options_remap_exit(&cfg, c), c);
}

static void command_flags_are_not_ours(void **state)
{
    /* Parsing stops at the command: its own -g and --help belong to it. */
    assert_int_equal(parse("app", "-g", "--help"), OPTIONS_RUN);
    assert_int_equal(cfg.process_group, 0);
    assert_string_equal(cfg.command[1], "-g");
}

/* Every check holds ':' itself: the list splits where a check starts. */
static void check_lists_from_the_environment(void **state)
{
    char *env[] = {"PODVISOR_READY_CHECK=tcp://127.0.0.1:8080:http://[::1]:8080/healthz:notify",
                   "PODVISOR_LIVE_CHECK=exec:sh -c 'test -e /tmp/a:b':file:/tmp/ready", NULL};
    assert_int_equal(parse_env(env, "app", (char *)NULL), OPTIONS_RUN);
    assert_int_equal(cfg.ready_check.n, 3);
    assert_string_equal(cfg.ready_check.v[0], "tcp://127.0.0.1:8080");
    assert_string_equal(cfg.ready_check.v[1], "http://[::1]:8080/healthz");
    assert_string_equal(cfg.ready_check.v[2], "notify");
    assert_int_equal(cfg.live_check.n, 2);
    assert_string_equal(cfg.live_check.v[0], "exec:sh -c 'test -e /tmp/a:b'");
    assert_string_equal(cfg.live_check.v[1], "file:/tmp/ready");
    /* A newline always separates (an exec: command holding "file:"). */
    char *env2[] = {"PODVISOR_READY_CHECK=exec:grep -q x:file:/a\nfile:/b", NULL};
    assert_int_equal(parse_env(env2, "app", (char *)NULL), OPTIONS_RUN);
    assert_int_equal(cfg.ready_check.n, 2);
    assert_string_equal(cfg.ready_check.v[0], "exec:grep -q x:file:/a");
    assert_string_equal(cfg.ready_check.v[1], "file:/b");
}

/* tini's TINI_VERBOSITY sets the log level unless podvisor's own does. */
static void tini_verbosity(void **state)
{
    char *env[] = {"TINI_VERBOSITY=3", NULL};
    assert_int_equal(parse_env(env, "app", (char *)NULL), OPTIONS_RUN);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    char *env0[] = {"TINI_VERBOSITY=0", NULL};
    assert_int_equal(parse_env(env0, "app", (char *)NULL), OPTIONS_RUN);
    assert_int_equal(cfg.log_level, LOG_ERROR);
    char *both[] = {"TINI_VERBOSITY=0", "PODVISOR_LOG_LEVEL=info", NULL};
    assert_int_equal(parse_env(both, "app", (char *)NULL), OPTIONS_RUN);
    assert_int_equal(cfg.log_level, LOG_INFO);
    char *bad[] = {"TINI_VERBOSITY=loud", NULL};
    assert_int_equal(parse_env(bad, "app", (char *)NULL), OPTIONS_ERROR);
}

static void precedence(void **state)
{
    char *env[] = {"PODVISOR_PRESTOP_DELAY=7s", "PODVISOR_STOP_SIGNAL=QUIT", NULL};
    write_config("{\"prestop-delay\": \"9s\", \"stop-signal\": \"INT\", \"grace-period\": \"60s\","
                 " \"log-level\": \"debug\"}");
    char flag[80];
    snprintf(flag, sizeof flag, "--config=%s", config_path);
    /* flag > env > file > default, option by option */
    assert_int_equal(parse_env(env, flag, "--prestop-delay", "3s", "app", (char *)NULL),
                     OPTIONS_RUN);
    assert_int_equal(cfg.prestop_delay_ms, 3000); /* flag */
    assert_int_equal(cfg.stop_signal, SIGQUIT);   /* env beats file */
    assert_int_equal(cfg.grace_ms, 60000);        /* file beats default */
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    assert_int_equal(cfg.stop_timeout_ms, 60000 - 3000 - 2000);
    /* without the flag, env wins */
    assert_int_equal(parse_env(env, flag, "app", (char *)NULL), OPTIONS_RUN);
    assert_int_equal(cfg.prestop_delay_ms, 7000);
    /* config file named by the environment */
    char cfgenv[96];
    snprintf(cfgenv, sizeof cfgenv, "PODVISOR_CONFIG=%s", config_path);
    char *env2[] = {cfgenv, NULL};
    assert_int_equal(parse_env(env2, "app", (char *)NULL), OPTIONS_RUN);
    assert_int_equal(cfg.prestop_delay_ms, 9000);
    assert_int_equal(cfg.stop_signal, SIGINT);
    unlink(config_path);
}

static void repeatable_sources_replace(void **state)
{
    char *env[] = {"PODVISOR_REMAP_EXIT=3:4", "PODVISOR_REWRITE=TERM:QUIT:USR1:0", NULL};
    assert_int_equal(parse_env(env, "app", (char *)NULL), OPTIONS_RUN);
    assert_int_equal(options_remap_exit(&cfg, 3), 0);
    assert_int_equal(options_remap_exit(&cfg, 4), 0);
    assert_int_equal(options_remap_exit(&cfg, 5), 5);
    assert_int_equal(options_rewrite(&cfg, SIGTERM), SIGQUIT);
    assert_int_equal(options_rewrite(&cfg, SIGUSR1), 0);
    assert_int_equal(options_rewrite(&cfg, SIGUSR2), SIGUSR2);
    assert_int_equal(cfg.stop_signal, SIGQUIT); /* --rewrite TERM:X sets the stop signal */
    /* flags replace the environment's list as a whole */
    assert_int_equal(
        parse_env(env, "-e", "5", "--remap-exit=6", "--rewrite", "HUP:USR2", "app", (char *)NULL),
        OPTIONS_RUN);
    assert_int_equal(options_remap_exit(&cfg, 3), 3);
    assert_int_equal(options_remap_exit(&cfg, 5), 0);
    assert_int_equal(options_remap_exit(&cfg, 6), 0);
    assert_int_equal(options_rewrite(&cfg, SIGTERM), SIGTERM);
    assert_int_equal(options_rewrite(&cfg, SIGHUP), SIGUSR2);
    assert_int_equal(cfg.stop_signal, SIGTERM);
}

static void stop_signal_given_beats_rewrite(void **state)
{
    assert_int_equal(parse("--rewrite", "TERM:QUIT", "--stop-signal", "INT", "app"), OPTIONS_RUN);
    assert_int_equal(cfg.stop_signal, SIGINT);
    assert_int_equal(parse("--rewrite", "TERM:0", "app"), OPTIONS_RUN);
    assert_int_equal(cfg.stop_signal, 0); /* dropped: the stop step sends nothing */
}

static void switches_and_tini_env(void **state)
{
    char *tini[] = {"TINI_SUBREAPER=", "TINI_KILL_PROCESS_GROUP=1", NULL};
    assert_int_equal(parse_env(tini, "app", (char *)NULL), OPTIONS_RUN);
    assert_int_equal(cfg.subreaper, 1);
    assert_int_equal(cfg.process_group, 1);
    char *off[] = {"PODVISOR_PROCESS_GROUP=false", "TINI_KILL_PROCESS_GROUP=1", NULL};
    assert_int_equal(parse_env(off, "app", (char *)NULL), OPTIONS_RUN);
    assert_int_equal(cfg.process_group, 0); /* PODVISOR_* beats the tini alias */
    assert_int_equal(parse("-sgw", "-p", "USR2", "app"), OPTIONS_RUN);
    assert_int_equal(cfg.subreaper, 1);
    assert_int_equal(cfg.process_group, 1);
    assert_int_equal(cfg.warn_on_reap, 1);
    assert_int_equal(cfg.pdeathsig, SIGUSR2);
    char *bad[] = {"PODVISOR_WARN_ON_REAP=maybe", NULL};
    assert_int_equal(parse_env(bad, "app", (char *)NULL), OPTIONS_ERROR);
    assert_string_equal(err,
                        "PODVISOR_WARN_ON_REAP: \"maybe\" is not a boolean (try true or false)");
}

static void drain_idle_and_its_ports(void **state)
{
    assert_int_equal(parse("--drain-idle", "--drain-port", "8080", "--drain-port", "9090", "app"),
                     OPTIONS_RUN);
    assert_int_equal(cfg.drain_idle, 1);
    assert_int_equal(cfg.drain_port.n, 2);
    assert_int_equal(cfg.drain_port.v[0], 8080);
    assert_int_equal(cfg.drain_port.v[1], 9090);
    char *env[] = {"PODVISOR_DRAIN_IDLE=true", "PODVISOR_DRAIN_PORT=80:443", NULL};
    assert_int_equal(parse_env(env, "app", (char *)NULL), OPTIONS_RUN);
    assert_int_equal(cfg.drain_port.n, 2);
    assert_int_equal(cfg.drain_port.v[1], 443);
    /* the --socket tcp:// ports count: no --drain-port needed */
    assert_int_equal(parse("--drain-idle", "--socket", "tcp://127.0.0.1:8080", "app"), OPTIONS_RUN);
    /* a port without --drain-idle does nothing: said */
    assert_int_equal(parse("--drain-port", "8080", "app"), OPTIONS_RUN);
    assert_int_equal(cfg.nwarnings, 1);
    assert_string_equal(cfg.warnings[0], "--drain-port has no effect without --drain-idle");
    /* a sidecar has no connections of its own to wait for */
    assert_int_equal(
        parse("--drain-idle", "--drain-port", "80", "--watch", "/tmp", "--on-change", "exec:true"),
        OPTIONS_ERROR);
    assert_string_equal(err, "--drain-idle follows the child's connections; a sidecar has no "
                             "child");
    /* one port too many */
    static char *argv[40];
    int argc = 0;
    argv[argc++] = "podvisor";
    argv[argc++] = "--drain-idle";
    static char ports[17][8];
    for (int i = 0; i < 17; i++) {
        snprintf(ports[i], sizeof ports[i], "%d", 1000 + i);
        argv[argc++] = "--drain-port";
        argv[argc++] = ports[i];
    }
    argv[argc++] = "app";
    argv[argc] = NULL;
    options_free(&cfg);
    assert_int_equal(options_parse(&cfg, argc, argv, no_env, err, sizeof err), OPTIONS_ERROR);
    assert_string_equal(err, "--drain-port: \"1016\" is one port too many (at most 16)");
}

static void verbose_raises_level(void **state)
{
    assert_int_equal(parse("-v", "app"), OPTIONS_RUN);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    assert_int_equal(parse("--log-level", "error", "-v", "app"), OPTIONS_RUN);
    assert_int_equal(cfg.log_level, LOG_WARN);
    assert_int_equal(parse("-vvvv", "app"), OPTIONS_RUN);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
}

static void budget(void **state)
{
    char buf[256];
    assert_int_equal(parse("--prestop-delay", "10s", "app"), OPTIONS_RUN);
    assert_int_equal(cfg.stop_timeout_ms, 18000);
    assert_int_equal(options_budget_warning(&cfg, buf, sizeof buf), 0);
    assert_int_equal(parse("--prestop-delay", "20s", "--stop-timeout", "15s", "app"), OPTIONS_RUN);
    assert_int_equal(options_budget_warning(&cfg, buf, sizeof buf), 1);
    assert_non_null(strstr(buf, "20000ms"));
    assert_non_null(strstr(buf, "15000ms"));
    assert_non_null(strstr(buf, "30000ms"));
    assert_int_equal(parse("--prestop-delay", "40s", "app"), OPTIONS_RUN);
    assert_int_equal(cfg.stop_timeout_ms, 0);
    assert_int_equal(options_budget_warning(&cfg, buf, sizeof buf), 1);
}

/* The app must get some time between its stop signal and SIGKILL. */
static void budget_floor(void **state)
{
    char buf[256];
    assert_int_equal(parse("--grace-period", "3s", "--prestop-delay", "1500ms", "app"),
                     OPTIONS_RUN);
    assert_int_equal(cfg.stop_timeout_ms, 0);
    assert_int_equal(options_budget_warning(&cfg, buf, sizeof buf), 1);
    assert_non_null(strstr(buf, "back to back"));
    assert_non_null(strstr(buf, "--grace-period - --prestop-delay - 2s")); /* derived */
    assert_int_equal(parse("--stop-timeout", "999ms", "app"), OPTIONS_RUN);
    assert_int_equal(options_budget_warning(&cfg, buf, sizeof buf), 1);
    assert_null(strstr(buf, "--grace-period - ")); /* given, not derived */
    assert_int_equal(parse("--stop-timeout", "1s", "app"), OPTIONS_RUN);
    assert_int_equal(options_budget_warning(&cfg, buf, sizeof buf), 0);
    /* --rewrite TERM:0: no stop signal, nothing to be short of */
    assert_int_equal(parse("--rewrite", "TERM:0", "--grace-period", "2s", "app"), OPTIONS_RUN);
    assert_int_equal(options_budget_warning(&cfg, buf, sizeof buf), 0);
}

/* Long options by full name only; a switch with a value names the option;
 * short clusters and --name=value. */
static void command_line_forms(void **state)
{
    assert_int_equal(parse("--pre", "5s", "app"), OPTIONS_ERROR);
    assert_string_equal(err, "unknown option \"--pre\" (see podvisor --help)");
    assert_int_equal(parse("--prestop=5s", "app"), OPTIONS_ERROR);
    assert_string_equal(err, "unknown option \"--prestop\" (see podvisor --help)");
    assert_int_equal(parse("--subreaper=1", "app"), OPTIONS_ERROR);
    assert_non_null(strstr(err, "--subreaper takes no value, got \"1\""));
    assert_int_equal(parse("--help=x", "app"), OPTIONS_ERROR);
    assert_int_equal(parse("--prestop-delay", NULL), OPTIONS_ERROR);
    assert_string_equal(err, "--prestop-delay needs a value (see podvisor --help)");
    assert_int_equal(parse("-e", NULL), OPTIONS_ERROR);
    assert_string_equal(err, "-e needs a value (see podvisor --help)");
    assert_int_equal(parse("-gx", "app"), OPTIONS_ERROR);
    assert_string_equal(err, "unknown option \"-x\" in \"-gx\" (see podvisor --help)");

    assert_int_equal(parse("-gswe3", "-e", "4", "--prestop-delay=2s", "-vv", "app", "-g"),
                     OPTIONS_RUN);
    assert_true(cfg.process_group && cfg.subreaper && cfg.warn_on_reap);
    assert_true(cfg.remap_exit[3] && cfg.remap_exit[4]);
    assert_int_equal(cfg.prestop_delay_ms, 2000);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    assert_string_equal(cfg.command[0], "app");
    assert_string_equal(cfg.command[1], "-g");      /* the app's own flags are never ours */
    assert_int_equal(parse("-", "x"), OPTIONS_RUN); /* "-" is a command, not an option */
    assert_string_equal(cfg.command[0], "-");
    assert_int_equal(parse("--", "--help"), OPTIONS_RUN);
    assert_string_equal(cfg.command[0], "--help");
    assert_int_equal(parse("-h"), OPTIONS_HELP);
    assert_int_equal(parse("--version"), OPTIONS_VERSION);
    assert_int_equal(parse("--prestop-delay=", "app"), OPTIONS_ERROR); /* empty: not a duration */
}

/* An unknown PODVISOR_* variable is a warning, never an error; Kubernetes'
 * service-link variables (a Service named podvisor) are not even that. */
static void unknown_environment_is_warned(void **state)
{
    char *const env[] = {"PODVISOR_PRESTOP_DELAYY=5s",
                         "PODVISOR_SERVICE_HOST=10.0.0.1",
                         "PODVISOR_SERVICE_PORT=8099",
                         "PODVISOR_SERVICE_PORT_PROBES=8099",
                         "PODVISOR_PORT=tcp://10.0.0.1:8099",
                         "PODVISOR_PORT_8099_TCP=tcp://10.0.0.1:8099",
                         "PODVISOR_PORT_8099_TCP_ADDR=10.0.0.1",
                         "PODVISOR_PORT_8099_TCP_PORT=8099",
                         "PODVISOR_PORT_8099_SCTP_PROTO=sctp",
                         "PODVISOR_ADMIN_SERVICE_HOST=10.0.0.2",
                         "PODVISOR_ADMIN_PORT_80_UDP_ADDR=10.0.0.2",
                         "PODVISOR_CONFIG=",
                         "PODVISOR_LOG_LEVEL=warn",
                         "PODVISOR_PORT_X_TCP=oops",
                         NULL};
    assert_int_equal(parse_env(env, "app", (char *)NULL), OPTIONS_RUN);
    assert_int_equal(cfg.log_level, LOG_WARN);
    assert_int_equal(cfg.nwarnings, 2);
    assert_string_equal(cfg.warnings[0], "PODVISOR_PRESTOP_DELAYY is not an option podvisor "
                                         "knows: ignored (see podvisor --help)");
    assert_non_null(strstr(cfg.warnings[1], "PODVISOR_PORT_X_TCP "));
}

struct bad_case {
    const char *args[5]; /* at most 4, then NULL: parse_env reads to the NULL */
    const char *message;
};

static void errors_name_option_and_problem(void **state)
{
    static const struct bad_case cases[] = {
        {{"--prestop-delay", "5x", "app"},
         "--prestop-delay: \"5x\" is not a duration (try 5s, 500ms, 1m)"},
        {{"--drain-idle", "--drain-port", "0", "app"},
         "--drain-port: \"0\" is not a port (1-65535)"},
        {{"--drain-idle", "--drain-port", "80x", "app"},
         "--drain-port: \"80x\" is not a port (1-65535)"},
        {{"--drain-idle", "app"},
         "--drain-idle needs the app's ports: --drain-port PORT, or a --socket tcp://HOST:PORT"},
        {{"--drain-idle", "--socket", "unix:/tmp/x.sock", "app"},
         "--drain-idle needs the app's ports: --drain-port PORT, or a --socket tcp://HOST:PORT"},
        {{"--rewrite", "99:x", "app"},
         "--rewrite: \"99:x\" has no valid FROM signal (try TERM, SIGTERM or 15)"},
        {{"--rewrite", "TERM:x", "app"},
         "--rewrite: \"TERM:x\" has no valid TO signal (a signal, or 0 to drop)"},
        {{"--rewrite", "TERM", "app"},
         "--rewrite: \"TERM\" is not FROM:TO (try TERM:QUIT, or USR1:0 to drop)"},
        {{"--rewrite", "KILL:TERM", "app"},
         "--rewrite: \"KILL:TERM\" can never reach podvisor (KILL and STOP cannot be caught)"},
        {{"--rewrite", "CHLD:TERM", "app"},
         "--rewrite: \"CHLD:TERM\" rewrites CHLD, which podvisor never forwards"},
        {{"--rewrite", "32:TERM", "app"}, "--rewrite: \"32:TERM\" is reserved by the C library"},
        {{"--rewrite", "TERM:CHLD", "app"},
         "--rewrite: \"TERM:CHLD\" would confuse the app's own reaping of its children"},
        {{"--rewrite", "TERM:KILL", "app"},
         "--rewrite: \"TERM:KILL\" cannot be the stop signal (the app cannot catch KILL or STOP)"},
        {{"--rewrite", "USR1:33", "app"}, "--rewrite: \"USR1:33\" is reserved by the C library"},
        {{"--stop-signal", "CHLD", "app"},
         "--stop-signal: \"CHLD\" would confuse the app's own reaping of its children"},
        {{"--stop-signal", "32", "app"}, "--stop-signal: \"32\" is reserved by the C library"},
        {{"--stop-signal", "RTMIN++1", "app"},
         "--stop-signal: \"RTMIN++1\" is not a signal (try TERM, SIGTERM or 15)"},
        {{"-p", "STOP", "app"},
         "--pdeathsig: \"STOP\" can never reach podvisor (KILL and STOP cannot be caught)"},
        {{"-p", "CHLD", "app"},
         "--pdeathsig: \"CHLD\" is podvisor's own (it reports podvisor's children)"},
        {{"--probe-listen", ":+1", "app"},
         "--probe-listen: \":+1\" has no valid port (0 to 65535)"},
        {{"-e", "300", "app"}, "--remap-exit: \"300\" is not an exit code (0 to 255)"},
        {{"--stop-signal", "KILL", "app"},
         "--stop-signal: \"KILL\" cannot be the stop signal (the app cannot catch KILL or STOP)"},
        {{"--log-format", "xml", "app"},
         "--log-format: \"xml\" is not a log format (text or json)"},
        {{"--probe-listen", "8099", "app"},
         "--probe-listen: \"8099\" is not a listen address (try :8099, 127.0.0.1:8099, [::1]:8099 "
         "or off)"},
        {{"--bogus", "app"}, "unknown option \"--bogus\" (see podvisor --help)"},
        {{"-x", "app"}, "unknown option \"-x\" (see podvisor --help)"},
        {{"--on-change", "reboot", "app"},
         "--on-change: \"reboot\" is not an action (restart, signal:SIG, exec:CMD, webhook:URL or "
         "none)"},
        {{"--on-change", "signal:KILL", "app"},
         "--on-change: \"signal:KILL\" would kill the app, not reload it (use restart)"},
        {{"--on-change", "signal:CHLD", "app"},
         "--on-change: \"signal:CHLD\" would confuse the app's own reaping of its children"},
        {{"--on-change", "exec: ", "app"}, "--on-change: \"exec: \" is an empty command"},
        {{"--on-change", "webhook:localhost/x", "app"},
         "--on-change: \"webhook:localhost/x\" has no http:// or https:// URL after webhook:"},
        {{"--validate", "nginx -c 'x", "app"},
         "--validate: \"nginx -c 'x\" has an unterminated ' quote"},
        {{"--restart-policy", "sometimes", "app"},
         "--restart-policy: \"sometimes\" is not a restart policy (never, on-failure or always)"},
        {{"--watch", "", "app"}, "--watch: \"\" is empty (give a path)"},
        {{"--watch", "/etc"},
         "--on-change restart needs a COMMAND to restart; in sidecar mode (--watch without a "
         "COMMAND) use signal:SIG with --signal-process, exec:CMD or webhook:URL"},
        {{"--watch", "/etc", "--on-change=signal:HUP"},
         "--on-change signal:HUP in sidecar mode needs --signal-process NAME (the process to "
         "signal; the pod needs shareProcessNamespace: true)"},
        {{"--signal-process", "nginx", "app"},
         "--signal-process is for sidecar mode (--watch without a COMMAND); with a COMMAND, "
         "signal:SIG goes to the child"},
        {{"--backoff-initial=2s", "--backoff-max=1s", "app"},
         "--backoff-max 1000ms is less than --backoff-initial 2000ms"},
        {{"--backoff-initial=0", "app"}, "--backoff-initial must be more than 0 (try 1s)"},
        {{"--prestop-delay"}, "--prestop-delay needs a value (see podvisor --help)"},
        {{"-g"},
         "no command given (usage: podvisor [OPTIONS] -- COMMAND [ARG...], or --watch PATH without "
         "a command for sidecar mode)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct bad_case *c = &cases[i];
        enum options_result r =
            parse_env(no_env, c->args[0], c->args[1], c->args[2], c->args[3], c->args[4]);
        if (r != OPTIONS_ERROR)
            fail_msg("%s: accepted", c->args[0]);
        assert_string_equal(err, c->message);
    }
    char *env[] = {"PODVISOR_REWRITE=TERM:QUIT:USR1", NULL};
    assert_int_equal(parse_env(env, "app", (char *)NULL), OPTIONS_ERROR);
    assert_string_equal(err, "PODVISOR_REWRITE: \"TERM:QUIT:USR1\" is not a list of FROM:TO pairs");
}

static void config_file_errors(void **state)
{
    char flag[80];
    static const struct {
        const char *json, *message_part;
    } cases[] = {
        {"{\"prestop-delay\": \"5x\"}", "\"prestop-delay\": \"5x\" is not a duration"},
        {"{\"nope\": 1}", "\"nope\" is not an option podvisor knows"},
        {"{\"prestop-delay\": ", "line 1"},
        {"[1, 2]", "must hold a JSON object"},
        {"{\"stop-signal\": [\"TERM\"]}", "\"stop-signal\" takes one value, not an array"},
        {"{\"grace-period\": true}", "must be a string"},
        {"{\"grace-period\": {}}", "wrong type"},
        {"{\"a\": 1, \"a\": 2}", "duplicate"},
        {"{\"probe-list\\n\": \"off\"}", "\"probe-list?\" is not an option"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_config(cases[i].json);
        snprintf(flag, sizeof flag, "--config=%s", config_path);
        assert_int_equal(parse(flag, "app"), OPTIONS_ERROR);
        assert_null(strchr(err, '\n'));
        if (strstr(err, cases[i].message_part) == NULL)
            fail_msg("%s: got \"%s\"", cases[i].json, err);
    }
    write_config(
        "{\"remap-exit\": [3, \"4\"], \"process-group\": true, \"rewrite\": [\"USR1:USR2\"]}");
    snprintf(flag, sizeof flag, "--config=%s", config_path);
    assert_int_equal(parse(flag, "app"), OPTIONS_RUN);
    assert_int_equal(options_remap_exit(&cfg, 3), 0);
    assert_int_equal(options_remap_exit(&cfg, 4), 0);
    assert_int_equal(cfg.process_group, 1);
    assert_int_equal(options_rewrite(&cfg, SIGUSR1), SIGUSR2);
    unlink(config_path);
    assert_int_equal(parse("--config", "/nonexistent/podvisor.json", "app"), OPTIONS_ERROR);
    assert_non_null(strstr(err, "/nonexistent/podvisor.json"));
}

static void help_and_version(void **state)
{
    assert_int_equal(parse("--help"), OPTIONS_HELP);
    assert_int_equal(parse("-V"), OPTIONS_VERSION);
    char buf[8192];
    options_help(buf, sizeof buf);
    assert_non_null(strstr(buf, "--prestop-delay D"));
    assert_non_null(strstr(buf, "-e, --remap-exit CODE"));
}

static void config_change_options(void **state)
{
    assert_int_equal(parse("--watch", "/etc/app", "--watch=/etc/secret", "--on-change",
                           "exec:nginx -s reload", "--validate", "nginx -t -c '/etc/my conf'",
                           "--debounce", "1s", "--restart-policy", "on-failure", "app"),
                     OPTIONS_RUN);
    assert_int_equal(cfg.watch.n, 2);
    assert_string_equal(cfg.watch.v[0], "/etc/app");
    assert_string_equal(cfg.watch.v[1], "/etc/secret");
    assert_int_equal(cfg.on_change.kind, ON_CHANGE_EXEC);
    assert_string_equal(cfg.on_change.argv[0], "nginx");
    assert_string_equal(cfg.on_change.argv[2], "reload");
    assert_null(cfg.on_change.argv[3]);
    assert_string_equal(cfg.validate.argv[3], "/etc/my conf");
    assert_string_equal(cfg.validate.text, "nginx -t -c '/etc/my conf'");
    assert_int_equal(cfg.debounce_ms, 1000);
    assert_int_equal(cfg.restart_policy, RESTART_ON_FAILURE);
    assert_int_equal(cfg.sidecar, 0);

    /* Defaults. */
    assert_int_equal(parse("app"), OPTIONS_RUN);
    assert_int_equal(cfg.on_change.kind, ON_CHANGE_RESTART);
    assert_int_equal(cfg.debounce_ms, 500);
    assert_int_equal(cfg.restart_policy, RESTART_NEVER);
    assert_int_equal(cfg.backoff_initial_ms, 1000);
    assert_int_equal(cfg.backoff_max_ms, 30000);
    assert_int_equal(cfg.watch.n, 0);

    /* Sidecar: --watch and no command. */
    assert_int_equal(
        parse("--watch", "/cfg", "--on-change", "signal:HUP", "--signal-process", "nginx"),
        OPTIONS_RUN);
    assert_true(cfg.sidecar);
    assert_null(cfg.command);
    assert_int_equal(cfg.on_change.sig, SIGHUP);
    assert_string_equal(cfg.signal_process.v[0], "nginx");
    assert_int_equal(
        parse("--watch", "/cfg", "--on-change", "webhook:http://127.0.0.1:9533/-/reload"),
        OPTIONS_RUN);
    assert_string_equal(cfg.on_change.url, "http://127.0.0.1:9533/-/reload");

    /* Environment lists and the JSON file. */
    char *env[] = {"PODVISOR_WATCH=/a:/b", "PODVISOR_ON_CHANGE=none", NULL};
    assert_int_equal(parse_env(env, "app", (char *)NULL), OPTIONS_RUN);
    assert_int_equal(cfg.watch.n, 2);
    assert_string_equal(cfg.watch.v[1], "/b");
    assert_int_equal(cfg.on_change.kind, ON_CHANGE_NONE);
    write_config("{\"watch\": [\"/x\", \"/y\"], \"validate\": \"true\", "
                 "\"on-change\": \"signal:USR2\"}");
    char flag[80];
    snprintf(flag, sizeof flag, "--config=%s", config_path);
    assert_int_equal(parse(flag, "app"), OPTIONS_RUN);
    assert_int_equal(cfg.watch.n, 2);
    assert_string_equal(cfg.validate.argv[0], "true");
    assert_int_equal(cfg.on_change.sig, SIGUSR2);
    unlink(config_path);

    /* Harmless but useless: warned. */
    assert_int_equal(parse("--validate", "true", "app"), OPTIONS_RUN);
    assert_int_equal(cfg.nwarnings, 1);
    assert_string_equal(cfg.warnings[0], "--validate has no effect without --watch");
    options_free(&cfg);
    options_free(&cfg); /* twice is safe */
}

static int free_config(void **state)
{
    options_free(&cfg);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(command_flags_are_not_ours),
        cmocka_unit_test(precedence),
        cmocka_unit_test(tini_verbosity),
        cmocka_unit_test(check_lists_from_the_environment),
        cmocka_unit_test(repeatable_sources_replace),
        cmocka_unit_test(stop_signal_given_beats_rewrite),
        cmocka_unit_test(switches_and_tini_env),
        cmocka_unit_test(verbose_raises_level),
        cmocka_unit_test(drain_idle_and_its_ports),
        cmocka_unit_test(budget),
        cmocka_unit_test(budget_floor),
        cmocka_unit_test(command_line_forms),
        cmocka_unit_test(unknown_environment_is_warned),
        cmocka_unit_test(errors_name_option_and_problem),
        cmocka_unit_test(config_file_errors),
        cmocka_unit_test(help_and_version),
        cmocka_unit_test(config_change_options),
    };
    return cmocka_run_group_tests_name("options", tests, NULL, free_config);
}
