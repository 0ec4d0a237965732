/* options: see options.h. Adding an option is one line in `option_table`
 * plus its field in struct podvisor_config. */
#include "options.h"
#include "hotpath.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pathfilter.h"

typedef const char *(*apply_fn)(void *field, const char *value);

struct opt_def {
    const char *name; /* long name = JSON key = PODVISOR_<NAME> */
    int short_name;   /* 0: none */
    int takes_value;  /* 0: a switch ("true"/"false" internally) */
    int repeatable;
    int env_pairs;         /* environment list items go in pairs (FROM:TO); 2: items are
                            * checks, which hold ':' themselves (env_check_end) */
    const char *alias_env; /* tini's variable: set at all means on */
    const char *defval;    /* NULL: the struct's zero/initial value stands */
    apply_fn apply;
    size_t offset;     /* field in struct podvisor_config */
    long given_offset; /* int set to 1 when not defaulted; -1: none */
    const char *metavar;
    const char *help;
};

static const char *apply_bool(void *field, const char *v)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *(int *)field = 1;
            return NULL;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *(int *)field = 0;
            return NULL;
        }
    }
    return "is not a boolean (try true or false)";
}

static const char *apply_duration(void *field, const char *v)
{
    return parse_duration(v, (int64_t *)field);
}

/* One rule for every signal value (SPEC: never accept what can never take
 * effect). podvisor can receive, and so forward or act on, every signal but
 * KILL and STOP (no process can catch them), CHLD (which reports podvisor's
 * own children) and those the C library reserves between 31 and SIGRTMIN
 * (glibc 32-33, musl 32-34), which never reach it. */
static const char *not_receivable(int sig)
{
    if (sig == SIGKILL || sig == SIGSTOP)
        return "can never reach podvisor (KILL and STOP cannot be caught)";
    if (sig == SIGCHLD)
        return "is podvisor's own (it reports podvisor's children)";
    if (sig > 31 && sig < SIGRTMIN)
        return "is reserved by the C library";
    return NULL;
}

/* What podvisor sends the app: anything but CHLD (it would confuse the
 * app's own reaping) and the reserved signals. */
static const char *not_sendable(int sig)
{
    if (sig == SIGCHLD)
        return "would confuse the app's own reaping of its children";
    if (sig > 31 && sig < SIGRTMIN)
        return "is reserved by the C library";
    return NULL;
}

/* The stop signal must also give the app the chance to stop gracefully:
 * KILL leaves it none (that is what the stop timeout is for), STOP would
 * freeze it. The same rule holds for TO of --rewrite TERM:TO, which
 * becomes the stop signal. */
static const char *not_a_stop_signal(int sig)
{
    if (sig == SIGKILL || sig == SIGSTOP)
        return "cannot be the stop signal (the app cannot catch KILL or STOP)";
    return not_sendable(sig);
}

/* A signal value, checked against the rule for where it goes. */
static const char *apply_signal_by(void *field, const char *v, const char *(*rule)(int sig))
{
    int sig;
    const char *why = parse_signal(v, &sig);
    if (why == NULL)
        why = rule(sig);
    if (why)
        return why;
    *(int *)field = sig;
    return NULL;
}

static const char *apply_signal(void *field, const char *v)
{
    return apply_signal_by(field, v, not_a_stop_signal);
}

/* podvisor receives the parent-death signal itself: STOP would stop it,
 * KILL would kill it and orphan the app, CHLD would do nothing. */
static const char *apply_pdeathsig(void *field, const char *v)
{
    return apply_signal_by(field, v, not_receivable);
}

static const char *apply_log_format(void *field, const char *v)
{
    if (strcmp(v, "text") == 0)
        *(enum log_format *)field = LOG_TEXT;
    else if (strcmp(v, "json") == 0)
        *(enum log_format *)field = LOG_JSON;
    else
        return "is not a log format (text or json)";
    return NULL;
}

static const char *apply_log_level(void *field, const char *v)
{
    int level = log_level_parse(v);
    if (level < 0)
        return "is not a log level (error, warn, info or debug)";
    *(enum log_level *)field = (enum log_level)level;
    return NULL;
}

static const char *apply_remap_exit(void *field, const char *v)
{
    int code;
    const char *why = parse_exit_code(v, &code);
    if (why)
        return why;
    ((unsigned char *)field)[code] = 1;
    return NULL;
}

static const char *apply_drain_port(void *field, const char *v)
{
    struct portlist *ports = field;
    char *end;
    errno = 0;
    long port = strtol(v, &end, 10);
    if (end == v || *end != '\0' || errno || port < 1 || port > 65535)
        return "is not a port (1-65535)";
    if (ports->n >= OPTIONS_MAX_DRAIN_PORTS)
        return "is one port too many (at most 16)";
    ports->v[ports->n++] = (uint16_t)port;
    return NULL;
}

static const char *apply_rewrite(void *field, const char *v)
{
    static const char hint[] = "is not FROM:TO (try TERM:QUIT, or USR1:0 to drop)";
    const char *colon = strchr(v, ':');
    if (colon == NULL || colon == v || strchr(colon + 1, ':') != NULL)
        return hint;
    char from_s[32];
    size_t fl = (size_t)(colon - v);
    if (fl >= sizeof from_s)
        return hint;
    memcpy(from_s, v, fl);
    from_s[fl] = '\0';
    int from, to;
    if (parse_signal(from_s, &from) != NULL)
        return "has no valid FROM signal (try TERM, SIGTERM or 15)";
    if (parse_signal_or_zero(colon + 1, &to) != NULL)
        return "has no valid TO signal (a signal, or 0 to drop)";
    const char *why = not_receivable(from);
    if (why)
        return from == SIGCHLD ? "rewrites CHLD, which podvisor never forwards" : why;
    /* KILL and STOP stay allowed as targets (dumb-init rewrites TSTP to
     * STOP), except for TERM, whose target becomes the stop signal. */
    if (to != 0 && (why = from == SIGTERM ? not_a_stop_signal(to) : not_sendable(to)))
        return why;
    ((int *)field)[from] = to;
    return NULL;
}

static const char *apply_listen(void *field, const char *v)
{
    return parse_listen_addr(v, (struct listen_addr *)field);
}

static const char *apply_strlist(void *field, const char *v)
{
    struct strlist *l = field;
    if (*v == '\0')
        return "is empty (give a path)";
    char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    if (nv == NULL)
        return "cannot be kept: out of memory";
    l->v = nv;
    if ((l->v[l->n] = strdup(v)) == NULL)
        return "cannot be kept: out of memory";
    l->n++;
    return NULL;
}

static const char *apply_glob(void *field, const char *v)
{
    const char *why = pathfilter_check(v);
    return why ? why : apply_strlist(field, v);
}

/* Polling a tree costs a stat per file each time: more often than this is
 * a busy loop, not a watch. */
#define WATCH_POLL_MIN_MS 100

static const char *apply_watch_poll(void *field, const char *v)
{
    int64_t *ms = field;
    if (strcmp(v, "off") == 0) {
        *ms = 0;
        return NULL;
    }
    const char *why = parse_duration(v, ms);
    if (why == NULL && *ms > 0 && *ms < WATCH_POLL_MIN_MS)
        return "is too often: a pass stats every file (at least 100ms; try 1s)";
    return why;
}

/* A file that must be readable now (a CA bundle): said at start, not at
 * the first POST. */
