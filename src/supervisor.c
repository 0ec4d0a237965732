/* supervisor: see supervisor.h. */
#include "supervisor.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "http.h"
#include "lifecycle.h"
#include "log.h"
#include "loop.h"
#include "signals.h"

/* Signals read per wake-up: a storm of queued real-time signals must not
 * keep probes and timers waiting (the rest are read on the next turns). */
#define SIGNAL_BATCH 64

/* Events fed while an earlier one's actions are being carried out wait
 * here, so that each event's actions run in order and to the end. */
#define EVENT_QUEUE 16

struct supervisor;

/* A lifecycle timer: named by the event it feeds (see lifecycle.h). */
struct sv_timer {
    struct loop_timer timer;
    struct supervisor *sv;
    enum lc_event_type event;
    int child;
};

/* The I/O side of one child slot: its exec-result pipe while it execs. */
struct sv_child {
    int exec_fd;
    struct loop_watch exec_watch;
    struct supervisor *sv;
    int slot;
};

struct supervisor {
    const struct podvisor_config *cfg;
    struct loop loop;
    struct loop_watch signal_watch;
    int signal_fd;
    struct sv_timer timers[LC_N_EVENTS];
    struct sv_child children[LC_MAX_CHILDREN];
    struct lifecycle lc;
    struct http_server *http; /* NULL with --probe-listen off */
    pid_t parent_at_start;
    int parent_died;          /* before --pdeathsig was armed */
    struct lc_event queue[EVENT_QUEUE];
    int queued, feeding;
    pid_t self;
};

static void apply(struct supervisor *sv, const struct lc_result *res);

static void feed(struct supervisor *sv, struct lc_event ev)
{
    ev.now_ms = loop_now_ms();
    assert(sv->queued < EVENT_QUEUE);
    if (sv->queued >= EVENT_QUEUE) {
        log_error("internal error: event queue full, event %d lost", (int)ev.type);
        return;
    }
    sv->queue[sv->queued++] = ev;
    if (sv->feeding)
        return; /* the outer feed takes it next */
    sv->feeding = 1;
    for (int i = 0; i < sv->queued; i++) {
        struct lc_result res;
        lifecycle_step(&sv->lc, &sv->queue[i], &res);
        apply(sv, &res);
    }
    sv->queued = 0;
    sv->feeding = 0;
}

static void on_timer(void *ctx)
{
    struct sv_timer *t = ctx;
    feed(t->sv, (struct lc_event){.type = t->event, .child = t->child});
}

static void close_exec_pipe(struct sv_child *c)
{
    if (c->exec_fd < 0)
        return;
    loop_del(&c->sv->loop, &c->exec_watch);
    close(c->exec_fd);
    c->exec_fd = -1;
}

/* Turns the exec result of a child slot into its event. Returns 0 while
 * the result is still pending. */
static int take_exec_result(struct sv_child *c)
{
    struct supervisor *sv = c->sv;
    int err;
    enum child_exec_result r = child_exec_result(c->exec_fd, &err);
    if (r == CHILD_EXEC_PENDING)
        return 0;
    close_exec_pipe(c);
    const char *cmd = sv->cfg->command[0];
    pid_t pid = sv->lc.children[c->slot].pid;
    switch (r) {
    case CHILD_EXEC_OK:
        log_info("started child %d: %s", (int)pid, cmd);
        feed(sv, (struct lc_event){.type = LC_EV_EXEC_OK, .child = c->slot});
        break;
    case CHILD_EXEC_FAILED: {
        int code = child_exec_error_code(err);
        /* The command shown is cut, never the reason after it. */
        log_error("cannot run \"%.*s%s\": %s%s", LOG_CUT(cmd, 256), strerror(err),
                  code == 127 && *cmd && !strchr(cmd, '/') ? " (searched PATH)" : "");
        feed(sv, (struct lc_event){.type = LC_EV_EXEC_FAILED, .child = c->slot, .code = code});
        break;
    }
    default:
        log_errno(LOG_ERROR, err, "child %d: reading its exec result", (int)pid);
        feed(sv, (struct lc_event){.type = LC_EV_EXEC_FAILED, .child = c->slot, .code = 1});
        break;
    }
    return 1;
}

static void on_exec_pipe(void *ctx, uint32_t events)
{
    take_exec_result(ctx);
}

static void spawn(struct supervisor *sv, int slot)
{
    struct sv_child *c = &sv->children[slot];
    pid_t pid;
    int fd;
    int rc = child_spawn(sv->cfg->command, &pid, &fd);
    if (rc < 0) {
        log_errno(LOG_ERROR, -rc, "starting \"%s\"", sv->cfg->command[0]);
        feed(sv, (struct lc_event){.type = LC_EV_SPAWN_FAILED, .child = slot});
        return;
    }
    c->exec_fd = fd;
    feed(sv, (struct lc_event){.type = LC_EV_FORKED, .child = slot, .pid = pid});
    rc = loop_add(&sv->loop, &c->exec_watch, fd, EPOLLIN, on_exec_pipe, c);
    if (rc < 0) {
        /* Without the watch the result is read when the child is reaped. */
        log_errno(LOG_WARN, -rc, "watching the exec of child %d", (int)pid);
    }
}

