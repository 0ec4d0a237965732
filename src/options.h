/* options: turns flags, environment (PODVISOR_*, TINI_*) and the JSON config
 * file into one config struct, with the precedence flag > environment >
 * file > default of SPEC.md. Owns the option table, the help text and the
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

struct podvisor_config {
    enum log_format log_format;
    enum log_level log_level;
    int subreaper;          /* -s: asked for; automatic when not PID 1 */
    int process_group;      /* -g: signals go to the child's group */
    unsigned char remap_exit[256]; /* -e: these codes count as 0 */
    int pdeathsig;          /* -p: 0 = none */
    int warn_on_reap;       /* -w */
    int rewrite[OPTIONS_NSIG]; /* signal -> forwarded as; -1 = unchanged, 0 = dropped */
    int64_t prestop_delay_ms;
    int stop_signal;        /* 0: the stop step sends nothing (--rewrite TERM:0) */
    int stop_signal_given;
    int64_t grace_ms;
    int64_t stop_timeout_ms;
    int stop_timeout_given;
    struct listen_addr probe_listen;
    char *const *command;   /* points into argv; NULL-terminated */
    /* Not errors, but worth a line once logging is set up (an unknown
     * PODVISOR_* variable). */
    char warnings[OPTIONS_MAX_WARNINGS][192];
    int nwarnings;
    int warnings_dropped;
};

enum options_result {
    OPTIONS_RUN = 0,   /* config is complete: supervise the command */
    OPTIONS_HELP,      /* --help: print options_help() and exit 0 */
    OPTIONS_VERSION,   /* --version */
    OPTIONS_ERROR,     /* err holds one line; exit 2 */
};

/** Parses argv (argv[0] is the program) with envp as the environment.
 * Allocates nothing that outlives the call; cfg->command points into argv. */
enum options_result options_parse(struct podvisor_config *cfg, int argc, char **argv,
                                  char *const *envp, char *err, size_t errlen);

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