static const char *apply_readable_file(void *field, const char *v)
{
    static char why[160];
    if (*v == '\0')
        return "is empty (give a file path)";
    if (access(v, R_OK) < 0) {
        snprintf(why, sizeof why, "cannot be read: %s", strerror(errno));
        return why;
    }
    char *copy = strdup(v);
    if (copy == NULL)
        return "cannot be kept: out of memory";
    free(*(char **)field);
    *(char **)field = copy;
    return NULL;
}

static const char *apply_check(void *field, const char *v)
{
    struct check_spec spec;
    const char *why = parse_check(v, &spec);
    return why ? why : apply_strlist(field, v);
}

static const char *apply_socket(void *field, const char *v)
{
    struct socket_spec spec;
    const char *why = parse_socket_spec(v, &spec);
    return why ? why : apply_strlist(field, v);
}

/* A path podvisor reads later (the app writes it): it need not exist, but
 * its directory must, or the app could never write it. */
static const char *apply_pid_file(void *field, const char *v)
{
    static char why[200];
    if (*v == '\0')
        return "is empty (give the path the app writes its pid to)";
    char *copy = strdup(v);
    if (copy == NULL)
        return "cannot be kept: out of memory";
    char *slash = strrchr(copy, '/');
    if (slash != NULL && slash != copy) {
        *slash = '\0';
        int missing = access(copy, F_OK) < 0;
        int e = errno;
        *slash = '/';
        if (missing) {
            free(copy);
            snprintf(why, sizeof why, "is in a directory that cannot be reached: %s", strerror(e));
            return why;
        }
    }
    free(*(char **)field);
    *(char **)field = copy;
    return NULL;
}

/* The token is read once, at start: a mounted Secret that changes later
 * takes a restart to apply, as most servers' credentials do. */
