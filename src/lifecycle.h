/* lifecycle: the supervisor's one state machine. Pure: it takes an event
 * (with the time it happened) and returns the new state and the actions to
 * take; it does no I/O and reads no clock, so unit tests drive it directly.
 * It owns every piece of supervision state: the state, the table of
 * children by slot (which generation slot is current, and each slot's
 * role), the flags beside the state (lifecycle_flags), the clean-up after
 * the main child is gone, and the readiness conditions that /readyz,
 * /status and /metrics report. Nothing aborts on an impossible state: it
 * is a fault (lifecycle.faults), logged, and the step goes on. It lives in
 * four files: lifecycle.c (the step, readiness, the views),
 * lifecycle_stop.c (the drain and the clean-up), lifecycle_restart.c
 * (restarts, generations, successions), lifecycle_config.c (changes,
 * --validate, actions, admin). tests/unit/explore.c walks it.
 *
 *   starting --exec ok--> running --ready--> ready        (running: checks pending)
 *   running/ready --SIGTERM--> draining --delay / 2nd SIGTERM--> stopping
 *   stopping --stop timeout--> stopping (+ SIGKILL to the child's group)
 *   any --main child exited--> exited --nothing left--> (EXIT action)
 * In exited, what the child left behind gets SIGTERM, then SIGKILL (again
 * for whatever is re-parented to podvisor meanwhile), within a deadline.
 *
 *   running/ready --restart (config, crash, admin)--> restarting/...
 *   stop-first: restarting/delay -> /stopping -> /old-group (the group is
 *   empty, no --validate running) -> /starting -> running; a crash goes
 *   through /backoff instead. --socket skips the delay and keeps /readyz up.
 *   start-first: ready -> restarting/next (a second generation beside the
 *   current one) --its READY=1--> ready (promoted; the old one stops), or
 *   --exit / --ready-timeout--> ready (rolled back; the next one stops)
 *   any restart phase --SIGTERM--> draining/stopping/exited
 *
 * A config change goes through --validate (a child of its own role) before
 * the --on-change action; a change during a restart is part of it (the new
 * child reads the files as they are when it starts). Sidecar mode has no
 * main child: it is ready once started and SIGTERM ends it with 0. */
#ifndef PODVISOR_LIFECYCLE_H
#define PODVISOR_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "options.h"

enum lc_state {
    LC_STARTING = 0,
    LC_RUNNING,
    LC_READY,
    LC_DRAINING,
    LC_STOPPING,
    LC_EXITED,
    /* A restart of the main child, one state per phase (/status and the
     * log say "restarting" for each; lifecycle_state_detail names them). */
    LC_RESTART_DELAY,     /* readiness off; the prestop delay runs */
    LC_RESTART_STOPPING,  /* the stop signal went out; the stop timeout runs */
    LC_RESTART_OLD_GROUP, /* the child is gone; what it left in its process group is
                           * being killed: the command starts once the group is empty
                           * (and no --validate is running) */
    LC_RESTART_BACKOFF,   /* the child crashed; waiting before starting it again */
    LC_RESTART_STARTING,  /* the command was started again; its exec is pending */
    LC_RESTART_NEXT,      /* start-first: the next generation starts beside the current
                           * one, which serves until the next is ready */
};
#define LC_N_STATES 12
/* The states /status and /metrics name: the restart phases are one. */
#define LC_N_PUBLIC_STATES 7

/* A --ready-check or --live-check, by its index in the order given
 * (ready checks first): a type of its own, never taken for a slot. */
enum lc_check_id { LC_CHECK_FIRST = 0, LC_CHECK_LAST = OPTIONS_MAX_CHECKS - 1 };

/* Children by slot. The main child is a generation: the current one lives
 * in one of the two generation slots (lc->current), and the other slot
 * holds the next generation while a start-first restart starts it, or the
 * previous one while it stops. Role is not slot: which slot is "the" main
 * child, whose exit is the app's, the lifecycle decides. */
