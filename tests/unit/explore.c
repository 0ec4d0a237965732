/* The explorer: drives the real lifecycle_step through every sequence of
 * events up to a depth, breadth first, for a few configurations, and
 * checks the lifecycle's rules after every step. It prints the shortest
 * sequence that breaks a rule and exits 1.
 *
 * Only what the world could send is offered: a small model beside the
 * lifecycle (which slots were asked to spawn, which processes live,
 * which timers are armed and in what order, what the files hold) is
 * updated from the actions of each step, so a child exits only once it
 * was forked, and a timer fires only when armed and no other one is due
 * first. Content passes or fails --validate by its name (g*: good, b*:
 * bad), so a verdict follows the content, as a real --validate's does.
 *
 * States are deduplicated by a fingerprint: the whole struct lifecycle
 * with its volatile fields (times, counters, free texts) cleared, plus the
 * world; a field added to the lifecycle is part of the state without
 * anyone remembering to add it here. Paths are not stored: a node keeps
 * its parent and its event, and a state is rebuilt by replaying them.
 *
 *   build/tests/explore [DEPTH] [SECONDS]   (make explore, make explore-deep) */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "lifecycle.h"
#include "waitstatus.h"

#define SLOTS LC_MAX_CHILDREN

struct world {
    int spawn_pending[SLOTS]; /* SPAWN asked, FORKED not yet */
    int exec_pending[SLOTS];
    pid_t pid[SLOTS]; /* a live process in the slot; 0: none */
    int stop_sent[SLOTS];
    int killed[SLOTS];
    int64_t timer_at[LC_N_EVENTS][SLOTS]; /* deadline; 0: not armed */
    int await_group;
    int exited, exit_code;
    int main_code, has_main_code; /* the code of the last current-generation exit */
    const char *disk;             /* what the files hold */
    unsigned passed;              /* the contents --validate has passed (content_bit) */
    int64_t now;
    pid_t next_pid;
};

struct node {
    int parent;
    struct lc_event ev;
};

struct explorer {
    const char *name;
    struct podvisor_config cfg;
    struct node *nodes;
    size_t n, cap;
    uint64_t *seen; /* open addressing, 0 = empty */
    size_t seen_cap, seen_n;
    /* the current replay */
    struct lifecycle lc;
    struct world w;
    char violation[400];
    unsigned long steps;
};

static const char *const contents[] = {"g1", "g2", "b1"};
#define N_CONTENTS 3

static int content_passes(const char *hash)
{
    return hash != NULL && hash[0] == 'g';
}

/* A content's bit in world.passed (g0, the start's, always passed). */
static unsigned content_bit(const char *hash)
{
    for (int c = 0; c < N_CONTENTS; c++)
        if (strcmp(hash, contents[c]) == 0)
            return 2u << c;
    return 1u;
}