static const char *apply_token_file(void *field, const char *v)
{
    struct secret *token = field;
    static char why[160];
    if (*v == '\0')
        return "is empty (give the path of a file holding the token)";
    FILE *f = fopen(v, "re");
    if (f == NULL) {
        snprintf(why, sizeof why, "cannot be read: %s", strerror(errno));
        return why;
    }
    char buf[4097];
    size_t n = fread(buf, 1, sizeof buf, f);
    int failed = ferror(f);
    fclose(f);
    if (failed)
        return "cannot be read";
    if (n == sizeof buf)
        return "holds more than 4096 bytes (a token is one line)";
    while (n > 0 &&
           (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = '\0';
    if (n == 0)
        return "holds no token (the file is empty)";
    if (strlen(buf) != n || strpbrk(buf, "\r\n") != NULL)
        return "holds more than one line or a NUL byte (a token is one line)";
    char *copy = strdup(buf);
    char *path = strdup(v);
    if (copy == NULL || path == NULL) {
        free(copy);
        free(path);
        return "cannot be kept: out of memory";
    }
    free(token->value);
    free(token->path);
    token->value = copy;
    token->path = path;
    return NULL;
}

static const char *apply_size(void *field, const char *v)
{
    return parse_size(v, (long long *)field);
}

static const char *apply_threshold(void *field, const char *v)
{
    long n;
    if (parse_int_range(v, 1, 1000, &n) != NULL)
        return "is not a count from 1 to 1000";
    *(int *)field = (int)n;
    return NULL;
}

static const char *apply_command(void *field, const char *v)
{
    struct cmdline *c = field;
    char **words;
    const char *why = parse_command_words(v, &words);
    if (why)
        return why;
    char *text = strdup(v);
    if (text == NULL) {
        free(words);
        return "cannot be kept: out of memory";
    }
    free(c->argv);
    free(c->text);
    c->argv = words;
    c->text = text;
    return NULL;
}

static const char *apply_on_change(void *field, const char *v)
{
    struct on_change *oc = field, next = {0};
    const char *why = NULL;
    if (strcmp(v, "restart") == 0) {
        next.kind = ON_CHANGE_RESTART;
    } else if (strcmp(v, "none") == 0) {
        next.kind = ON_CHANGE_NONE;
    } else if (strncmp(v, "signal:", 7) == 0) {
        next.kind = ON_CHANGE_SIGNAL;
        /* Sent to the app: the same rule as any signal podvisor sends. */
        why = apply_signal_by(&next.sig, v + 7, not_sendable);
        if (why == NULL && next.sig == SIGKILL)
            why = "would kill the app, not reload it (use restart)";
    } else if (strncmp(v, "exec:", 5) == 0) {
        next.kind = ON_CHANGE_EXEC;
        why = parse_command_words(v + 5, &next.argv);
    } else if (strncmp(v, "webhook:", 8) == 0) {
        next.kind = ON_CHANGE_WEBHOOK;
        if (strncmp(v + 8, "http://", 7) != 0 && strncmp(v + 8, "https://", 8) != 0)
            why = "has no http:// or https:// URL after webhook:";
        else
            why = parse_http_url(v + 8);
        if (why == NULL && (next.url = strdup(v + 8)) == NULL)
            why = "cannot be kept: out of memory";
    } else {
        why = "is not an action (restart, signal:SIG, exec:CMD, webhook:URL or none)";
    }
    if (why == NULL && (next.text = strdup(v)) == NULL)
        why = "cannot be kept: out of memory";
    if (why) {
        free(next.argv);
        free(next.url);
        free(next.text);
        return why;
    }
    free(oc->argv);
    free(oc->url);
    free(oc->text);
    *oc = next;
    return NULL;
}

static const char *apply_restart_policy(void *field, const char *v)
{
    static const char *const names[] = {"never", "on-failure", "always"};
    for (int i = 0; i < 3; i++)
        if (strcmp(v, names[i]) == 0) {
            *(enum restart_policy *)field = (enum restart_policy)i;
            return NULL;
        }
    return "is not a restart policy (never, on-failure or always)";
}

static const char *apply_restart_mode(void *field, const char *v)
{
    if (strcmp(v, "stop-first") == 0)
        *(enum restart_mode *)field = RESTART_MODE_STOP_FIRST;
    else if (strcmp(v, "start-first") == 0)
        *(enum restart_mode *)field = RESTART_MODE_START_FIRST;
    else
        return "is not a restart mode (stop-first or start-first)";
    return NULL;
}

#define F(member) offsetof(struct podvisor_config, member)
#define GIVEN(member) ((long)offsetof(struct podvisor_config, member))

static const struct opt_def option_table[] = {
    {"log-format", 0, 1, 0, 0, NULL, "text", apply_log_format, F(log_format), -1, "text|json",
     "podvisor's own log lines on stderr"},
    {"log-level", 0, 1, 0, 0, NULL, "info", apply_log_level, F(log_level), -1, "LEVEL",
     "error, warn, info or debug (-v raises it one step)"},
    {"subreaper", 's', 0, 0, 0, "TINI_SUBREAPER", NULL, apply_bool, F(subreaper), -1, NULL,
     "become a child subreaper (automatic when not PID 1)"},
    {"process-group", 'g', 0, 0, 0, "TINI_KILL_PROCESS_GROUP", NULL, apply_bool, F(process_group),
     -1, NULL, "forward signals to the child's whole process group"},
    {"remap-exit", 'e', 1, 1, 0, NULL, NULL, apply_remap_exit, F(remap_exit), -1, "CODE",
     "this child exit code counts as 0 (repeatable)"},
    {"pdeathsig", 'p', 1, 0, 0, NULL, NULL, apply_pdeathsig, F(pdeathsig), -1, "SIG",
     "signal podvisor receives when its parent dies"},
    {"warn-on-reap", 'w', 0, 0, 0, NULL, NULL, apply_bool, F(warn_on_reap), -1, NULL,
     "log each reaped zombie that is not the main child"},
    {"rewrite", 0, 1, 1, 1, NULL, NULL, apply_rewrite, F(rewrite), -1, "FROM:TO",
     "forward signal FROM as TO; TO 0 drops it (repeatable)"},
    {"prestop-delay", 0, 1, 0, 0, NULL, "0s", apply_duration, F(prestop_delay_ms), -1, "D",
     "on SIGTERM: readiness fails at once, the child gets its stop signal after D"},
    {"stop-signal", 0, 1, 0, 0, NULL, "TERM", apply_signal, F(stop_signal),
     GIVEN(stop_signal_given), "SIG", "what the child gets to stop (e.g. QUIT for nginx)"},
    {"grace-period", 0, 1, 0, 0, NULL, "30s", apply_duration, F(grace_ms), -1, "D",
     "the pod's terminationGracePeriodSeconds"},
    {"stop-timeout", 0, 1, 0, 0, NULL, NULL, apply_duration, F(stop_timeout_ms),
     GIVEN(stop_timeout_given), "D",
     "from the stop signal to SIGKILL of the child's group (default: grace - delay - 2s)"},
    {"probe-listen", 0, 1, 0, 0, NULL, ":8099", apply_listen, F(probe_listen), -1, "ADDR",
     "probe server address (:PORT = every address), or off"},
    {"watch", 0, 1, 1, 0, NULL, NULL, apply_strlist, F(watch), -1, "PATH",
     "a file or directory (ConfigMap volume) whose content change triggers --on-change"},
    {"watch-include", 0, 1, 1, 0, NULL, NULL, apply_glob, F(watch_include), -1, "GLOB",
     "only files matching GLOB count under a watched directory ('*.go'; repeatable)"},
    {"watch-exclude", 0, 1, 1, 0, NULL, NULL, apply_glob, F(watch_exclude), -1, "GLOB",
     "what matching GLOB does not count nor get watched ('vendor/', '*.log'; repeatable)"},
    {"watch-poll", 0, 1, 0, 0, NULL, "off", apply_watch_poll, F(watch_poll_ms), -1, "D",
     "also look for changes every D (for mounts where inotify stays silent), or off"},
    {"on-change", 0, 1, 0, 0, NULL, "restart", apply_on_change, F(on_change), -1, "ACTION",
     "restart, signal:SIG, exec:CMD, webhook:URL or none"},
    {"validate", 0, 1, 0, 0, NULL, NULL, apply_command, F(validate), -1, "CMD",
     "run before acting on a change; a non-zero exit refuses the change"},
    {"validate-timeout", 0, 1, 0, 0, NULL, "30s", apply_duration, F(validate_timeout_ms), -1, "D",
     "a --validate (or build) running longer is killed and the change refused"},
    {"debounce", 0, 1, 0, 0, NULL, "500ms", apply_duration, F(debounce_ms), -1, "D",
     "quiet time after the last file event before acting"},
    {"webhook-timeout", 0, 1, 0, 0, NULL, "60s", apply_duration, F(webhook_timeout_ms), -1, "D",
     "how long webhook:URL waits for the answer; a POST that times out is not retried"},
    {"webhook-ca", 0, 1, 0, 0, NULL, NULL, apply_readable_file, F(webhook_ca), -1, "FILE",
     "webhook:https:// verifies the server (always): against this CA file, not the system's"},
    {"signal-process", 0, 1, 1, 0, NULL, NULL, apply_strlist, F(signal_process), -1, "NAME",
     "sidecar mode: signal:SIG goes to the processes named NAME (top of each tree)"},
    {"restart-policy", 0, 1, 0, 0, NULL, "never", apply_restart_policy, F(restart_policy), -1,
     "POLICY", "never, on-failure or always: when the child exits by itself"},
    {"backoff-initial", 0, 1, 0, 0, NULL, "1s", apply_duration, F(backoff_initial_ms), -1, "D",
     "first restart delay for on-failure/always (doubles each time)"},
    {"backoff-max", 0, 1, 0, 0, NULL, "30s", apply_duration, F(backoff_max_ms), -1, "D",
     "longest restart delay; a run this long resets the backoff"},
    {"ready-check", 0, 1, 1, 2, NULL, NULL, apply_check, F(ready_check), -1, "CHECK",
     "the child is ready while all pass: http(s)://..., tcp://HOST:PORT, file:PATH, exec:CMD, "
     "notify"},
    {"live-check", 0, 1, 1, 2, NULL, NULL, apply_check, F(live_check), -1, "CHECK",
     "the child is live unless one fails --failure-threshold times in a row"},
    {"check-interval", 0, 1, 0, 0, NULL, "1s", apply_duration, F(check_interval_ms), -1, "D",
     "how often each check runs"},
    {"check-timeout", 0, 1, 0, 0, NULL, "1s", apply_duration, F(check_timeout_ms), -1, "D",
     "one check's time limit"},
    {"failure-threshold", 0, 1, 0, 0, NULL, "3", apply_threshold, F(failure_threshold), -1, "N",
     "consecutive live-check failures before /livez fails"},
    {"socket", 0, 1, 1, 0, NULL, NULL, apply_socket, F(socket), -1, "[NAME=]ADDR",
     "podvisor binds tcp://HOST:PORT or unix:PATH (,backlog=N ,mode=M) and passes it to every "
     "child as fd 3, 4, ... with LISTEN_FDS (repeatable)"},
    {"drain-idle", 0, 0, 0, 0, NULL, NULL, apply_bool, F(drain_idle), -1, NULL,
     "after the stop signal, the drain ends (SIGKILL to the child's group) once no connection "
     "is established on the app's ports (--socket tcp://, --drain-port) for 500ms; bounded by "
     "--stop-timeout"},
    {"drain-endpoints", 0, 0, 0, 0, NULL, NULL, apply_bool, F(drain_endpoints), -1, NULL,
     "after SIGTERM, watch the pod's EndpointSlices (Kubernetes API): the prestop wait ends "
     "--drain-settle after every one shows the pod not ready; --prestop-delay is the bound"},
    {"drain-settle", 0, 1, 0, 0, NULL, "2s", apply_duration, F(drain_settle_ms), -1, "D",
     "--drain-endpoints: how long traffic may still come once the endpoints say not ready "
     "(kube-proxy, ingress, load balancers catching up)"},
    {"drain-min", 0, 1, 0, 0, NULL, "0s", apply_duration, F(drain_min_ms), -1, "D",
     "--drain-endpoints: the prestop wait never ends sooner than this"},
    {"drain-port", 0, 1, 1, 0, NULL, NULL, apply_drain_port, F(drain_port), -1, "PORT",
     "a TCP port the app listens on, for --drain-idle (repeatable)"},
    {"restart-mode", 0, 1, 0, 0, NULL, "stop-first", apply_restart_mode, F(restart_mode), -1,
     "MODE",
     "stop-first, or start-first: the next generation starts beside the current one, "
     "which stops once the next says READY=1 (needs --ready-check notify)"},
    {"pid-file", 0, 1, 0, 0, NULL, NULL, apply_pid_file, F(pid_file), -1, "PATH",
     "the app names its successor here when it replaces itself (tableflip, nginx's binary "
     "upgrade): that process becomes the main child"},
    {"ready-timeout", 0, 1, 0, 0, NULL, "60s", apply_duration, F(ready_timeout_ms), -1, "D",
     "start-first: a next generation not ready by then is stopped and the current one kept; "
     "--socket: how long a restart keeps /readyz at 200"},
    {"restart-memory", 0, 1, 0, 0, NULL, NULL, apply_size, F(restart_memory), -1, "SIZE",
     "start-first: the memory a second generation needs (512Mi); start-first only when the "
     "container's limit minus its working set leaves that much, else stop-first (default: as "
     "much as the working set now)"},
    {"notify", 0, 0, 0, 0, NULL, NULL, apply_bool, F(notify), -1, NULL,
     "give the child a NOTIFY_SOCKET (sd_notify; implied by a notify check)"},
    {"watchdog", 0, 1, 0, 0, NULL, NULL, apply_duration, F(watchdog_ms), -1, "D",
     "sets WATCHDOG_USEC; a missed WATCHDOG=1 fails liveness"},
    {"admin-listen", 0, 1, 0, 0, NULL, "off", apply_listen, F(admin_listen), -1, "ADDR",
     "admin endpoints (POST /restart /reload /drain /quitquitquit); a loopback address"},
    {"admin-token-file", 0, 1, 0, 0, NULL, NULL, apply_token_file, F(admin_token), -1, "FILE",
     "admin requests need Authorization: Bearer <the file's token>"},
};
#define N_OPTIONS (sizeof option_table / sizeof option_table[0])

enum source { SRC_FLAG = 0, SRC_ENV, SRC_FILE, N_SOURCES };

/* Values gathered from one source for one option, before precedence picks
 * the winning source. Strings point into argv, environ, the JSON document or
 * `pool`, all of which live until options_parse returns. */
struct gathered {
    int present;
    size_t n, cap;
    const char **vals;
};

/* A quoted value is shown up to 120 bytes: the reason after it must
 * survive in the one error line (a 3 KiB value used to push it out). */
#define QUOTED(v) LOG_CUT(v, 120)

struct parse_state {
    struct gathered got[N_SOURCES][N_OPTIONS];
    char **pool; /* strings made here, freed when parsing ends */
    size_t npool, pool_cap;
    json_t *doc;
    const char *config_path;
    char *err;
    size_t errlen;
};

static int fail(struct parse_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parse_state *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, st->errlen, fmt, ap);
    va_end(ap);
    /* Errors quote what the user wrote: still one line. */
    log_one_line(st->err);
    return -1;
}

static char *keep(struct parse_state *st, char *s)
{
    if (s == NULL)
        return NULL;
    if (st->npool == st->pool_cap) {
        size_t cap = st->pool_cap ? st->pool_cap * 2 : 8;
        char **pool = realloc(st->pool, cap * sizeof *pool);
        if (pool == NULL) {
            free(s);
            return NULL;
        }
        st->pool = pool;
        st->pool_cap = cap;
    }
    st->pool[st->npool++] = s;
    return s;
}

static int add_value(struct parse_state *st, enum source src, size_t idx, const char *v)
{
    struct gathered *g = &st->got[src][idx];
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 4;
        const char **vals = realloc(g->vals, cap * sizeof *vals);
        if (vals == NULL)
            return fail(st, "out of memory");
        g->vals = vals;
        g->cap = cap;
    }
    g->vals[g->n++] = v;
    g->present = 1;
    return 0;
}