enum lc_slot { LC_GEN_A = 0, LC_VALIDATE, LC_ACTION, LC_GEN_B };
#define LC_MAX_CHILDREN 4

/* What a child is to the pod (/status "children", the log). */
enum lc_role {
    LC_ROLE_NONE = 0,
    LC_ROLE_MAIN,
    LC_ROLE_NEXT,
    LC_ROLE_OLD,
    LC_ROLE_VALIDATE,
    LC_ROLE_ACTION,
    LC_ROLE_ROLLED_BACK /* a next generation stopping after its rollback */
};

/* Why the main child is started again (labelled in /status and /metrics). */
enum lc_reason { LC_REASON_CONFIG = 0, LC_REASON_CRASH, LC_REASON_ADMIN };
#define LC_N_REASONS 3

/* A helper (validate, exec:) that runs longer than this is killed; a
 * validate that hangs would otherwise block every later change. */
#define LC_HELPER_TIMEOUT_MS 30000
/* How long a restart waits for the old child's process group to empty
 * (a worker freeing gigabytes keeps its listening port until it is gone). */
#define LC_OLD_GROUP_WAIT_MS 5000

/* Timers are named by the event they feed back when they fire: arming one
 * is an action {LC_ACT_ARM_TIMER, .timer = LC_EV_..., .ms}, so a new timer
 * is a new event type and nothing else. */
enum lc_event_type {
    LC_EV_START = 0,            /* podvisor is set up: start the main child */
    LC_EV_FORKED,               /* child, pid: it exists; its exec is pending */
    LC_EV_EXEC_OK,              /* child: the exec succeeded */
    LC_EV_EXEC_FAILED,          /* child, code: 126/127, or 1 when its result was lost */
    LC_EV_SPAWN_FAILED,         /* child: no process could be made (podvisor's failure) */
    LC_EV_SIGNAL,               /* sig: podvisor received it */
    LC_EV_CHILD_STOPPED,        /* child, sig: stopped by job control */
    LC_EV_CHILD_CONTINUED,      /* child */
    LC_EV_CHILD_EXITED,         /* child, status: its wait status */
    LC_EV_REAPED,               /* left: after a reap pass, whether podvisor has children */
    LC_EV_PRESTOP_ELAPSED,      /* timer */
    LC_EV_STOP_TIMEOUT,         /* timer, child */
    LC_EV_CLEANUP_TERM_ELAPSED, /* timer: leftovers had their chance to stop */
    LC_EV_CLEANUP_DEADLINE,     /* timer: stop waiting for leftovers */
    LC_EV_CONFIG_CHANGED,       /* text: the new content hash (after the debounce) */
    LC_EV_RESTART,              /* code: enum lc_reason; a graceful restart asked for */
    LC_EV_ACTION_RESULT,        /* code: 1 ok, 0 failed; text: what happened (webhook) */
    LC_EV_VALIDATE_TIMEOUT,     /* timer */
    LC_EV_ACTION_TIMEOUT,       /* timer */
    LC_EV_BACKOFF_ELAPSED,      /* timer: start the crashed child again */
    LC_EV_CHECK_RESULT,         /* child: check index; code: 1 passed; status: how long it took
                                 * (ms); text: why it failed */
    LC_EV_MAINPID,              /* pid: sd_notify MAINPID=, checked to descend from podvisor */
    LC_EV_NOTIFY_STATUS,        /* an sd_notify message was taken; text: its STATUS=, or NULL */
    LC_EV_NOTIFY_REJECTED,      /* code: enum notify_reject (a malformed or foreign datagram) */
    LC_EV_DRAIN,                /* admin POST /drain: readiness off for good, nothing stopped */
    LC_EV_RELOAD,               /* admin POST /reload: the --on-change action, now */
    LC_EV_OLD_GROUP_GONE,       /* the restarted child's old process group is empty */
    LC_EV_OLD_GROUP_DEADLINE,   /* timer: stop waiting for the old group to empty */
    LC_EV_READY_TIMEOUT,        /* timer: --ready-timeout since a restart began */
    LC_EV_NEXT_READY,           /* child: sd_notify READY=1 from the next generation's tree */
    LC_EV_NO_MEMORY,            /* child: the next generation to start does not fit in the
                                 * container's memory limit beside the current one */
    LC_EV_CONNECTIONS,          /* code: the connections on the app's ports now (--drain-idle) */
    LC_EV_ENDPOINTS,            /* code: enum lc_endpoints, what the pod's EndpointSlices say
                                 * (--drain-endpoints) */
    LC_N_EVENTS
};