/* --- fingerprints --------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void clear_text(char *s, size_t n)
{
    memset(s, 0, n);
}

static uint64_t fingerprint(const struct lifecycle *lc, const struct world *w)
{
    static struct lifecycle c;
    c = *lc;
    /* what only reports: times (kept as "has one"), counters, texts */
    for (int i = 0; i < LC_MAX_CHECKS; i++) {
        c.checks[i].runs = c.checks[i].failures = 0;
        c.checks[i].last_ms = c.checks[i].last_duration_ms = 0;
        clear_text(c.checks[i].error, sizeof c.checks[i].error);
    }
    clear_text(c.check_why, sizeof c.check_why);
    memset(&c.notify, 0, sizeof c.notify);
    c.main_started_ms = c.main_started_ms != 0;
    c.restarts = c.rollbacks = c.successions = 0;
    memset(c.restarts_by, 0, sizeof c.restarts_by);
    memset(c.forwarded, 0, sizeof c.forwarded);
    c.drain_started_ms = c.drain_started_ms >= 0;
    c.drain_ended_ms = c.drain_ended_ms >= 0;
    c.drain_connections = c.drain_connections > 0 ? 1 : c.drain_connections;
    c.drain_idle_since_ms = c.drain_idle_since_ms >= 0;
    c.prestop_until_ms = c.prestop_until_ms != 0;
    c.endpoints_at_ms = c.endpoints_at_ms != 0;
    c.last_rollback.at_ms = c.last_rollback.at_ms != 0;
    clear_text(c.last_rollback.why, sizeof c.last_rollback.why);
    c.backoff_until_ms = 0;
    c.config.changed_ms = c.config.changed_ms != 0;
    c.config.changes = c.config.reloads = c.config.refused = c.config.action_failures = 0;
    c.config.last_refused.at_ms = c.config.last_refused.at_ms != 0;
    c.config.last_refused.status = 0;
    clear_text(c.config.last_refused.output, sizeof c.config.last_refused.output);
    c.config.last_action.at_ms = c.config.last_action.at_ms != 0;
    clear_text(c.config.last_action.result, sizeof c.config.last_action.result);
    for (int i = 0; i < SLOTS; i++) {
        c.children[i].started_ms = 0;
        c.children[i].kill_at_ms = c.children[i].kill_at_ms != 0;
        c.children[i].pid = c.children[i].pid != 0;
    }
    c.faults = 0;
    c.now_ms = 0;
    clear_text(c.fault, sizeof c.fault);
    uint64_t h = fnv(1469598103934665603ULL, &c, sizeof c);
    /* the world: which processes and timers, and the timers' order */
    int live[SLOTS];
    for (int i = 0; i < SLOTS; i++)
        live[i] = w->pid[i] != 0;
    h = fnv(h, live, sizeof live);
    h = fnv(h, w->spawn_pending, sizeof w->spawn_pending);
    h = fnv(h, w->exec_pending, sizeof w->exec_pending);
    h = fnv(h, w->stop_sent, sizeof w->stop_sent);
    h = fnv(h, w->killed, sizeof w->killed);
    for (int e = 0; e < LC_N_EVENTS; e++)
        for (enum lc_slot s = LC_GEN_A; s < SLOTS; s++) {
            if (!w->timer_at[e][s])
                continue;
            int rank = 0; /* how many armed timers are due before it */
            for (int e2 = 0; e2 < LC_N_EVENTS; e2++)
                for (enum lc_slot s2 = LC_GEN_A; s2 < SLOTS; s2++)
                    rank += w->timer_at[e2][s2] && w->timer_at[e2][s2] < w->timer_at[e][s];
            int key[3] = {e, s, rank};
            h = fnv(h, key, sizeof key);
        }
    int misc[5] = {w->await_group, w->exited, w->has_main_code, w->main_code, (int)w->passed};
    h = fnv(h, misc, sizeof misc);
    h = fnv(h, w->disk, strlen(w->disk));
    return h ? h : 1;
}

static int seen_insert(struct explorer *x, uint64_t h)
{
    if (x->seen_n * 2 >= x->seen_cap) {
        size_t cap = x->seen_cap ? x->seen_cap * 2 : 1 << 16;
        uint64_t *t = calloc(cap, sizeof *t);
        if (t == NULL) {
            fprintf(stderr, "explore: out of memory\n");
            exit(2);
        }
        for (size_t i = 0; i < x->seen_cap; i++)
            if (x->seen[i])
                for (size_t j = x->seen[i] & (cap - 1);; j = (j + 1) & (cap - 1))
                    if (!t[j]) {
                        t[j] = x->seen[i];
                        break;
                    }
        free(x->seen);
        x->seen = t;
        x->seen_cap = cap;
    }
    for (size_t j = h & (x->seen_cap - 1);; j = (j + 1) & (x->seen_cap - 1)) {
        if (x->seen[j] == h)
            return 0;
        if (!x->seen[j]) {
            x->seen[j] = h;
            x->seen_n++;
            return 1;
        }
    }
}

/* --- the rules ------------------------------------------------------- */