static void env_name(const struct opt_def *d, char *buf, size_t len)
{
    size_t o = sizeof "PODVISOR_" - 1;
    memcpy(buf, "PODVISOR_", o);
    for (const char *p = d->name; *p && o + 1 < len; p++)
        buf[o++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    buf[o] = '\0';
}

static const char *env_lookup(char *const *envp, const char *name)
{
    size_t nl = strlen(name);
    for (; envp && *envp; envp++)
        if (strncmp(*envp, name, nl) == 0 && (*envp)[nl] == '=')
            return *envp + nl + 1;
    return NULL;
}

/* Where the check starting at tok ends in a PODVISOR_READY_CHECK list:
 * every check holds ':' (http://, tcp://, exec:, file:), so a ':' ends an
 * item only when a check starts right after it. A list with a newline in
 * it is split at newlines only (a YAML block scalar in a pod spec, for an
 * exec: command that holds one of those prefixes itself). */
static char *env_check_end(char *tok, int by_newline)
{
    if (by_newline)
        return strchrnul(tok, '\n');
    static const char *const starts[] = {"http://", "https://", "tcp://",
                                         "file:",   "exec:",    "notify:"};
    for (char *p = strchr(tok, ':'); p != NULL; p = strchr(p + 1, ':')) {
        if (strcmp(p + 1, "notify") == 0)
            return p;
        for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
            if (strncmp(p + 1, starts[i], strlen(starts[i])) == 0)
                return p;
    }
    return tok + strlen(tok);
}

/* Only PODVISOR_ and TINI_ variables can be options; the rest of a pod's
 * environment (a Service link each, hundreds at times) is passed over once
 * here rather than once per option, on the path of every start. */
#define ENV_OURS_MAX 256

static int gather_env(struct parse_state *st, char *const *all)
{
    char *ours[ENV_OURS_MAX + 1];
    size_t nours = 0;
    int overflow = 0;
    for (char *const *e = all; e && *e; e++)
        if (strncmp(*e, "PODVISOR_", 9) == 0 || strncmp(*e, "TINI_", 5) == 0) {
            if (nours < ENV_OURS_MAX)
                ours[nours++] = *e;
            else
                overflow = 1;
        }
    if (nours == 0)
        return 0;
    ours[nours] = NULL;
    char *const *envp = overflow ? all : ours;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct opt_def *d = &option_table[i];
        char name[64];
        env_name(d, name, sizeof name);
        const char *v = env_lookup(envp, name);
        if (v == NULL && strcmp(d->name, "log-level") == 0 &&
            (v = env_lookup(envp, "TINI_VERBOSITY")) != NULL) {
            /* tini's verbosity: 0 errors (and fatal), 1 warnings (its
             * default), 2 info, 3 and more debug. */
            static const char *const levels[] = {"error", "warn", "info", "debug"};
            char *end;
            long n = strtol(v, &end, 10);
            if (*v == '\0' || *end != '\0' || n < 0)
                return fail(st, "TINI_VERBOSITY: \"%.*s%s\" is not a number (0 to 3)", QUOTED(v));
            if (add_value(st, SRC_ENV, i, levels[n > 3 ? 3 : n]) < 0)
                return -1;
            continue;
        }
        if (v == NULL) {
            if (d->alias_env && env_lookup(envp, d->alias_env) != NULL)
                if (add_value(st, SRC_ENV, i, "true") < 0)
                    return -1;
            continue;
        }
        if (!d->repeatable) {
            if (add_value(st, SRC_ENV, i, v) < 0)
                return -1;
            continue;
        }
        /* Repeatable options take a ':'-separated list; FROM:TO pairs are
         * themselves joined by ':', so their items are regrouped two by two. */
        char *copy = keep(st, strdup(v));
        if (copy == NULL)
            return fail(st, "out of memory");
        st->got[SRC_ENV][i].present = 1;
        /* Split by hand: strtok would fold "TERM::QUIT" into "TERM:QUIT". */
        char *pending = NULL;
        for (char *tok = copy, *end;; tok = end + 1) {
            end = d->env_pairs == 2 ? env_check_end(tok, strchr(v, '\n') != NULL)
                                    : strchrnul(tok, ':');
            int last = *end == '\0';
            *end = '\0';
            if (*tok == '\0')
                return fail(st,
                            "%s: \"%.*s%s\" has an empty item (items are separated by one "
                            ":)",
                            name, QUOTED(v));
            if (d->env_pairs != 1) {
                if (add_value(st, SRC_ENV, i, tok) < 0)
                    return -1;
            } else if (pending == NULL) {
                pending = tok;
            } else {
                tok[-1] = ':'; /* the split cut "FROM:TO" in two; rejoin it */
                if (add_value(st, SRC_ENV, i, pending) < 0)
                    return -1;
                pending = NULL;
            }
            if (last)
                break;
        }
        if (pending)
            return fail(st, "%s: \"%.*s%s\" is not a list of FROM:TO pairs", name, QUOTED(v));
    }
    return 0;
}