/* --drain-endpoints: the verdict of the watch on the Kubernetes API. */
enum lc_endpoints {
    LC_ENDPOINTS_UNKNOWN = 0, /* the API could not tell (no access, no slice lists the pod,
                               * only publishNotReadyAddresses Services): the fixed wait */
    LC_ENDPOINTS_NOT_READY,   /* every slice listing the pod shows it not ready */
    LC_ENDPOINTS_NOT_DELETING /* the pod has no deletionTimestamp: the kubelet kills the
                               * container on its own and no endpoint will change */
};

struct lc_event {
    enum lc_event_type type;
    int64_t now_ms;         /* monotonic */
    enum lc_slot child;     /* the child it is about (FORKED, CHILD_EXITED, timers) */
    enum lc_check_id check; /* CHECK_RESULT: which check */
    pid_t pid;
    pid_t pgid; /* MAINPID: the successor's process group, as read (0: not known) */
    int sig;
    int status;
    int code;
    int left;
    const char *text; /* copied by the lifecycle; valid during the step */
    /* A --validate's exit: the content hash on disk now (NULL: not known),
     * to tell whether what passed is still what acting would apply. */
    const char *hash;
};

enum lc_action_type {
    LC_ACT_SPAWN,            /* child: fork and exec its command */
    LC_ACT_FORWARD,          /* child, sig (to its group with -g) */
    LC_ACT_STOP_CHILD,       /* child, sig: the stop signal (to its group with -g) */
    LC_ACT_KILL_GROUP,       /* child: SIGKILL its whole process group; code 1: the stop
                              * timeout elapsed (else the why, or no reason to log) */
    LC_ACT_KILL_OLD_GROUP,   /* pid: SIGKILL what is left in a reaped child's group (pid is
                              * the group's id) */
    LC_ACT_AWAIT_GROUP,      /* pid: report LC_EV_OLD_GROUP_GONE once group pid is empty */
    LC_ACT_SIGNAL_REMAINING, /* sig: every process podvisor must not leave behind */
    LC_ACT_ARM_TIMER,        /* timer, ms, child (carried back by the event) */
    LC_ACT_CANCEL_TIMER,     /* timer */
    LC_ACT_EXIT,             /* code: nothing is left to do; podvisor exits with it */
    LC_ACT_WEBHOOK,          /* POST the change (replacing a retry in progress) */
    LC_ACT_SIGNAL_PROCESSES, /* sig: sidecar mode, to the --signal-process processes */
    LC_ACT_REAP,             /* reap now and report what is left (LC_EV_REAPED) */
    LC_ACT_WARN,             /* why: worth a warning, nothing to do */
};

struct lc_action {
    enum lc_action_type type;
    enum lc_slot child;
    pid_t pid;  /* the child's pid when the action was decided */
    pid_t pgid; /* its process group (forwards with -g, the kill of its group) */
    int sig;
    enum lc_event_type timer;
    int64_t ms;
    int code;
    const char *why; /* static text worth a log line, or NULL */
};

#define LC_MAX_ACTIONS 12
#define LC_MAX_TRANSITIONS 3

struct lc_transition {
    enum lc_state from, to;
    const char *why; /* static string, for the log line */
};

struct lc_result {
    struct lc_action actions[LC_MAX_ACTIONS];
    int nactions;
    struct lc_transition transitions[LC_MAX_TRANSITIONS];
    int ntransitions;
    int dropped; /* actions that did not fit (a fault: lifecycle.faults) */
};