static void on_status(void *ctx, pid_t pid, int status)
{
    struct supervisor *sv = ctx;
    char name[16], how[64];
    int slot = lifecycle_child_by_pid(&sv->lc, pid);
    if (slot < 0) {
        if (sv->cfg->warn_on_reap && (WIFEXITED(status) || WIFSIGNALED(status)))
            log_warn("reaped zombie %d (%s)", (int)pid,
                     child_exit_describe(status, how, sizeof how));
        return;
    }
    if (WIFSTOPPED(status)) {
        log_warn("child %d stopped by SIG%s; it resumes on SIGCONT", (int)pid,
                 signal_name(WSTOPSIG(status), name, sizeof name));
        feed(sv, (struct lc_event){.type = LC_EV_CHILD_STOPPED, .child = slot,
                                   .sig = WSTOPSIG(status)});
        return;
    }
    if (WIFCONTINUED(status)) {
        log_info("child %d continued", (int)pid);
        feed(sv, (struct lc_event){.type = LC_EV_CHILD_CONTINUED, .child = slot});
        return;
    }
    /* Its exec result comes first, so that the exit of a child whose exec
     * failed is never taken for the app's own: a dead child's pipe has
     * its errno or EOF already. */
    struct sv_child *c = &sv->children[slot];
    if (c->exec_fd >= 0 && !take_exec_result(c)) {
        close_exec_pipe(c);
        feed(sv, (struct lc_event){.type = LC_EV_EXEC_FAILED, .child = slot, .code = 1});
    }
    if (sv->lc.children[slot].exec_error_code == 0)
        log_info("child %d %s", (int)pid, child_exit_describe(status, how, sizeof how));
    feed(sv, (struct lc_event){.type = LC_EV_CHILD_EXITED, .child = slot, .status = status});
}

static void reap(struct supervisor *sv)
{
    int rc = child_reap(on_status, sv);
    if (rc < 0) {
        log_errno(LOG_ERROR, -rc, "waitpid");
        return;
    }
    feed(sv, (struct lc_event){.type = LC_EV_REAPED, .left = rc});
}

static void on_signal_fd(void *ctx, uint32_t events)
{
    struct supervisor *sv = ctx;
    for (int i = 0; i < SIGNAL_BATCH; i++) {
        struct signals_info si;
        int rc = signals_read(sv->signal_fd, &si);
        if (rc == 0)
            return;
        if (rc < 0) {
            log_errno(LOG_ERROR, -rc, "reading signals");
            return;
        }
        if (si.sig == SIGCHLD) {
            reap(sv);
            continue;
        }
        char name[16];
        signal_name(si.sig, name, sizeof name);
        if (!signals_forwardable(&si, sv->self)) {
            log_debug("not forwarding SIG%s from pid %d (code %d)", name, (int)si.sender,
                      si.code);
            continue;
        }
        log_debug("received SIG%s from pid %d", name, (int)si.sender);
        feed(sv, (struct lc_event){.type = LC_EV_SIGNAL, .sig = si.sig});
    }
}

static int carry_out(struct supervisor *sv, const struct lc_action *a)
{
    char name[16];
    struct sv_timer *t;
    switch (a->type) {
    case LC_ACT_SPAWN:
        spawn(sv, a->child);
        return 0;
    case LC_ACT_FORWARD:
        log_debug("forwarding SIG%s to child %d", signal_name(a->sig, name, sizeof name),
                  (int)a->pid);
        return child_signal(a->pid, a->sig, sv->cfg->process_group);
    case LC_ACT_STOP_CHILD:
        log_info("sending stop signal SIG%s to child %d", signal_name(a->sig, name, sizeof name),
                 (int)a->pid);
        return child_signal(a->pid, a->sig, sv->cfg->process_group);
    case LC_ACT_KILL_GROUP:
        if (sv->lc.state == LC_STOPPING)
            log_warn("child %d still running after --stop-timeout %lldms: SIGKILL to its "
                     "process group",
                     (int)a->pid, (long long)sv->cfg->stop_timeout_ms);
        return child_signal(a->pid, SIGKILL, 1);
    case LC_ACT_SIGNAL_REMAINING:
        if (a->why)
            log_at(a->sig == SIGKILL ? LOG_WARN : LOG_INFO, 0, "%s", a->why);
        child_signal_all_remaining(a->sig);
        return 0;
    case LC_ACT_ARM_TIMER:
        t = &sv->timers[a->timer];
        t->child = a->child;
        return loop_timer_arm(&sv->loop, &t->timer, a->ms);
    case LC_ACT_CANCEL_TIMER:
        return loop_timer_disarm(&sv->loop, &sv->timers[a->timer].timer);
    case LC_ACT_EXIT:
        if (a->why)
            log_warn("%s", a->why);
        loop_stop(&sv->loop);
        return 0;
    }
    return 0;
}