static const struct opt_def *find_option(const char *name, size_t *idx)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strcmp(option_table[i].name, name) == 0) {
            *idx = i;
            return &option_table[i];
        }
    return NULL;
}

/* A JSON scalar as the same text a flag would carry. */
static int json_scalar(struct parse_state *st, const struct opt_def *d, json_t *v, const char *key,
                       const char **out)
{
    char buf[64];
    if (json_is_string(v)) {
        *out = json_string_value(v);
        return 0;
    }
    if (json_is_boolean(v)) {
        if (d->takes_value)
            return fail(st, "%s: \"%s\" must be a string, not true/false", st->config_path, key);
        *out = json_is_true(v) ? "true" : "false";
        return 0;
    }
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *out = keep(st, strdup(buf));
        return *out ? 0 : fail(st, "out of memory");
    }
    return fail(st, "%s: \"%s\" has a value of the wrong type (a string%s)", st->config_path, key,
                d->repeatable ? " or an array of strings" : "");
}

static int gather_file(struct parse_state *st)
{
    json_error_t jerr;
    /* Non-blocking, and a regular file only: a FIFO would block start-up
     * forever, and a directory read as JSON gives a baffling syntax error. */
    int fd = open(st->config_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fail(st, "--config %s: %s", st->config_path, strerror(errno));
    struct stat sb;
    const char *why = NULL;
    if (fstat(fd, &sb) < 0)
        why = strerror(errno);
    else if (S_ISDIR(sb.st_mode))
        why = "is a directory, not a JSON file";
    else if (S_ISFIFO(sb.st_mode))
        why = "is a FIFO, not a JSON file";
    else if (!S_ISREG(sb.st_mode))
        why = "is not a regular file";
    if (why != NULL) {
        close(fd);
        return fail(st, "--config %s: %s", st->config_path, why);
    }
    st->doc = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
    close(fd);
    if (st->doc == NULL) {
        if (jerr.line > 0)
            return fail(st, "--config %s: line %d: %s", st->config_path, jerr.line, jerr.text);
        return fail(st, "--config %s: %s", st->config_path, jerr.text);
    }
    if (!json_is_object(st->doc))
        return fail(st, "--config %s: must hold a JSON object of option names", st->config_path);
    const char *key;
    json_t *val;
    json_object_foreach(st->doc, key, val)
    {
        size_t idx;
        const struct opt_def *d = find_option(key, &idx);
        if (d == NULL)
            return fail(st, "%s: \"%s\" is not an option podvisor knows", st->config_path, key);
        const char *s;
        if (json_is_array(val)) {
            if (!d->repeatable)
                return fail(st, "%s: \"%s\" takes one value, not an array", st->config_path, key);
            st->got[SRC_FILE][idx].present = 1;
            size_t i;
            json_t *item;
            json_array_foreach(val, i, item)
            {
                if (json_scalar(st, d, item, key, &s) < 0 || add_value(st, SRC_FILE, idx, s) < 0)
                    return -1;
            }
        } else {
            if (json_scalar(st, d, val, key, &s) < 0 || add_value(st, SRC_FILE, idx, s) < 0)
                return -1;
        }
    }
    return 0;
}

static void config_defaults(struct podvisor_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < OPTIONS_NSIG; i++)
        cfg->rewrite[i] = -1;
}

static int apply_all(struct parse_state *st, struct podvisor_config *cfg)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct opt_def *d = &option_table[i];
        void *field = (char *)cfg + d->offset;
        enum source src;
        for (src = SRC_FLAG; src < N_SOURCES; src++)
            if (st->got[src][i].present)
                break;
        if (src == N_SOURCES) {
            if (d->defval && d->apply(field, d->defval) != NULL)
                return fail(st, "internal error: default of --%s", d->name);
            continue;
        }
        struct gathered *g = &st->got[src][i];
        for (size_t k = 0; k < g->n; k++) {
            const char *why = d->apply(field, g->vals[k]);
            if (why == NULL)
                continue;
            char env[64];
            const char *v = g->vals[k];
            if (src == SRC_FLAG)
                return fail(st, "--%s: \"%.*s%s\" %s", d->name, QUOTED(v), why);
            if (src == SRC_ENV) {
                env_name(d, env, sizeof env);
                return fail(st, "%s: \"%.*s%s\" %s", env, QUOTED(v), why);
            }
            return fail(st, "%s: \"%s\": \"%.*s%s\" %s", st->config_path, d->name, QUOTED(v), why);
        }
        if (d->given_offset >= 0)
            *(int *)((char *)cfg + d->given_offset) = 1;
    }
    return 0;
}

/* Values that follow from others: the stop signal from --rewrite TERM:X, the
 * stop timeout from the grace period (docs/kubernetes.md: the grace period counts
 * from the start, so delay and drain must both fit in it, with a margin). */
static void derive(struct podvisor_config *cfg)
{
    if (!cfg->stop_signal_given && cfg->rewrite[SIGTERM] >= 0)
        cfg->stop_signal = cfg->rewrite[SIGTERM];
    if (!cfg->stop_timeout_given) {
        int64_t t = cfg->grace_ms - cfg->prestop_delay_ms - 2000;
        cfg->stop_timeout_ms = t > 0 ? t : 0;
    }
}

static void state_free(struct parse_state *st)
{
    for (int s = 0; s < N_SOURCES; s++)
        for (size_t i = 0; i < N_OPTIONS; i++)
            free(st->got[s][i].vals);
    for (size_t i = 0; i < st->npool; i++)
        free(st->pool[i]);
    free(st->pool);
    json_decref(st->doc);
}

/* Options podvisor handles itself rather than through option_table. */
enum special { SP_NONE = 0, SP_CONFIG, SP_HELP, SP_VERSION, SP_VERBOSE };
static const struct {
    const char *name;
    int short_name;
    int takes_value;
    enum special sp;
} specials[] = {
    {"config", 'c', 1, SP_CONFIG},
    {"help", 'h', 0, SP_HELP},
    {"version", 'V', 0, SP_VERSION},
    {"verbose", 'v', 0, SP_VERBOSE},
};
#define N_SPECIALS (sizeof specials / sizeof specials[0])

/* One flag found on the command line: an option_table entry or a special. */
struct flag {
    size_t idx; /* into option_table when sp == SP_NONE */
    enum special sp;
    int takes_value;
};