/* What of a refused --validate's output /status shows: its last lines. */
#define LC_OUTPUT_MAX 512

struct lc_child {
    int in_use;          /* spawn asked for and not reaped yet */
    pid_t pid;           /* 0 until forked */
    pid_t pgid;          /* its process group: its pid, or a successor's real group */
    int exec_pending;    /* forked; exec not confirmed */
    int stopped_by;      /* job-control stop signal; 0 while running */
    int timed_out;       /* a helper killed for running too long */
    int cancelled;       /* a --validate killed: the files changed again (no verdict) */
    int exec_error_code; /* 126/127 (or 1) when its exec failed */
    int64_t started_ms;
    int64_t kill_at_ms; /* its stop signal went out: its SIGKILL deadline (0: none) */
};

/* The clean-up after the main child is gone (SPEC: nothing left behind). */
enum lc_cleanup {
    LC_CLEANUP_NONE = 0, /* the main child runs */
    LC_CLEANUP_REAPING,  /* it is gone: does anything remain? */
    LC_CLEANUP_TERM,     /* leftovers got SIGTERM */
    LC_CLEANUP_KILL,     /* leftovers got SIGKILL; re-sent to late orphans */
    LC_CLEANUP_DONE,
};

/* One --ready-check or --live-check and its results since the main child
 * last started (/status, /metrics, /readyz?verbose). */
#define LC_MAX_CHECKS OPTIONS_MAX_CHECKS
struct lc_check {
    const char *name; /* the CHECK as given (owned by the config) */
    int live;         /* a --live-check; else a --ready-check */
    int immediate;    /* notify: one failure counts (the watchdog's deadline
                       * already is the app's allowance) */
    int has_result, ok;
    unsigned consecutive_failures, failures, runs;
    int64_t last_ms, last_duration_ms;
    char error[160];
};