static void apply(struct supervisor *sv, const struct lc_result *res)
{
    for (int i = 0; i < res->ntransitions; i++) {
        const struct lc_transition *tr = &res->transitions[i];
        /* A child that never ran has had its error line already. */
        enum log_level level =
            tr->from == LC_STARTING && tr->to == LC_EXITED ? LOG_DEBUG : LOG_INFO;
        log_at(level, 0, "%s -> %s (%s)", lifecycle_state_name(tr->from),
               lifecycle_state_name(tr->to), tr->why);
    }
    for (int i = 0; i < res->nactions; i++) {
        int rc = carry_out(sv, &res->actions[i]);
        /* ESRCH: the child died between its exit and our reaping it; its
         * exit event is already on its way. */
        if (rc < 0 && rc != -ESRCH)
            log_errno(LOG_ERROR, -rc, "carrying out a lifecycle action");
    }
}

/* Returns 0, -1 when podvisor itself failed (exit 1), or -2 for a
 * configuration the machine cannot honour, such as a probe address that
 * cannot be bound (exit 2: a usage error, and no child started). */
static int setup(struct supervisor *sv)
{
    int rc = loop_init(&sv->loop);
    if (rc < 0) {
        log_errno(LOG_ERROR, -rc, "setting up the event loop");
        return -1;
    }
    sv->signal_fd = signals_open();
    if (sv->signal_fd < 0) {
        log_errno(LOG_ERROR, -sv->signal_fd, "setting up the signalfd");
        return -1;
    }
    rc = loop_add(&sv->loop, &sv->signal_watch, sv->signal_fd, EPOLLIN, on_signal_fd, sv);
    if (rc < 0) {
        log_errno(LOG_ERROR, -rc, "setting up the event loop");
        return -1;
    }
    /* Orphans are re-parented to the nearest subreaper: without this, a
     * podvisor that is not PID 1 could neither reap nor clean them up. */
    if (sv->self != 1 || sv->cfg->subreaper) {
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
            log_errno(LOG_ERROR, errno, "becoming a child subreaper");
            return -1;
        }
        log_debug("running as a child subreaper");
    }
    if (sv->cfg->pdeathsig) {
        if (prctl(PR_SET_PDEATHSIG, sv->cfg->pdeathsig) < 0) {
            log_errno(LOG_ERROR, errno, "--pdeathsig");
            return -1;
        }
        /* prctl(2): a parent that died before the call never sends the
         * signal; a new parent since start-up says it did. */
        sv->parent_died = getppid() != sv->parent_at_start;
    }
    if (!sv->cfg->probe_listen.off) {
        char err[256], addr[300];
        int config_fault;
        sv->http = http_start(&sv->cfg->probe_listen, &sv->loop, &sv->lc, err, sizeof err,
                              &config_fault);
        if (sv->http == NULL) {
            log_error("--probe-listen %s: %s",
                      listen_addr_format(&sv->cfg->probe_listen, addr, sizeof addr), err);
            return config_fault ? -2 : -1;
        }
        log_info("probe server listening on %s", http_address(sv->http));
    }
    return 0;
}

static void teardown(struct supervisor *sv)
{
    http_stop(sv->http);
    for (int i = 0; i < LC_MAX_CHILDREN; i++)
        close_exec_pipe(&sv->children[i]);
    if (sv->signal_fd >= 0) {
        loop_del(&sv->loop, &sv->signal_watch);
        close(sv->signal_fd);
    }
    loop_close(&sv->loop);
}

int supervisor_run(const struct podvisor_config *cfg, pid_t parent_at_start)
{
    struct supervisor sv;
    memset(&sv, 0, sizeof sv);
    sv.cfg = cfg;
    sv.signal_fd = -1;
    sv.loop.epfd = sv.loop.timer_fd = -1;
    sv.self = getpid();
    sv.parent_at_start = parent_at_start;
    for (int e = 0; e < LC_N_EVENTS; e++) {
        sv.timers[e].sv = &sv;
        sv.timers[e].event = (enum lc_event_type)e;
        loop_timer_init(&sv.timers[e].timer, on_timer, &sv.timers[e]);
    }
    for (int i = 0; i < LC_MAX_CHILDREN; i++)
        sv.children[i] = (struct sv_child){.exec_fd = -1, .sv = &sv, .slot = i};
    lifecycle_init(&sv.lc, cfg);
    int code = 1;

    int rc = setup(&sv);
    if (rc < 0) {
        code = rc == -2 ? 2 : 1;
        goto out;
    }
    char warning[256];
    if (options_budget_warning(cfg, warning, sizeof warning))
        log_warn("%s", warning);
    feed(&sv, (struct lc_event){.type = LC_EV_START});
    if (sv.parent_died) {
        char name[16];
        log_info("parent %d died before --pdeathsig was armed: acting on SIG%s now",
                 (int)parent_at_start, signal_name(cfg->pdeathsig, name, sizeof name));
        feed(&sv, (struct lc_event){.type = LC_EV_SIGNAL, .sig = cfg->pdeathsig});
    }
    rc = loop_run(&sv.loop);
    if (rc < 0) {
        log_errno(LOG_ERROR, -rc, "epoll_wait");
        goto out;
    }
    code = sv.lc.exit_code;
out:
    teardown(&sv);
    return code;
}