static void violate(struct explorer *x, const char *fmt, ...)
{
    if (x->violation[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->violation, sizeof x->violation, fmt, ap);
    va_end(ap);
}

static int slot_timer(enum lc_event_type t)
{
    /* timers about one child; the others are podvisor's as a whole */
    return t == LC_EV_STOP_TIMEOUT || t == LC_EV_PRESTOP_ELAPSED || t == LC_EV_VALIDATE_TIMEOUT ||
           t == LC_EV_ACTION_TIMEOUT;
}

/* Whether the other generation could still serve: alive and not told
 * to stop (one on its way out is no reason to keep anything). */
static int other_generation_alive(const struct world *w, int slot)
{
    int o = slot == LC_GEN_A ? LC_GEN_B : LC_GEN_A;
    return w->pid[o] != 0 && !w->stop_sent[o] && !w->killed[o];
}

/* Applies the actions of one step to the world, checking the rules that
 * are about actions. */
static void world_apply(struct explorer *x, const struct lc_result *r)
{
    struct lifecycle *lc = &x->lc;
    struct world *w = &x->w;
    if (r->dropped)
        violate(x, "more actions than fit in one step");
    for (int i = 0; i < r->nactions; i++) {
        const struct lc_action *a = &r->actions[i];
        enum lc_slot s = a->child;
        switch (a->type) {
        case LC_ACT_SPAWN:
            if ((int)s < 0 || s >= SLOTS || w->pid[s] || w->spawn_pending[s]) {
                violate(x, "spawn into slot %d, which holds a child", s);
                break;
            }
            if (lifecycle_is_generation(s)) {
                /* what it reads must have passed, unless nothing else
                 * could serve and the verdict (a refusal) is in */
                if (x->cfg.validate.argv != NULL && !(w->passed & content_bit(w->disk))) {
                    if (other_generation_alive(w, s))
                        violate(x,
                                "a generation starts on content --validate %s (%s) while the "
                                "serving one could be kept",
                                content_passes(w->disk) ? "has not passed yet" : "refused",
                                w->disk);
                    else if (lc->children[LC_VALIDATE].in_use)
                        violate(x, "a generation starts on content --validate has not judged (%s)",
                                w->disk);
                }
            }
            w->spawn_pending[s] = 1;
            break;
        case LC_ACT_FORWARD:
        case LC_ACT_STOP_CHILD:
        case LC_ACT_KILL_GROUP:
            if ((int)s < 0 || s >= SLOTS || w->pid[s] == 0 || a->pid != w->pid[s]) {
                violate(x, "action %d names slot %d (pid %d), which has no such child", a->type, s,
                        (int)a->pid);
                break;
            }
            if (a->type == LC_ACT_STOP_CHILD)
                w->stop_sent[s] = 1;
            if (a->type == LC_ACT_KILL_GROUP)
                w->killed[s] = 1;
            break;
        case LC_ACT_ARM_TIMER:
            if ((int)s < 0 || s >= SLOTS) {
                violate(x, "a timer for slot %d", s);
                break;
            }
            if (slot_timer(a->timer) && w->pid[s] == 0 && !w->spawn_pending[s])
                violate(x, "timer %d armed for slot %d, which is empty", a->timer, s);
            if (a->timer == LC_EV_STOP_TIMEOUT && w->timer_at[a->timer][s] &&
                w->timer_at[a->timer][s] > w->now + a->ms)
                violate(x, "slot %d's SIGKILL deadline shortened", s);
            w->timer_at[a->timer][s] = w->now + (a->ms > 0 ? a->ms : 1);
            break;
        case LC_ACT_CANCEL_TIMER:
            if ((int)s >= 0 && s < SLOTS)
                w->timer_at[a->timer][s] = 0;
            break;
        case LC_ACT_AWAIT_GROUP:
            w->await_group = 1;
            break;
        case LC_ACT_SIGNAL_REMAINING:
            if (a->sig == SIGKILL)
                for (enum lc_slot g = LC_GEN_A; g < SLOTS; g++)
                    if (lifecycle_is_generation(g) && w->pid[g] &&
                        w->timer_at[LC_EV_STOP_TIMEOUT][g] > w->now)
                        violate(x,
                                "slot %d is SIGKILLed by the clean-up before its own stop "
                                "timeout",
                                g);
            for (enum lc_slot g = LC_GEN_A; g < SLOTS; g++)
                if (w->pid[g]) {
                    w->killed[g] |= a->sig == SIGKILL;
                    w->stop_sent[g] = 1;
                }
            break;
        case LC_ACT_EXIT:
            for (enum lc_slot g = LC_GEN_A; g < SLOTS; g++)
                if (w->pid[g] && a->why == NULL)
                    violate(x, "podvisor exits while slot %d's child runs", g);
            if (w->exited)
                violate(x, "a second exit");
            w->exited = 1;
            w->exit_code = a->code;
            if (w->has_main_code && a->code != w->main_code && !x->cfg.sidecar)
                violate(x, "podvisor exits %d, the current generation exited %d", a->code,
                        w->main_code);
            break;
        default:
            break;
        }
    }
}

/* The rules about the state reached. */
static void check_state(struct explorer *x)
{
    const struct lifecycle *lc = &x->lc;
    const struct world *w = &x->w;
    if (lc->faults)
        violate(x, "lifecycle fault: %s", lc->fault);
    int gens = 0;
    for (enum lc_slot s = LC_GEN_A; s < SLOTS; s++) {
        if (lifecycle_is_generation(s) && (w->pid[s] || w->spawn_pending[s]))
            gens++;
        if (w->pid[s] && !lc->children[s].in_use)
            violate(x, "slot %d's child runs, the lifecycle forgot it", s);
        if (!w->pid[s] && !w->spawn_pending[s] && lc->children[s].in_use)
            violate(x, "the lifecycle holds slot %d, which has no child", s);
    }
    if (gens > 2)
        violate(x, "more than two generations");
    /* Every process running while podvisor stops has had its stop signal
     * (or SIGKILL), and its own deadline. */
    if (lc->state == LC_STOPPING || lc->state == LC_EXITED)
        for (enum lc_slot s = LC_GEN_A; s < SLOTS; s++)
            if (lifecycle_is_generation(s) && w->pid[s] && !w->exec_pending[s] &&
                !w->stop_sent[s] && !w->killed[s] &&
                !(lc->state == LC_STOPPING && x->cfg.stop_signal <= 0))
                violate(x, "podvisor stops, slot %d's child never got its stop signal", s);
    if (lc->state == LC_STOPPING)
        for (enum lc_slot s = LC_GEN_A; s < SLOTS; s++)
            if (lifecycle_is_generation(s) && w->pid[s] && !w->killed[s] &&
                !w->timer_at[LC_EV_STOP_TIMEOUT][s])
                violate(x, "podvisor stops, slot %d's child has no SIGKILL deadline", s);
    /* Quiescent: nothing armed, nothing pending, only the main child (or
     * none) runs. With the checks passing, such a state must serve, or be
     * on purpose unready (drained, stopping), or have exited. */
    int quiet = !w->await_group;
    for (int e = 0; e < LC_N_EVENTS && quiet; e++)
        for (enum lc_slot s = LC_GEN_A; s < SLOTS; s++)
            if (w->timer_at[e][s])
                quiet = 0;
    for (enum lc_slot s = LC_GEN_A; s < SLOTS && quiet; s++)
        if (w->spawn_pending[s] || w->exec_pending[s] || (w->pid[s] && s != lc->current) ||
            (w->pid[s] && w->killed[s]))
            quiet = 0;
    if (!quiet || w->exited)
        return;
    if (lc->state == LC_EXITED) {
        if (lc->cleanup != LC_CLEANUP_REAPING || w->pid[lc->current])
            violate(x, "exited, nothing pending, and podvisor never exits");
        return;
    }
    static struct lifecycle probe;
    probe = *lc;
    struct lc_result r;
    for (int i = 0; i < probe.n_checks; i++) {
        struct lc_event ok = {
            .type = LC_EV_CHECK_RESULT, .check = (enum lc_check_id)i, .code = 1, .now_ms = w->now};
        lifecycle_step(&probe, &ok, &r);
    }
    if (lc->admin_drained || lc->state == LC_DRAINING || lc->state == LC_STOPPING)
        return;
    if (!w->pid[lc->current] && !x->cfg.sidecar)
        violate(x, "no child, nothing pending, and podvisor neither restarts nor exits (%s)",
                lifecycle_state_detail(lc->state));
    else if (!lifecycle_ready(&probe))
        violate(x, "the app is healthy and nothing is pending, yet /readyz stays 503 (%s)",
                lifecycle_state_detail(probe.state));
}

/* --- replay and expansion ------------------------------------------ */

static void reset(struct explorer *x)
{
    lifecycle_init(&x->lc, &x->cfg);
    memset(&x->w, 0, sizeof x->w);
    x->w.disk = "g0";
    x->w.passed = 1;
    x->w.now = 1000;
    x->w.next_pid = 100;
}

static int is_timer(enum lc_event_type t)
{
    switch (t) {
    case LC_EV_PRESTOP_ELAPSED:
    case LC_EV_STOP_TIMEOUT:
    case LC_EV_CLEANUP_TERM_ELAPSED:
    case LC_EV_CLEANUP_DEADLINE:
    case LC_EV_VALIDATE_TIMEOUT:
    case LC_EV_ACTION_TIMEOUT:
    case LC_EV_BACKOFF_ELAPSED:
    case LC_EV_OLD_GROUP_DEADLINE:
    case LC_EV_READY_TIMEOUT:
        return 1;
    default:
        return 0;
    }
}

/* Feeds one event to the lifecycle and the world. */
static void apply(struct explorer *x, const struct lc_event *in)
{
    struct world *w = &x->w;
    struct lc_event ev = *in;
    struct lc_result r;
    enum lc_slot s = ev.child;
    enum lc_slot current_before = x->lc.current;
    if (ev.type == LC_EV_FORKED) {
        w->spawn_pending[s] = 0;
        w->exec_pending[s] = 1;
        w->pid[s] = ev.pid;
        w->stop_sent[s] = w->killed[s] = 0;
    } else if (ev.type == LC_EV_SPAWN_FAILED || ev.type == LC_EV_NO_MEMORY) {
        w->spawn_pending[s] = 0;
    } else if (ev.type == LC_EV_EXEC_OK || ev.type == LC_EV_EXEC_FAILED) {
        w->exec_pending[s] = 0;
    } else if (ev.type == LC_EV_CHILD_EXITED) {
        if (s == LC_VALIDATE && ev.status == 0 && ev.hash &&
            strcmp(ev.hash, x->lc.config.validating) == 0)
            w->passed |= content_bit(ev.hash);
        w->pid[s] = 0;
        w->exec_pending[s] = 0;
    } else if (ev.type == LC_EV_CONFIG_CHANGED) {
        w->disk = ev.text;
    } else if (ev.type == LC_EV_OLD_GROUP_GONE) {
        w->await_group = 0;
    }
    if (is_timer(ev.type) && w->timer_at[ev.type][s]) {
        if (w->timer_at[ev.type][s] > w->now)
            w->now = w->timer_at[ev.type][s];
        w->timer_at[ev.type][s] = 0;
    } else if (ev.type == LC_EV_CONNECTIONS) {
        /* counts come every 100 ms; one a settle later, unless a timer is
         * due before (it would have fired first), so the settle can end */
        int64_t first = 0;
        for (int e = 0; e < LC_N_EVENTS; e++)
            for (enum lc_slot k = LC_GEN_A; k < SLOTS; k++)
                if (w->timer_at[e][k] && (!first || w->timer_at[e][k] < first))
                    first = w->timer_at[e][k];
        int64_t later = w->now + LC_DRAIN_IDLE_SETTLE_MS;
        w->now = first && first <= later ? w->now + 1 : later;
    } else {
        w->now += 1;
    }
    if (ev.type == LC_EV_OLD_GROUP_DEADLINE)
        w->await_group = 0;
    ev.now_ms = w->now;
    int exec_error = (int)s >= 0 && s < SLOTS ? x->lc.children[s].exec_error_code : 0;
    lifecycle_step(&x->lc, &ev, &r);
    x->steps++;
    if (ev.type == LC_EV_MAINPID && x->lc.children[s].pid == ev.pid)
        w->pid[s] = ev.pid; /* taken: the successor is the one watched */
    if (ev.type == LC_EV_CHILD_EXITED && lifecycle_is_generation(s) && s == current_before &&
        x->lc.state == LC_EXITED) {
        w->has_main_code = 1;
        w->main_code = exec_error ? exec_error : waitstatus_code(ev.status);
        if (x->lc.exit_code != w->main_code)
            violate(x, "the current generation exited %d; podvisor will exit %d", w->main_code,
                    x->lc.exit_code);
    }
    world_apply(x, &r);
}

static void replay(struct explorer *x, int node)
{
    int path[256], n = 0;
    for (int i = node; i > 0 && n < 256; i = x->nodes[i].parent)
        path[n++] = i;
    reset(x);
    struct lc_event start = {.type = LC_EV_START, .text = "g0"};
    apply(x, &start);
    while (n > 0)
        apply(x, &x->nodes[path[--n]].ev);
}

#define MAX_NEXT 64
static int candidates(struct explorer *x, struct lc_event *out)
{
    const struct lifecycle *lc = &x->lc;
    const struct world *w = &x->w;
    int n = 0;
    if (w->exited)
        return 0;
    /* The supervisor forks while it carries out SPAWN: the spawn's outcome
     * is the next event, before anything else can be read. */
    for (enum lc_slot s = LC_GEN_A; s < SLOTS; s++)
        if (w->spawn_pending[s]) {
            out[n++] = (struct lc_event){.type = LC_EV_FORKED, .child = s, .pid = 100 + s};
            out[n++] = (struct lc_event){.type = LC_EV_SPAWN_FAILED, .child = s};
            if (lifecycle_is_generation(s) && s != lc->current)
                out[n++] = (struct lc_event){.type = LC_EV_NO_MEMORY, .child = s};
            return n;
        }
    for (enum lc_slot s = LC_GEN_A; s < SLOTS; s++) {
        if (0) {
            out[n++] = (struct lc_event){.type = LC_EV_FORKED, .child = s, .pid = 100 + s};
            out[n++] = (struct lc_event){.type = LC_EV_SPAWN_FAILED, .child = s};
            if (lifecycle_is_generation(s) && s != lc->current)
                out[n++] = (struct lc_event){.type = LC_EV_NO_MEMORY, .child = s};
        }
        if (w->exec_pending[s]) {
            out[n++] = (struct lc_event){.type = LC_EV_EXEC_OK, .child = s};
            out[n++] = (struct lc_event){.type = LC_EV_EXEC_FAILED, .child = s, .code = 127};
        }
        if (w->pid[s] && !w->exec_pending[s]) {
            if (s == LC_VALIDATE) {
                int pass = content_passes(lc->config.validating) && !lc->children[s].timed_out;
                out[n++] = (struct lc_event){.type = LC_EV_CHILD_EXITED,
                                             .child = s,
                                             .status = pass ? 0 : 1 << 8,
                                             .hash = w->disk};
            } else if (s == LC_ACTION) {
                out[n++] = (struct lc_event){.type = LC_EV_CHILD_EXITED, .child = s, .status = 0};
            } else {
                out[n++] = (struct lc_event){.type = LC_EV_CHILD_EXITED, .child = s, .status = 0};
                out[n++] =
                    (struct lc_event){.type = LC_EV_CHILD_EXITED, .child = s, .status = 1 << 8};
                if (w->killed[s] || w->stop_sent[s])
                    out[n++] = (struct lc_event){
                        .type = LC_EV_CHILD_EXITED, .child = s, .status = SIGKILL};
                /* the app hands over to a process of its tree (sd_notify
                 * MAINPID=, a pid file): once per slot, to keep it finite */
                if (s == lc->current && w->pid[s] < 200)
                    out[n++] = (struct lc_event){.type = LC_EV_MAINPID, .child = s, .pid = 200 + s};
                if (s != lc->current && lifecycle_slot_role(lc, s) == LC_ROLE_NEXT)
                    out[n++] = (struct lc_event){.type = LC_EV_NEXT_READY, .child = s};
            }
        }
    }
    /* the timers due first */
    int64_t first = 0;
    for (int e = 0; e < LC_N_EVENTS; e++)
        for (enum lc_slot s = LC_GEN_A; s < SLOTS; s++)
            if (w->timer_at[e][s] && (!first || w->timer_at[e][s] < first))
                first = w->timer_at[e][s];
    for (int e = 0; e < LC_N_EVENTS && first; e++)
        for (enum lc_slot s = LC_GEN_A; s < SLOTS; s++)
            if (w->timer_at[e][s] == first)
                out[n++] = (struct lc_event){.type = (enum lc_event_type)e, .child = s};
    if (w->await_group)
        out[n++] = (struct lc_event){.type = LC_EV_OLD_GROUP_GONE, .child = lc->current};
    out[n++] = (struct lc_event){.type = LC_EV_SIGNAL, .sig = SIGTERM};
    for (int c = 0; c < N_CONTENTS; c++)
        if (strcmp(contents[c], w->disk) != 0)
            out[n++] = (struct lc_event){.type = LC_EV_CONFIG_CHANGED, .text = contents[c]};
    if (lifecycle_admin_refusal(lc, LC_ADMIN_RESTART) == NULL)
        out[n++] = (struct lc_event){.type = LC_EV_RESTART, .code = LC_REASON_ADMIN};
    if (lifecycle_admin_refusal(lc, LC_ADMIN_RELOAD) == NULL)
        out[n++] = (struct lc_event){.type = LC_EV_RELOAD};
    if (lifecycle_admin_refusal(lc, LC_ADMIN_DRAIN) == NULL && !lc->admin_drained)
        out[n++] = (struct lc_event){.type = LC_EV_DRAIN};
    out[n++] = (struct lc_event){.type = LC_EV_SIGNAL, .sig = SIGHUP};
    if (lifecycle_watches_endpoints(lc)) {
        out[n++] = (struct lc_event){.type = LC_EV_ENDPOINTS, .code = LC_ENDPOINTS_UNKNOWN};
        out[n++] = (struct lc_event){.type = LC_EV_ENDPOINTS, .code = LC_ENDPOINTS_NOT_READY};
        out[n++] = (struct lc_event){.type = LC_EV_ENDPOINTS, .code = LC_ENDPOINTS_NOT_DELETING};
    }
    if (lifecycle_counts_connections(lc)) {
        out[n++] = (struct lc_event){.type = LC_EV_CONNECTIONS, .code = 0};
        out[n++] = (struct lc_event){.type = LC_EV_CONNECTIONS, .code = 1};
    }
    if (lc->n_checks > 0 && lifecycle_checks_wanted(lc)) {
        out[n++] = (struct lc_event){.type = LC_EV_CHECK_RESULT, .check = 0, .code = 1};
        out[n++] = (struct lc_event){.type = LC_EV_CHECK_RESULT, .check = 0, .code = 0};
    }
    if (lc->state == LC_EXITED && lc->cleanup != LC_CLEANUP_DONE) {
        int left = 0;
        for (enum lc_slot s = LC_GEN_A; s < SLOTS; s++)
            left |= w->pid[s] != 0;
        out[n++] = (struct lc_event){.type = LC_EV_REAPED, .left = left};
    }
    if (n > MAX_NEXT) {
        fprintf(stderr, "explore: more than %d candidate events\n", MAX_NEXT);
        exit(2);
    }
    return n;
}

static void describe(const struct lc_event *ev, char *buf, size_t len)
{
    static const char *const slots[SLOTS] = {"gen-a", "validate", "action", "gen-b"};
    const char *slot = ev->child >= 0 && ev->child < SLOTS ? slots[ev->child] : "?";
    switch (ev->type) {
    case LC_EV_SIGNAL:
        snprintf(buf, len, "SIGNAL(%d)", ev->sig);
        break;
    case LC_EV_CHILD_EXITED:
        snprintf(buf, len, "CHILD_EXITED[%s](status %d)", slot, ev->status);
        break;
    case LC_EV_CONFIG_CHANGED:
        snprintf(buf, len, "CONFIG_CHANGED(%s)", ev->text);
        break;
    case LC_EV_CHECK_RESULT:
        snprintf(buf, len, "CHECK_RESULT(%s)", ev->code ? "pass" : "fail");
        break;
    case LC_EV_REAPED:
        snprintf(buf, len, "REAPED(left %d)", ev->left);
        break;
    case LC_EV_MAINPID:
        snprintf(buf, len, "MAINPID[%s](%d)", slot, (int)ev->pid);
        break;
    case LC_EV_RESTART:
    case LC_EV_RELOAD:
    case LC_EV_DRAIN:
    case LC_EV_START:
        snprintf(buf, len, "%s", lifecycle_event_name(ev->type));
        break;
    default:
        snprintf(buf, len, "%s[%s]", lifecycle_event_name(ev->type), slot);
        break;
    }
}

static void print_path(struct explorer *x, int node, const struct lc_event *last)
{
    int path[256], n = 0;
    for (int i = node; i > 0 && n < 256; i = x->nodes[i].parent)
        path[n++] = i;
    fprintf(stderr, "  START(g0)\n");
    char buf[96];
    while (n > 0) {
        describe(&x->nodes[path[--n]].ev, buf, sizeof buf);
        fprintf(stderr, "  %s\n", buf);
    }
    if (last) {
        describe(last, buf, sizeof buf);
        fprintf(stderr, "  %s   <- here\n", buf);
    }
}

static int add_node(struct explorer *x, int parent, const struct lc_event *ev)
{
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 4096;
        x->nodes = realloc(x->nodes, x->cap * sizeof *x->nodes);
        if (x->nodes == NULL) {
            fprintf(stderr, "explore: out of memory\n");
            exit(2);
        }
    }
    x->nodes[x->n] = (struct node){.parent = parent, .ev = *ev};
    return (int)x->n++;
}

