/* options: turns flags, environment (PODVISOR_*, TINI_*) and the JSON config
 * file into one config struct, with the precedence flag > environment >
 * file > default (docs/podvisor.1). Owns the option table, the help text and the
 * derived values (stop signal, stop timeout). Writes nothing itself: errors
 * come back as one line for cmd/ to print. */
#ifndef PODVISOR_OPTIONS_H
#define PODVISOR_OPTIONS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "parse.h"

#define OPTIONS_NSIG 65 /* signals 1..64 */
#define OPTIONS_MAX_WARNINGS 8
/* Less time than this between the stop signal and SIGKILL is worth a warning:
 * few apps close their listeners and finish requests faster. */
#define OPTIONS_STOP_FLOOR_MS 1000
/* --ready-check and --live-check together. */
#define OPTIONS_MAX_CHECKS 16
#define OPTIONS_MAX_DRAIN_PORTS 16

/* A list of strings given by a repeatable option; owned by the config. */
struct strlist {
    char **v;
    size_t n;
};

/* TCP ports (--drain-port), in the order given. */
struct portlist {
    uint16_t v[OPTIONS_MAX_DRAIN_PORTS];
    size_t n;
};

/* What a config change (or a later admin /reload) does. */
enum on_change_kind {
    ON_CHANGE_RESTART = 0, /* graceful restart of the child */
    ON_CHANGE_SIGNAL,      /* sig to the child (sidecar: to --signal-process) */
    ON_CHANGE_EXEC,        /* run argv, log its exit status */
    ON_CHANGE_WEBHOOK,     /* POST to url, retried until 2xx or the next change */
    ON_CHANGE_NONE,        /* record the change only */
};

struct on_change {
    enum on_change_kind kind;
    int sig;
    char **argv; /* exec: one malloc'd block (parse_command_words) */
    char *url;   /* webhook */
    char *text;  /* as given, for logs and /status */
};

/* A command given as one string (--validate). */
struct cmdline {
    char **argv; /* parse_command_words block */
    char *text;  /* as given */
};

enum restart_policy { RESTART_NEVER = 0, RESTART_ON_FAILURE, RESTART_ALWAYS };
enum restart_mode { RESTART_MODE_STOP_FIRST = 0, RESTART_MODE_START_FIRST };

struct podvisor_config {
    enum log_format log_format;
    enum log_level log_level;
    int subreaper;                 /* -s: asked for; automatic when not PID 1 */
    int process_group;             /* -g: signals go to the child's group */
    unsigned char remap_exit[256]; /* -e: these codes count as 0 */
    int pdeathsig;                 /* -p: 0 = none */
    int warn_on_reap;              /* -w */
    int rewrite[OPTIONS_NSIG];     /* signal -> forwarded as; -1 = unchanged, 0 = dropped */
    int64_t prestop_delay_ms;
    int stop_signal; /* 0: the stop step sends nothing (--rewrite TERM:0) */
    int stop_signal_given;
    int64_t grace_ms;
    int64_t stop_timeout_ms;
    int stop_timeout_given;
    struct listen_addr probe_listen;
    char *const *command; /* points into argv; NULL-terminated; NULL in sidecar mode */
    /* Config changes (owned: options_free releases them). */
    struct strlist watch;
    struct strlist watch_include, watch_exclude; /* pathfilter.h's patterns */
    int64_t watch_poll_ms;                       /* 0: no polling asked for */
    int64_t validate_timeout_ms;                 /* a --validate running longer is killed */
    struct on_change on_change;
    struct cmdline validate; /* argv NULL: none */
    int64_t debounce_ms;
    int64_t webhook_timeout_ms; /* how long a webhook POST's answer is waited for */
    char *webhook_ca;           /* webhook:https: verify against this CA file (NULL: system's) */
    struct strlist signal_process;
    int sidecar; /* --watch and no COMMAND: no child */
    enum restart_policy restart_policy;
    /* Checks (parse_check validated each). */
    struct strlist ready_check, live_check;
    int64_t check_interval_ms, check_timeout_ms;
    int failure_threshold;
    /* sd_notify: a NOTIFY_SOCKET for the child (--notify, a notify check
     * or --watchdog); watchdog_ms 0: none. */
    int notify;
    int64_t watchdog_ms;
    /* --drain-idle: after the stop signal, the drain ends (SIGKILL of the
     * group) once no connection is on the app's ports for a settle. The
     * ports: --drain-port ones and the --socket tcp:// ones. */
    int drain_idle;
    struct portlist drain_port;
    /* --drain-endpoints: after SIGTERM the prestop wait ends --drain-settle
     * after the pod's EndpointSlices all show it not ready (not before
     * --drain-min; --prestop-delay stays the bound). */
    int drain_endpoints;
    int64_t drain_settle_ms;
    int64_t drain_min_ms;
    /* --socket (parse_socket_spec validated each); passed as fds 3.. */
    struct strlist socket;
    int64_t ready_timeout_ms; /* a restart's new child must be ready by then */
    long long restart_memory; /* start-first: what a second generation needs (0: as much
                               * as the container's working set now) */
    enum restart_mode restart_mode;
    char *pid_file; /* --pid-file: the app's own successor is named here (NULL: none) */
    /* The admin listener (off unless given); admin_token.value: the token
     * file's content, trailing blanks cut (NULL: no token needed). */
    struct listen_addr admin_listen;
    struct secret {
        char *value;
        char *path;
    } admin_token;
    int64_t backoff_initial_ms;
    int64_t backoff_max_ms;
    /* Not errors, but worth a line once logging is set up (an unknown
     * PODVISOR_* variable). */
    char warnings[OPTIONS_MAX_WARNINGS][192];
    int nwarnings;
    int warnings_dropped;
};

enum options_result {
    OPTIONS_RUN = 0, /* config is complete: supervise the command */
    OPTIONS_HELP,    /* --help: print options_help() and exit 0 */
    OPTIONS_VERSION, /* --version */
    OPTIONS_ERROR,   /* err holds one line; exit 2 */
};

/** Parses argv (argv[0] is the program) with envp as the environment.
 * cfg->command points into argv; options_free releases the rest (also
 * after an error). */
enum options_result options_parse(struct podvisor_config *cfg, int argc, char **argv,
                                  char *const *envp, char *err, size_t errlen);

/** Frees what options_parse allocated (lists, parsed commands). Safe on a
 * config options_parse failed on, and twice. */
void options_free(struct podvisor_config *cfg);

/** "restart", "signal", "exec", "webhook", "none". */
const char *options_on_change_name(enum on_change_kind k);

/** Writes the --help text into buf. */
void options_help(char *buf, size_t len);

/** When prestop delay + stop timeout cannot fit in the grace period, or the
 * app would get less than OPTIONS_STOP_FLOOR_MS between its stop signal and
 * SIGKILL, writes a one-line warning into buf and returns 1; returns 0
 * otherwise. */
int options_budget_warning(const struct podvisor_config *cfg, char *buf, size_t len);

/** Applies -e: the exit code podvisor reports for a child status code. */
int options_remap_exit(const struct podvisor_config *cfg, int code);

/** Applies --rewrite: the signal to forward for `sig`, 0 to drop it. */
int options_rewrite(const struct podvisor_config *cfg, int sig);

#endif