struct lifecycle {
    const struct podvisor_config *cfg;
    /* States the rules say cannot happen, met anyway: never an abort of
     * PID 1; logged by the supervisor, hunted by the explorer. */
    unsigned faults;
    /* The scalars come first and the text and tables last: a signal's
     * step after a long sleep reads what it needs from a few cache lines
     * (bench/sigterm.py, docs/design.md "SIGTERM forwarding"). */
    int n_checks, n_ready_checks;
    int ready_since_start; /* ready at least once since the main child last started */
    int admin_drained;     /* POST /drain: /readyz fails until podvisor exits */
    /* The drain's stop signal when it differs from --stop-signal: the
     * last signal that asked for it (started the drain, cut its delay,
     * repeated the stop) was one --rewrite made TERM, and a signal is
     * rewritten once only (dumb-init's --rewrite 15:2 --rewrite 2:15: INT
     * reaches the app as TERM, not INT again). 0: --stop-signal. */
    int drain_signal;
    enum lc_state state;
    int64_t now_ms; /* the time of the step in progress */
    struct lc_child children[LC_MAX_CHILDREN];
    enum lc_cleanup cleanup;
    int64_t main_started_ms; /* when the main child was last forked; 0: never */
    int ever_ready;          /* /startupz */
    unsigned restarts;
    int has_exited;
    int last_exit_status;     /* wait status of the last main-child exit */
    int exit_code;            /* what podvisor exits with */
    int64_t drain_started_ms; /* -1: no drain yet */
    int64_t drain_ended_ms;   /* -1: drain still running or none */
    /* --drain-idle: the connections on the app's ports at the last count
     * (-1: none counted yet), since when that count has been 0 (-1: it is
     * not), and whether the drain was ended for it. */
    int drain_connections;
    int64_t drain_idle_since_ms;
    int drain_idle_ended;
    /* The prestop wait's timer: when it fires (0: not armed), and why, if
     * something other than the delay's end made it that early. */
    int64_t prestop_until_ms;
    const char *prestop_why;
    /* --drain-endpoints: the watch's verdict (-1: none yet) and when it
     * came. */
    int endpoints_verdict;
    int64_t endpoints_at_ms;
    /* Restarts of the main child. */
    enum lc_reason restart_reason;
    enum lc_slot current;    /* the slot of the current generation: LC_GEN_A or LC_GEN_B */
    enum lc_role other_role; /* the other generation slot's, when in use: next, old,
                              * rolled-back */
    int restart_again;       /* a trigger came while a restart was in flight: one more after it */
    enum lc_reason queued_reason; /* the first trigger merged into that one more */
    int start_after_validate;     /* the restart's start waits for the --validate in flight */
    /* Stop-first: the prestop delay ended while a change that landed during
     * the restart is validated: the stop signal waits for the verdict (a
     * refusal cancels the restart; the child keeps what it runs). */
    int stop_after_validate;
    /* Start-first: the next generation said READY=1 while a change that
     * landed during its start is validated: it may have read it, so it is
     * promoted only if that change passes. */
    int next_ready_waits;
    unsigned rollbacks;
    unsigned successions; /* the app replaced itself (MAINPID=, --pid-file): followed */
    unsigned restarts_by[LC_N_REASONS];
    /* How long the last graceful restart took, from its trigger (a change
     * accepted, POST /restart) until the new generation was ready. */
    int64_t restart_began_ms; /* the restart in flight, waiting for ready; 0: none */
    struct {
        int64_t at_ms; /* 0: none yet */
        int64_t took_ms;
        enum lc_reason reason;
    } last_restart;
    int64_t backoff_ms; /* the last crash-restart delay; 0: reset (a stable run) */
    int64_t backoff_until_ms;
    /* With --socket a graceful restart keeps /readyz at 200 (connections
     * wait in the held sockets' backlog) until the new child is ready or
     * --ready-timeout has passed. */
    int restart_keeps_ready;
    int holds_sockets; /* --socket, or sockets passed to podvisor (LISTEN_FDS) */
    /* Tables and text, read by /status and the checks; of these a signal
     * touches only its own counter. */
    uint64_t forwarded[OPTIONS_NSIG]; /* per signal actually forwarded as */
    char fault[400];                  /* the last fault, with the state it happened in */
    struct lc_check checks[LC_MAX_CHECKS];
    struct {
        char status[256]; /* the last STATUS= */
        pid_t mainpid;    /* the last MAINPID= taken; 0: none */
        unsigned messages;
        unsigned rejected[2]; /* malformed, foreign (enum notify_reject) */
    } notify;
    char check_why[200];  /* the transition text a check result caused */
    char next_hash[80];   /* start-first: the content the next generation was given */
    char queued_hash[80]; /* the change a merged restart will apply ("": none) */
    struct {
        int64_t at_ms; /* 0: none yet */
        char hash[80]; /* what the rolled-back generation was given ("": not known) */
        char why[120];
    } last_rollback;
    /* Config changes. */
    struct lc_config {
        char hash[80];          /* what the running child was given ("" until a change) */
        char pending[80];       /* the latest change seen */
        char validating[80];    /* the change --validate is running for */
        char previous_hash[80]; /* hash before the last accepted change (a rollback's) */
        int64_t changed_ms;     /* when the last change was accepted; 0: never */
        int validate_again;     /* another change came while validating */
        int action_again;       /* another change came while exec: ran */
        unsigned changes, reloads, refused, action_failures;
        struct {
            int64_t at_ms; /* 0: none yet */
            char hash[80];
            int status; /* validate's wait status */
            int timed_out;
            char output[LC_OUTPUT_MAX];
        } last_refused;
        struct {
            int64_t at_ms; /* 0: none yet */
            int ok, pending;
            char result[160];
        } last_action;
    } config;
};

/* How long leftovers get between SIGTERM and SIGKILL, and then how long
 * podvisor waits for the SIGKILLed ones to be reaped. Short, because the
 * kubelet's grace period is already running out (docs/kubernetes.md) and the
 * default stop timeout leaves 2 s of it for exactly this. */
