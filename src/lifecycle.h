/* lifecycle: the supervisor's one state machine. Pure: it takes an event
 * (with the time it happened) and returns the new state and the actions to
 * take; it does no I/O and reads no clock, so unit tests drive it directly.
 * Readiness, liveness and startup are functions of its state.
 *
 *   starting --spawned--> running --ready--> ready        (running: checks pending)
 *   running/ready --SIGTERM--> draining --delay / 2nd SIGTERM--> stopping
 *   stopping --stop timeout--> stopping (+ SIGKILL to the group)
 *   any --child exited--> exited
 * (restarting joins with config reloads: between stopping and starting.) */
#ifndef PODVISOR_LIFECYCLE_H
#define PODVISOR_LIFECYCLE_H

#include <stdint.h>
#include <sys/types.h>

#include "options.h"

enum lc_state { LC_STARTING = 0, LC_RUNNING, LC_READY, LC_DRAINING, LC_STOPPING, LC_EXITED };
#define LC_N_STATES 6

enum lc_event_type {
    LC_EV_SPAWNED,          /* pid: the child runs */
    LC_EV_SIGNAL,           /* sig: podvisor received it */
    LC_EV_CHILD_EXITED,     /* status: the main child's wait status */
    LC_EV_PRESTOP_ELAPSED,
    LC_EV_STOP_TIMEOUT,
};

struct lc_event {
    enum lc_event_type type;
    int64_t now_ms;         /* monotonic */
    pid_t pid;
    int sig;
    int status;
};

enum lc_timer { LC_TIMER_PRESTOP = 0, LC_TIMER_STOP, LC_N_TIMERS };

enum lc_action_type {
    LC_ACT_FORWARD,         /* sig to the child (or its group with -g) */
    LC_ACT_STOP_CHILD,      /* the stop signal sig (to the group with -g) */
    LC_ACT_KILL_GROUP,      /* SIGKILL the child's whole process group */
    LC_ACT_ARM_TIMER,       /* timer, ms */
    LC_ACT_CANCEL_TIMER,    /* timer */
    LC_ACT_EXIT,            /* code: clean up what is left, then exit */
};

struct lc_action {
    enum lc_action_type type;
    int sig;
    enum lc_timer timer;
    int64_t ms;
    int code;
};

#define LC_MAX_ACTIONS 8
#define LC_MAX_TRANSITIONS 3

struct lc_transition {
    enum lc_state from, to;
    const char *why;        /* static string, for the log line */
};

struct lc_result {
    struct lc_action actions[LC_MAX_ACTIONS];
    int nactions;
    struct lc_transition transitions[LC_MAX_TRANSITIONS];
    int ntransitions;
};

struct lifecycle {
    const struct podvisor_config *cfg;
    enum lc_state state;
    pid_t child_pid;
    int64_t child_started_ms;
    int ever_ready;               /* /startupz */
    unsigned restarts;
    int has_exited;
    int last_exit_status;         /* wait status of the last child exit */
    int exit_code;                /* what podvisor exits with */
    int64_t drain_started_ms;     /* -1: no drain yet */
    int64_t drain_ended_ms;       /* -1: drain still running or none */
    uint64_t forwarded[OPTIONS_NSIG]; /* per signal actually forwarded as */
};

void lifecycle_init(struct lifecycle *lc, const struct podvisor_config *cfg);

/** Feeds one event; fills *out (cleared first). */
void lifecycle_step(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);

const char *lifecycle_state_name(enum lc_state s);

/** /readyz: the child runs, is ready, and podvisor is not shutting down. */
int lifecycle_ready(const struct lifecycle *lc);
/** /livez: stays true while draining and stopping (KUBERNETES.md: liveness
 * is not acted on during termination, and a restart then would lose work). */
int lifecycle_live(const struct lifecycle *lc);
/** /startupz: the child has been ready at least once. */
int lifecycle_started(const struct lifecycle *lc);
/** Seconds spent draining so far (or in the last drain), 0 when none. */
double lifecycle_drain_seconds(const struct lifecycle *lc, int64_t now_ms);

#endif