static int find_long(const char *name, size_t len, struct flag *f)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(option_table[i].name) == len && strncmp(option_table[i].name, name, len) == 0) {
            *f = (struct flag){i, SP_NONE, option_table[i].takes_value};
            return 1;
        }
    for (size_t i = 0; i < N_SPECIALS; i++)
        if (strlen(specials[i].name) == len && strncmp(specials[i].name, name, len) == 0) {
            *f = (struct flag){0, specials[i].sp, specials[i].takes_value};
            return 1;
        }
    return 0;
}

static int find_short(int c, struct flag *f)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (option_table[i].short_name == c) {
            *f = (struct flag){i, SP_NONE, option_table[i].takes_value};
            return 1;
        }
    for (size_t i = 0; i < N_SPECIALS; i++)
        if (specials[i].short_name == c) {
            *f = (struct flag){0, specials[i].sp, specials[i].takes_value};
            return 1;
        }
    return 0;
}

/* Records one flag and its value. Returns OPTIONS_RUN to go on, or what
 * parsing ends with. */
static enum options_result take_flag(struct parse_state *st, const struct flag *f,
                                     const char *value, int *verbose, const char **config)
{
    switch (f->sp) {
    case SP_HELP:
        return OPTIONS_HELP;
    case SP_VERSION:
        return OPTIONS_VERSION;
    case SP_VERBOSE:
        (*verbose)++;
        return OPTIONS_RUN;
    case SP_CONFIG:
        *config = value;
        return OPTIONS_RUN;
    case SP_NONE:
        break;
    }
    return add_value(st, SRC_FLAG, f->idx, f->takes_value ? value : "true") < 0 ? OPTIONS_ERROR
                                                                                : OPTIONS_RUN;
}

/* The command line up to the command. Long options match by their full name
 * only, as kubectl and Go's flag package do: getopt_long's abbreviations
 * (`--pre` for --prestop-delay) would let a later option with the same
 * prefix break a working pod spec. Options stop at the first argument that
 * is not one, or after `--`: the app's own flags are never podvisor's. */
static enum options_result parse_flags(struct parse_state *st, int argc, char **argv,
                                       int *first_arg, int *verbose, const char **config)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        struct flag f;
        enum options_result r;
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            if (!find_long(name, len, &f)) {
                fail(st, "unknown option \"--%.*s\" (see podvisor --help)", (int)len, name);
                return OPTIONS_ERROR;
            }
            const char *value = eq ? eq + 1 : NULL;
            if (!f.takes_value && eq) {
                fail(st, "--%.*s takes no value, got \"%s\" (it is a switch: give --%.*s alone)",
                     (int)len, name, value, (int)len, name);
                return OPTIONS_ERROR;
            }
            if (f.takes_value && value == NULL) {
                if (i + 1 >= argc) {
                    fail(st, "--%.*s needs a value (see podvisor --help)", (int)len, name);
                    return OPTIONS_ERROR;
                }
                value = argv[++i];
            }
            if ((r = take_flag(st, &f, value, verbose, config)) != OPTIONS_RUN)
                return r;
            continue;
        }
        /* A cluster of short options: -gs, -vv, -e3, -e 3. */
        for (const char *c = a + 1; *c; c++) {
            if (!find_short((unsigned char)*c, &f)) {
                if (c == a + 1)
                    fail(st, "unknown option \"-%c\" (see podvisor --help)", *c);
                else
                    fail(st, "unknown option \"-%c\" in \"%s\" (see podvisor --help)", *c, a);
                return OPTIONS_ERROR;
            }
            const char *value = NULL;
            if (f.takes_value) {
                if (c[1] != '\0') {
                    value = c + 1;
                } else if (i + 1 < argc) {
                    value = argv[++i];
                } else {
                    fail(st, "-%c needs a value (see podvisor --help)", *c);
                    return OPTIONS_ERROR;
                }
            }
            if ((r = take_flag(st, &f, value, verbose, config)) != OPTIONS_RUN)
                return r;
            if (f.takes_value)
                break;
        }
    }
    *first_arg = i;
    return OPTIONS_RUN;
}

/* Kubernetes injects service-link variables for every Service in the
 * namespace: for a Service named podvisor (or podvisor-x) they start with
 * PODVISOR_ too: ..._SERVICE_HOST, ..._SERVICE_PORT[_NAME], ..._PORT,
 * ..._PORT_<N>_<PROTO>[_ADDR|_PORT|_PROTO]. Those pass silently. */
static int is_service_link(const char *rest)
{
    size_t l = strlen(rest);
    if (l >= 12 && strcmp(rest + l - 12, "SERVICE_HOST") == 0)
        return 1;
    if (strncmp(rest, "SERVICE_PORT", 12) == 0 || strstr(rest, "_SERVICE_PORT") != NULL)
        return 1;
    if (strcmp(rest, "PORT") == 0 || (l > 5 && strcmp(rest + l - 5, "_PORT") == 0))
        return 1;
    for (const char *p = rest; (p = strstr(p, "PORT_")) != NULL; p++) {
        if (p != rest && p[-1] != '_')
            continue;
        const char *q = p + 5;
        if (!isdigit((unsigned char)*q))
            continue;
        while (isdigit((unsigned char)*q))
            q++;
        if (strncmp(q, "_TCP", 4) != 0 && strncmp(q, "_UDP", 4) != 0 && strncmp(q, "_SCTP", 5) != 0)
            continue;
        q += q[1] == 'S' ? 5 : 4;
        if (*q == '\0' || strcmp(q, "_ADDR") == 0 || strcmp(q, "_PORT") == 0 ||
            strcmp(q, "_PROTO") == 0)
            return 1;
    }
    return 0;
}