#define LC_CLEANUP_TERM_MS 1000
#define LC_CLEANUP_KILL_MS 3000

void lifecycle_init(struct lifecycle *lc, const struct podvisor_config *cfg);

/** podvisor holds listening sockets for the app beyond --socket's (ones
 * passed to it with LISTEN_FDS): restarts keep /readyz as with --socket. */
void lifecycle_set_holds_sockets(struct lifecycle *lc);

/** Feeds one event; fills *out (cleared first). */
void lifecycle_step(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);

/** Everything beyond the state that changes what an event does, as words
 * ("validating queued:config keep-ready cleanup:term"), "" when nothing:
 * the golden table prints it on every row, a fault is logged with it. */
const char *lifecycle_flags(const struct lifecycle *lc, char *buf, size_t len);

/** The public name: "restarting" for every restart phase. */
const char *lifecycle_state_name(enum lc_state s);
/** The name with the phase: "restarting/stopping". */
const char *lifecycle_state_detail(enum lc_state s);
/** Whether s is one of the restart phases. */
int lifecycle_restarting(enum lc_state s);
/** The public state as an index below LC_N_PUBLIC_STATES. */
int lifecycle_public_state(enum lc_state s);
/** The event's name as the golden table and the explorer print it:
 * "CHILD_EXITED" ("?" for no event). */
const char *lifecycle_event_name(enum lc_event_type t);
/** "config", "crash", "admin". */
const char *lifecycle_reason_name(enum lc_reason r);
/** "main", "next", "old", "validate", "action", "rolled-back" ("" for a
 * free slot). */
const char *lifecycle_role_name(enum lc_role r);
/** What the child in slot is now. */
enum lc_role lifecycle_slot_role(const struct lifecycle *lc, enum lc_slot slot);
/* Read-only views for the supervisor, which never reaches into the
 * struct: what it needs to carry actions out and to log them. */
enum lc_state lifecycle_state(const struct lifecycle *lc);
enum lc_slot lifecycle_current(const struct lifecycle *lc);
const struct lc_child *lifecycle_child(const struct lifecycle *lc, enum lc_slot slot);
const struct lc_config *lifecycle_config(const struct lifecycle *lc);
int lifecycle_n_checks(const struct lifecycle *lc);
const struct lc_check *lifecycle_check(const struct lifecycle *lc, int index);
/** What podvisor exits with, once the lifecycle said LC_ACT_EXIT. */
int lifecycle_exit_code(const struct lifecycle *lc);
/** The last fault, when there were more than *seen (which it updates);
 * else NULL. */
const char *lifecycle_new_fault(const struct lifecycle *lc, unsigned *seen);

/** What a refusal by --validate does to what runs, said after the refusal
 * ("; the running child is kept"): decided here, as the refusal is. */
const char *lifecycle_refusal_outcome(const struct lifecycle *lc);
/** Whether the running --validate, exiting with status, leaves no verdict:
 * it was stopped because the files changed again, and did not run to its
 * end on content the files are back at. Decided here, as the exit is. */
int lifecycle_validate_void(const struct lifecycle *lc, int status);
/** When a generation is about to start on files that hold content that
 * was refused or whose restart was rolled back (they cannot be
 * un-written), a warning saying so in buf; else NULL. */
const char *lifecycle_unwritable_warning(const struct lifecycle *lc, char *buf, size_t len);

/** Whether slot holds a generation of the main child (not a helper). */
int lifecycle_is_generation(enum lc_slot slot);
/** The generation slot that is not the current one. */
enum lc_slot lifecycle_other_generation(const struct lifecycle *lc);

/* The admin commands, in one table: the path http.c routes, the event the
 * supervisor feeds, the answer when accepted; lifecycle_admin_refusal is
 * the rule for when not. */