/* Breadth first to `depth` events after START; 0: no rule broken. */
static int explore(struct explorer *x, int depth, double seconds, int *reached)
{
    clock_t t0 = clock();
    x->n = 0;
    struct lc_event root = {.type = LC_EV_START};
    add_node(x, -1, &root);
    replay(x, 0);
    check_state(x);
    if (x->violation[0]) {
        fprintf(stderr, "explore %s: %s\n", x->name, x->violation);
        return 1;
    }
    seen_insert(x, fingerprint(&x->lc, &x->w));
    size_t level_start = 0, level_end = 1;
    for (int d = 0; d < depth; d++) {
        for (size_t i = level_start; i < level_end; i++) {
            struct lc_event next[MAX_NEXT];
            replay(x, (int)i);
            int n = candidates(x, next);
            for (int k = 0; k < n; k++) {
                replay(x, (int)i);
                apply(x, &next[k]);
                check_state(x);
                if (x->violation[0]) {
                    fprintf(stderr, "explore %s: rule broken at depth %d: %s\n", x->name, d + 1,
                            x->violation);
                    print_path(x, (int)i, &next[k]);
                    return 1;
                }
                if (seen_insert(x, fingerprint(&x->lc, &x->w)))
                    add_node(x, (int)i, &next[k]);
            }
            if ((double)(clock() - t0) / CLOCKS_PER_SEC > seconds) {
                *reached = d;
                return 0;
            }
        }
        level_start = level_end;
        level_end = x->n;
        *reached = d + 1;
        if (level_start == level_end)
            break; /* nothing new at this depth: the whole space is seen */
    }
    return 0;
}