static void add_warning(struct podvisor_config *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_warning(struct podvisor_config *cfg, const char *fmt, ...)
{
    if (cfg->nwarnings >= OPTIONS_MAX_WARNINGS) {
        cfg->warnings_dropped++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cfg->warnings[cfg->nwarnings], sizeof cfg->warnings[0], fmt, ap);
    va_end(ap);
    log_one_line(cfg->warnings[cfg->nwarnings++]);
}

/* A typo in a PODVISOR_* variable would silently leave the default in
 * force: name it (but never fail: see is_service_link). */
static void warn_unknown_env(struct podvisor_config *cfg, char *const *envp)
{
    for (; envp && *envp; envp++) {
        const char *e = *envp, *eq = strchr(e, '=');
        if (strncmp(e, "PODVISOR_", 9) != 0 || eq == NULL)
            continue;
        size_t nl = (size_t)(eq - e);
        char name[128];
        if (nl >= sizeof name)
            nl = sizeof name - 1;
        memcpy(name, e, nl);
        name[nl] = '\0';
        int known = strcmp(name, "PODVISOR_CONFIG") == 0;
        for (size_t i = 0; i < N_OPTIONS && !known; i++) {
            char env[64];
            env_name(&option_table[i], env, sizeof env);
            known = strcmp(env, name) == 0;
        }
        if (!known && !is_service_link(name + 9))
            add_warning(cfg, "%s is not an option podvisor knows: ignored (see podvisor --help)",
                        name);
    }
}

/* The error line itself honours --log-format json when that much is known
 * (flag, environment or file, in that order), so that a log pipeline that
 * expects JSON is not handed a text line. */
static void error_log_format(struct parse_state *st, struct podvisor_config *cfg, char *const *envp)
{
    size_t idx;
    if (find_option("log-format", &idx) == NULL)
        return;
    for (enum source src = SRC_FLAG; src < N_SOURCES; src++) {
        struct gathered *g = &st->got[src][idx];
        if (g->n > 0 && apply_log_format(&cfg->log_format, g->vals[g->n - 1]) == NULL)
            return;
    }
    const char *v = env_lookup(envp, "PODVISOR_LOG_FORMAT");
    if (v != NULL)
        apply_log_format(&cfg->log_format, v);
}

/* notify checks: at most one of each kind; the live one is the watchdog
 * and --watchdog implies it (SPEC: a missed WATCHDOG=1 fails liveness);
 * start-first needs the ready one. */
static int check_notify(struct parse_state *st, struct podvisor_config *cfg)
{
    const struct strlist *lists[2] = {&cfg->ready_check, &cfg->live_check};
    int found[2] = {0, 0};
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < lists[l]->n; i++)
            found[l] += strcmp(lists[l]->v[i], "notify") == 0;
    for (int l = 0; l < 2; l++)
        if (found[l] > 1)
            return fail(st, "--%s-check notify is given %d times; once is enough",
                        l ? "live" : "ready", found[l]);
    /* With shared sockets an HTTP or TCP check cannot tell which generation
     * answered: only READY=1, placed by its sender's pid, says the next one
     * is ready. */
    if (cfg->restart_mode == RESTART_MODE_START_FIRST && !cfg->sidecar && !found[0])
        return fail(st, "--restart-mode start-first needs a readiness signal bound to the new "
                        "process: add --ready-check notify (the next generation's sd_notify "
                        "READY=1; an HTTP or TCP check cannot tell the generations apart)");
    if (found[1] && cfg->watchdog_ms == 0)
        return fail(st, "--live-check notify is the sd_notify watchdog: give --watchdog D too "
                        "(the app sends WATCHDOG=1 at least every D/2)");
    if (cfg->watchdog_ms > 0 && !found[1] && apply_strlist(&cfg->live_check, "notify") != NULL)
        return fail(st, "--watchdog: out of memory");
    if (found[0] || cfg->watchdog_ms > 0)
        cfg->notify = 1;
    if (cfg->sidecar && cfg->notify)
        return fail(st, "--notify, --watchdog and notify checks follow the child; a sidecar "
                        "(--watch without a COMMAND) has none");
    return 0;
}

/* Options that are each valid but make no sense together: refused with
 * the way out, or warned about when they merely do nothing. */
static int check_drain_idle(struct parse_state *st, struct podvisor_config *cfg)
{
    int tcp_sockets = 0;
    for (size_t i = 0; i < cfg->socket.n; i++) {
        struct socket_spec spec;
        tcp_sockets += parse_socket_spec(cfg->socket.v[i], &spec) == NULL && !spec.is_unix;
    }
    if (cfg->drain_idle && cfg->sidecar)
        return fail(st, "--drain-idle follows the child's connections; a sidecar has no child");
    if (cfg->drain_idle && cfg->drain_port.n == 0 && tcp_sockets == 0)
        return fail(st, "--drain-idle needs the app's ports: --drain-port PORT, or a --socket "
                        "tcp://HOST:PORT");
    if (!cfg->drain_idle && cfg->drain_port.n > 0)
        add_warning(cfg, "--drain-port has no effect without --drain-idle");
    return 0;
}

static int check_drain_endpoints(struct parse_state *st, struct podvisor_config *cfg)
{
    if (cfg->drain_endpoints && cfg->sidecar)
        return fail(st, "--drain-endpoints shortens the child's prestop wait; a sidecar has no "
                        "child");
    if (cfg->drain_endpoints && cfg->prestop_delay_ms == 0)
        add_warning(cfg, "--drain-endpoints has no effect without --prestop-delay (the longest "
                         "wait: try --prestop-delay 30s)");
    else if (cfg->drain_endpoints && cfg->drain_min_ms >= cfg->prestop_delay_ms)
        add_warning(cfg, "--drain-endpoints has no effect: --drain-min is not shorter than "
                         "--prestop-delay");
    return 0;
}

static int check_combinations(struct parse_state *st, struct podvisor_config *cfg)
{
    const struct on_change *oc = &cfg->on_change;
    if (cfg->sidecar) {
        if (oc->kind == ON_CHANGE_RESTART)
            return fail(st, "--on-change restart needs a COMMAND to restart; in sidecar mode "
                            "(--watch without a COMMAND) use signal:SIG with --signal-process, "
                            "exec:CMD or webhook:URL");
        if (oc->kind == ON_CHANGE_SIGNAL && cfg->signal_process.n == 0)
            return fail(st,
                        "--on-change %s in sidecar mode needs --signal-process NAME (the "
                        "process to signal; the pod needs shareProcessNamespace: true)",
                        oc->text);
        if (cfg->restart_policy != RESTART_NEVER)
            return fail(st, "--restart-policy needs a COMMAND; a sidecar has no child");
        if (cfg->socket.n > 0)
            return fail(st, "--socket is passed to the child; a sidecar has no child");
        if (cfg->restart_mode == RESTART_MODE_START_FIRST)
            return fail(st, "--restart-mode start-first restarts a COMMAND; a sidecar has none");
        if (cfg->pid_file != NULL)
            return fail(st, "--pid-file follows the child's successor; a sidecar has no child");
        if (cfg->ready_check.n > 0 || cfg->live_check.n > 0)
            return fail(st, "--ready-check and --live-check follow the child; a sidecar "
                            "(--watch without a COMMAND) has none");
    } else if (cfg->signal_process.n > 0) {
        return fail(st, "--signal-process is for sidecar mode (--watch without a COMMAND); "
                        "with a COMMAND, signal:SIG goes to the child");
    }
    if (cfg->signal_process.n > 0 && oc->kind != ON_CHANGE_SIGNAL)
        add_warning(cfg, "--signal-process has no effect unless --on-change is signal:SIG");
    if (cfg->watch.n == 0 && cfg->validate.argv != NULL)
        add_warning(cfg, "--validate has no effect without --watch");
    if (cfg->watch.n == 0 &&
        (cfg->watch_include.n > 0 || cfg->watch_exclude.n > 0 || cfg->watch_poll_ms > 0))
        return fail(st, "--watch-include, --watch-exclude and --watch-poll need --watch PATH");
    if (cfg->validate_timeout_ms <= 0)
        return fail(st, "--validate-timeout must be more than 0 (try 30s, or 5m for a build)");
    if (check_notify(st, cfg) < 0)
        return -1;
    if (cfg->admin_token.value != NULL && cfg->admin_listen.off)
        add_warning(cfg, "--admin-token-file has no effect without --admin-listen");
    if (check_drain_idle(st, cfg) < 0 || check_drain_endpoints(st, cfg) < 0)
        return -1;
    if (cfg->webhook_timeout_ms <= 0)
        return fail(st, "--webhook-timeout must be more than 0 (try 60s)");
    if (cfg->ready_timeout_ms <= 0)
        return fail(st, "--ready-timeout must be more than 0 (try 60s)");
    if (cfg->restart_mode == RESTART_MODE_START_FIRST && !cfg->sidecar && cfg->socket.n == 0)
        add_warning(cfg, "--restart-mode start-first without --socket: the app must bind its "
                         "port with SO_REUSEPORT, or the next generation cannot bind while the "
                         "current one holds it");
    if (cfg->check_interval_ms <= 0 || cfg->check_timeout_ms <= 0)
        return fail(st, "--check-interval and --check-timeout must be more than 0 (try 1s)");
    if (cfg->ready_check.n + cfg->live_check.n > OPTIONS_MAX_CHECKS)
        return fail(st, "%zu checks given; at most %d", cfg->ready_check.n + cfg->live_check.n,
                    OPTIONS_MAX_CHECKS);
    if (cfg->backoff_initial_ms <= 0)
        return fail(st, "--backoff-initial must be more than 0 (try 1s)");
    if (cfg->backoff_max_ms < cfg->backoff_initial_ms)
        return fail(st, "--backoff-max %lldms is less than --backoff-initial %lldms",
                    (long long)cfg->backoff_max_ms, (long long)cfg->backoff_initial_ms);
    return 0;
}