enum lc_admin { LC_ADMIN_RESTART = 0, LC_ADMIN_RELOAD, LC_ADMIN_DRAIN, LC_ADMIN_QUIT, LC_N_ADMIN };
struct lc_admin_command {
    const char *path;      /* "/restart" */
    enum lc_event_type ev; /* fed when accepted (with code or sig below) */
    int code, sig;
    const char *accepted; /* the answer (202) */
};
extern const struct lc_admin_command lc_admin_commands[LC_N_ADMIN];

/** The command at path ("/restart"), or -1. */
int lifecycle_admin_lookup(const char *path);

/** Why an admin command cannot be acted on now, or NULL when it can. */
const char *lifecycle_admin_refusal(const struct lifecycle *lc, enum lc_admin cmd);

/** Whether a restart asked for now is merged into one more after the
 * start-first restart in flight (or its old generation stopping). */
int lifecycle_restart_queues(const struct lifecycle *lc);

/** Whether a config change is acted on now: not while draining, stopping
 * or after the child has exited. */
int lifecycle_accepts_changes(const struct lifecycle *lc);

/** The slot whose child has this pid, or -1 (an orphan podvisor adopted). */
int lifecycle_child_by_pid(const struct lifecycle *lc, pid_t pid);

/** Whether a successor named now (MAINPID=, --pid-file) would be taken:
 * the main child runs, past its exec, and no restart is in flight (a
 * restart replaces the child and its process group anyway). */
int lifecycle_takes_successor(const struct lifecycle *lc);

/** The main child's pid, 0 when there is none. */
pid_t lifecycle_main_pid(const struct lifecycle *lc);

/* One readiness condition, as /readyz?verbose shows it. */
struct lc_condition {
    const char *name;
    int failed;
    char why[200];
};
#define LC_N_CONDITIONS 3

/** Readiness, decided here and only here: fills c (child, ready-checks,
 * shutdown) and returns 1 when every condition passes. */
int lifecycle_conditions(const struct lifecycle *lc, int64_t now_ms,
                         struct lc_condition c[LC_N_CONDITIONS]);
/** Whether a live check has failed --failure-threshold times in a row
 * (counted only once the child has been ready, and never while draining). */
int lifecycle_live_failing(const struct lifecycle *lc);
/** The live check that makes /livez fail, or NULL. */
const struct lc_check *lifecycle_failing_live_check(const struct lifecycle *lc);

/** Whether the checks should run now: the main child runs (its exec
 * done) and podvisor is neither restarting nor done. */
int lifecycle_checks_wanted(const struct lifecycle *lc);

/** How long no connection must be seen on the app's ports, after the stop
 * signal, before --drain-idle ends the drain. */
#define LC_DRAIN_IDLE_SETTLE_MS 500

/** Whether the connections on the app's ports are wanted now (LC_EV_CONNECTIONS):
 * --drain-idle, the stop signal sent, the main child not gone yet. */
int lifecycle_counts_connections(const struct lifecycle *lc);

/** The last count of the connections on the app's ports; -1: none yet. */
int lifecycle_drain_connections(const struct lifecycle *lc);

/** Whether the pod's EndpointSlices are wanted now (LC_EV_ENDPOINTS):
 * --drain-endpoints, the prestop wait after SIGTERM runs, no verdict yet.
 * Watching only then: a watch held for the pod's whole life would cost
 * every pod an update per endpoint change of a big Service. */
int lifecycle_watches_endpoints(const struct lifecycle *lc);

/** The watch's verdict (enum lc_endpoints), -1 while none came. */
int lifecycle_endpoints_verdict(const struct lifecycle *lc);

/** /readyz: every condition passes. */
int lifecycle_ready(const struct lifecycle *lc);
/** /livez: stays true while draining and stopping (docs/kubernetes.md: liveness
 * is not acted on during termination, and a restart then would lose work). */
int lifecycle_live(const struct lifecycle *lc);
/** /startupz: the child has been ready at least once. */
int lifecycle_started(const struct lifecycle *lc);
/** Seconds spent draining so far (or in the last drain), 0 when none. */
double lifecycle_drain_seconds(const struct lifecycle *lc, int64_t now_ms);

#endif