static char *validate_argv[] = {"validate", NULL};
static char *exec_argv[] = {"reload", NULL};
static char *ready_tcp[] = {"tcp://127.0.0.1:8080"};
static char *ready_notify[] = {"notify"};
static char *socket_spec[] = {"tcp://:8080"};

static void base(struct podvisor_config *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < OPTIONS_NSIG; i++)
        c->rewrite[i] = -1;
    c->prestop_delay_ms = 1000;
    c->stop_timeout_ms = 5000;
    c->grace_ms = 30000;
    c->stop_signal = SIGTERM;
    c->restart_policy = RESTART_ON_FAILURE;
    c->backoff_initial_ms = 1000;
    c->backoff_max_ms = 30000;
    c->on_change.kind = ON_CHANGE_RESTART;
    c->ready_timeout_ms = 60000;
    c->failure_threshold = 3;
}

int main(int argc, char **argv)
{
    int depth = argc > 1 ? atoi(argv[1]) : 7;
    double seconds = argc > 2 ? atof(argv[2]) : 60;
    static struct explorer xs[5];
    base(&xs[0].cfg);
    xs[0].name = "stop-first, --validate, a ready check, on-failure";
    xs[0].cfg.validate.argv = validate_argv;
    xs[0].cfg.ready_check = (struct strlist){ready_tcp, 1};
    base(&xs[1].cfg);
    xs[1].name = "stop-first, --socket, --validate, --drain-endpoints";
    xs[1].cfg.validate.argv = validate_argv;
    xs[1].cfg.drain_endpoints = 1;
    xs[1].cfg.drain_settle_ms = 200;
    xs[1].cfg.drain_min_ms = 500;
    xs[1].cfg.socket = (struct strlist){socket_spec, 1};
    base(&xs[2].cfg);
    xs[2].name = "start-first, --socket, --validate, notify";
    xs[2].cfg.validate.argv = validate_argv;
    xs[2].cfg.socket = (struct strlist){socket_spec, 1};
    xs[2].cfg.ready_check = (struct strlist){ready_notify, 1};
    xs[2].cfg.restart_mode = RESTART_MODE_START_FIRST;
    base(&xs[3].cfg);
    xs[3].name = "sidecar, --on-change exec:";
    xs[3].cfg.sidecar = 1;
    xs[3].cfg.on_change.kind = ON_CHANGE_EXEC;
    xs[3].cfg.on_change.argv = exec_argv;
    base(&xs[4].cfg);
    xs[4].name = "stop-first, no prestop delay, exec:, --validate, --drain-idle";
    xs[4].cfg.prestop_delay_ms = 0;
    xs[4].cfg.drain_idle = 1;
    xs[4].cfg.validate.argv = validate_argv;
    xs[4].cfg.on_change.kind = ON_CHANGE_EXEC;
    xs[4].cfg.on_change.argv = exec_argv;
    int failed = 0;
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        struct explorer *x = &xs[i];
        clock_t t0 = clock();
        int reached = 0;
        int rc = explore(x, depth, seconds / 5, &reached);
        failed |= rc;
        printf("explore: %-58s depth %d%s, %zu states, %lu steps, %.1fs%s\n", x->name, reached,
               reached < depth ? " (time bound)" : "", x->seen_n, x->steps,
               (double)(clock() - t0) / CLOCKS_PER_SEC, rc ? ", RULE BROKEN" : "");
        free(x->nodes);
        free(x->seen);
    }
    return failed;
}