void options_free(struct podvisor_config *cfg)
{
    struct strlist *lists[] = {&cfg->watch,          &cfg->watch_include, &cfg->watch_exclude,
                               &cfg->signal_process, &cfg->ready_check,   &cfg->live_check,
                               &cfg->socket};
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
        for (size_t i = 0; i < lists[l]->n; i++)
            free(lists[l]->v[i]);
        free(lists[l]->v);
        lists[l]->v = NULL;
        lists[l]->n = 0;
    }
    free(cfg->on_change.argv);
    free(cfg->on_change.url);
    free(cfg->on_change.text);
    memset(&cfg->on_change, 0, sizeof cfg->on_change);
    free(cfg->validate.argv);
    free(cfg->validate.text);
    memset(&cfg->validate, 0, sizeof cfg->validate);
    free(cfg->admin_token.value);
    free(cfg->admin_token.path);
    cfg->admin_token.value = cfg->admin_token.path = NULL;
    free(cfg->webhook_ca);
    cfg->webhook_ca = NULL;
    free(cfg->pid_file);
    cfg->pid_file = NULL;
}

const char *options_on_change_name(enum on_change_kind k)
{
    static const char *const names[] = {"restart", "signal", "exec", "webhook", "none"};
    return (unsigned)k < 5 ? names[k] : "unknown";
}

enum options_result options_parse(struct podvisor_config *cfg, int argc, char **argv,
                                  char *const *envp, char *err, size_t errlen)
{
    struct parse_state st;
    memset(&st, 0, sizeof st);
    st.err = err;
    st.errlen = errlen;
    config_defaults(cfg);
    enum options_result result = OPTIONS_ERROR;

    int verbose = 0, first_arg = argc;
    const char *config_flag = NULL;
    result = parse_flags(&st, argc, argv, &first_arg, &verbose, &config_flag);
    if (result != OPTIONS_RUN)
        goto out;
    result = OPTIONS_ERROR;

    if (gather_env(&st, envp) < 0)
        goto out;
    if (config_flag != NULL && *config_flag == '\0') {
        fail(&st, "--config: the path is empty (give a JSON file, or leave --config out)");
        goto out;
    }
    /* PODVISOR_CONFIG="" counts as unset: templated manifests render it so. */
    st.config_path = config_flag ? config_flag : env_lookup(envp, "PODVISOR_CONFIG");
    if (st.config_path && *st.config_path && gather_file(&st) < 0)
        goto out;
    if (apply_all(&st, cfg) < 0)
        goto out;
    for (int i = 0; i < verbose && cfg->log_level < LOG_DEBUG; i++)
        cfg->log_level++;
    derive(cfg);

    warn_unknown_env(cfg, envp);
    if (first_arg < argc)
        cfg->command = argv + first_arg;
    else if (cfg->watch.n > 0)
        cfg->sidecar = 1;
    else {
        fail(&st, "no command given (usage: podvisor [OPTIONS] -- COMMAND [ARG...], or "
                  "--watch PATH without a command for sidecar mode)");
        goto out;
    }
    if (check_combinations(&st, cfg) < 0)
        goto out;
    result = OPTIONS_RUN;
out:
    if (result == OPTIONS_ERROR)
        error_log_format(&st, cfg, envp);
    state_free(&st);
    return result;
}

void options_help(char *buf, size_t len)
{
    size_t o = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int n_ = snprintf(buf + o, o < len ? len - o : 0, __VA_ARGS__);                            \
        if (n_ > 0)                                                                                \
            o += (size_t)n_;                                                                       \
    } while (0)
    PUT("usage: podvisor [OPTIONS] [--] COMMAND [ARG...]\n"
        "       podvisor [OPTIONS] --watch PATH...   (sidecar mode: no COMMAND)\n"
        "       podvisor hash PATH...\n"
        "       podvisor install DEST\n"
        "       podvisor probe [--timeout D] [--header 'K: V']... [--verify-tls] TARGET\n"
        "       podvisor wait-for [--timeout D] [--interval D] TARGET...   (init containers)\n"
        "       podvisor sleep DURATION\n"
        "       podvisor version | help\n\n"
        "Runs COMMAND as its child: forwards signals, reaps zombies, drains on SIGTERM,\n"
        "serves Kubernetes probes, and exits with the child's status.\n\n"
        "Options (each also as PODVISOR_<NAME> or a key in the --config JSON file;\n"
        "precedence: flag, environment, file, default):\n");
    PUT("  -c, --config FILE         JSON config file\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct opt_def *d = &option_table[i];
        char left[64];
        char sh[8] = "    ";
        if (d->short_name)
            snprintf(sh, sizeof sh, "-%c, ", d->short_name);
        snprintf(left, sizeof left, "%s--%s%s%s", sh, d->name, d->metavar ? " " : "",
                 d->metavar ? d->metavar : "");
        PUT("  %-24s  %s", left, d->help);
        if (d->defval)
            PUT(" [%s]", d->defval);
        PUT("\n");
    }
    PUT("  -v, --verbose             raise the log level one step\n"
        "  -h, --help                this text\n"
        "  -V, --version             the version, commit, build and libraries\n\n"
        "Exit status: the child's, 128+N for a signal death, 2 usage error,\n"
        "126 not executable, 127 not found, 1 podvisor failed.\n");
#undef PUT
}

int options_budget_warning(const struct podvisor_config *cfg, char *buf, size_t len)
{
    int exceeds = cfg->prestop_delay_ms + cfg->stop_timeout_ms > cfg->grace_ms;
    int short_stop = cfg->stop_signal != 0 && cfg->stop_timeout_ms < OPTIONS_STOP_FLOOR_MS;
    if (exceeds)
        snprintf(buf, len,
                 "--prestop-delay %lldms + --stop-timeout %lldms exceed --grace-period %lldms: "
                 "the kubelet would SIGKILL the container before podvisor finishes its drain",
                 (long long)cfg->prestop_delay_ms, (long long)cfg->stop_timeout_ms,
                 (long long)cfg->grace_ms);
    else if (short_stop)
        snprintf(buf, len,
                 "--stop-timeout is %lldms%s: the app gets its stop signal and SIGKILL almost "
                 "back to back (less than %dms to stop); raise --grace-period or lower "
                 "--prestop-delay",
                 (long long)cfg->stop_timeout_ms,
                 cfg->stop_timeout_given ? "" : " (--grace-period - --prestop-delay - 2s)",
                 OPTIONS_STOP_FLOOR_MS);
    return exceeds || short_stop;
}

int options_remap_exit(const struct podvisor_config *cfg, int code)
{
    return code >= 0 && code < 256 && cfg->remap_exit[code] ? 0 : code;
}

HOT_PATH int options_rewrite(const struct podvisor_config *cfg, int sig)
{
    if (sig < 1 || sig >= OPTIONS_NSIG || cfg->rewrite[sig] < 0)
        return sig;
    return cfg->rewrite[sig];
}
