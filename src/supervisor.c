/* supervisor: see supervisor.h. */
#include "supervisor.h"

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

/* After the main child is gone, how long the processes left behind get
 * between SIGTERM and SIGKILL. Short, because the kubelet's grace period is
 * already running out (KUBERNETES.md) and the default stop timeout leaves
 * 2 s of it for exactly this. */
#define CLEANUP_TERM_WAIT_MS 1000

struct supervisor {
    const struct podvisor_config *cfg;
    struct loop loop;
    struct loop_watch signal_watch;
    int signal_fd;
    struct loop_timer timers[LC_N_TIMERS];
    struct loop_timer cleanup_timer;
    struct lifecycle lc;
    struct http_server *http; /* NULL with --probe-listen off */
    int child_stopped;   /* the main child is stopped (TSTP, TTIN, TTOU, STOP) */
    int cleaning_up;     /* main child gone: killing what is left */
};

static void apply(struct supervisor *sv, const struct lc_result *res);

static void feed(struct supervisor *sv, struct lc_event ev)
{
    struct lc_result res;
    ev.now_ms = loop_now_ms();
    lifecycle_step(&sv->lc, &ev, &res);
    apply(sv, &res);
}

static void finish(struct supervisor *sv)
{
    loop_stop(&sv->loop);
}

static void on_reaped(void *ctx, const struct child_reaped *r)
{
    struct supervisor *sv = ctx;
    char name[16];
    if (r->pid == sv->lc.child_pid) {
        if (WIFSIGNALED(r->status))
            log_info("child %d was killed by SIG%s", (int)r->pid,
                     signal_name(WTERMSIG(r->status), name, sizeof name));
        else
            log_info("child %d exited with status %d", (int)r->pid, WEXITSTATUS(r->status));
        feed(sv, (struct lc_event){.type = LC_EV_CHILD_EXITED, .status = r->status});
        return;
    }
    if (sv->cfg->warn_on_reap) {
        if (WIFSIGNALED(r->status))
            log_warn("reaped zombie %d (killed by SIG%s)", (int)r->pid,
                     signal_name(WTERMSIG(r->status), name, sizeof name));
        else
            log_warn("reaped zombie %d (exit status %d)", (int)r->pid, WEXITSTATUS(r->status));
    }
}

static void on_stopped(void *ctx, const struct child_reaped *r)
{
    struct supervisor *sv = ctx;
    if (r->pid != sv->lc.child_pid)
        return;
    char name[16];
    if (WIFSTOPPED(r->status)) {
        sv->child_stopped = 1;
        log_warn("child %d stopped by SIG%s; it resumes on SIGCONT", (int)r->pid,
                 signal_name(WSTOPSIG(r->status), name, sizeof name));
    } else if (WIFCONTINUED(r->status)) {
        sv->child_stopped = 0;
        log_info("child %d continued", (int)r->pid);
    }
}

static void reap(struct supervisor *sv)
{
    int rc = child_reap(on_reaped, on_stopped, sv);
    if (rc < 0)
        log_errno(LOG_ERROR, -rc, "waitpid");
    /* During the clean-up, no child left means nothing is left to wait for. */
    if (sv->cleaning_up && rc == 0)
        finish(sv);
}

static void on_signal_fd(void *ctx, uint32_t events)
{
    struct supervisor *sv = ctx;
    for (;;) {
        pid_t sender;
        int code;
        int sig = signals_read(sv->signal_fd, &sender, &code);
        if (sig == 0)
            return;
        if (sig < 0) {
            log_errno(LOG_ERROR, -sig, "reading signals");
            return;
        }
        if (sig == SIGCHLD) {
            reap(sv);
            continue;
        }
        char name[16];
        signal_name(sig, name, sizeof name);
        /* A signal podvisor raised on itself (SIGPIPE from a write to a
         * closed stderr) is podvisor's business, not the child's. */
        if (sender == getpid() && code == SI_USER) {
            log_debug("ignoring SIG%s raised by podvisor itself", name);
            continue;
        }
        if (!signals_forwardable(sig))
            continue;
        log_debug("received SIG%s from pid %d", name, (int)sender);
        feed(sv, (struct lc_event){.type = LC_EV_SIGNAL, .sig = sig});
    }
}

static void on_prestop_timer(void *ctx, uint32_t events)
{
    feed(ctx, (struct lc_event){.type = LC_EV_PRESTOP_ELAPSED});
}

static void on_stop_timer(void *ctx, uint32_t events)
{
    feed(ctx, (struct lc_event){.type = LC_EV_STOP_TIMEOUT});
}

/* The TERM wait is over: SIGKILL whatever is left, and wait for it. SIGKILL
 * cannot be ignored, so blocking here is bounded. As PID 1 one kill(-1)
 * reaches everything; a subreaper signals its own children, and those that
 * die hand theirs to podvisor, hence the repeat until none is left. */
static void on_cleanup_timer(void *ctx, uint32_t events)
{
    struct supervisor *sv = ctx;
    int killed = 0;
    for (int round = 0; round < 100; round++) {
        killed += child_signal_all_remaining(SIGKILL);
        pid_t pid;
        while ((pid = waitpid(-1, NULL, 0)) > 0 || (pid < 0 && errno == EINTR))
            ;
        /* As PID 1, what kill(-1, 0) still finds is not ours to wait for
         * (kubectl exec processes); the kernel ends them with podvisor. */
        if (getpid() == 1 || child_signal_all_remaining(0) == 0)
            break;
    }
    if (killed)
        log_warn("processes left behind did not exit on SIGTERM: killed them");
    finish(sv);
}

static void begin_cleanup(struct supervisor *sv)
{
    sv->cleaning_up = 1;
    /* With no child left there is nobody to stop: every process podvisor
     * must not leave behind is a descendant, and a descendant whose parent
     * died is re-parented to podvisor (PID 1 or subreaper). This also spares
     * the common case a scan of /proc. */
    if (child_reap(on_reaped, NULL, sv) == 0) {
        finish(sv);
        return;
    }
    child_signal_all_remaining(SIGTERM);
    log_info("stopping the processes the child left behind (SIGTERM, SIGKILL after %dms)",
             CLEANUP_TERM_WAIT_MS);
    if (loop_timer_arm(&sv->cleanup_timer, CLEANUP_TERM_WAIT_MS) < 0)
        on_cleanup_timer(sv, 0);
}

static void apply(struct supervisor *sv, const struct lc_result *res)
{
    char name[16];
    for (int i = 0; i < res->ntransitions; i++)
        log_info("%s -> %s (%s)", lifecycle_state_name(res->transitions[i].from),
                 lifecycle_state_name(res->transitions[i].to), res->transitions[i].why);
    for (int i = 0; i < res->nactions; i++) {
        const struct lc_action *a = &res->actions[i];
        pid_t child = sv->lc.child_pid;
        int rc = 0;
        switch (a->type) {
        case LC_ACT_FORWARD:
            log_debug("forwarding SIG%s to child %d", signal_name(a->sig, name, sizeof name),
                      (int)child);
            rc = child_signal(child, a->sig, sv->cfg->process_group);
            break;
        case LC_ACT_STOP_CHILD:
            log_info("sending stop signal SIG%s to child %d",
                     signal_name(a->sig, name, sizeof name), (int)child);
            rc = child_signal(child, a->sig, sv->cfg->process_group);
            /* A stopped child would never act on the stop signal. */
            if (rc == 0 && sv->child_stopped)
                child_signal(child, SIGCONT, sv->cfg->process_group);
            break;
        case LC_ACT_KILL_GROUP:
            log_warn("child %d still running after --stop-timeout %lldms: SIGKILL to its "
                     "process group",
                     (int)child, (long long)sv->cfg->stop_timeout_ms);
            rc = child_signal(child, SIGKILL, 1);
            break;
        case LC_ACT_ARM_TIMER:
            rc = loop_timer_arm(&sv->timers[a->timer], a->ms);
            break;
        case LC_ACT_CANCEL_TIMER:
            rc = loop_timer_disarm(&sv->timers[a->timer]);
            break;
        case LC_ACT_EXIT:
            begin_cleanup(sv);
            break;
        }
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
        log_errno(LOG_ERROR, -rc, "epoll_create1");
        return -1;
    }
    sv->signal_fd = signals_open();
    if (sv->signal_fd < 0) {
        log_errno(LOG_ERROR, -sv->signal_fd, "setting up the signalfd");
        return -1;
    }
    if ((rc = loop_add(&sv->loop, &sv->signal_watch, sv->signal_fd, EPOLLIN, on_signal_fd,
                       sv)) < 0 ||
        (rc = loop_timer_init(&sv->loop, &sv->timers[LC_TIMER_PRESTOP], on_prestop_timer,
                              sv)) < 0 ||
        (rc = loop_timer_init(&sv->loop, &sv->timers[LC_TIMER_STOP], on_stop_timer, sv)) < 0 ||
        (rc = loop_timer_init(&sv->loop, &sv->cleanup_timer, on_cleanup_timer, sv)) < 0) {
        log_errno(LOG_ERROR, -rc, "setting up the event loop");
        return -1;
    }
    /* Orphans are re-parented to the nearest subreaper: without this, a
     * podvisor that is not PID 1 could neither reap nor clean them up. */
    if (getpid() != 1 || sv->cfg->subreaper) {
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
            log_errno(LOG_ERROR, errno, "becoming a child subreaper");
            return -1;
        }
        log_debug("running as a child subreaper");
    }
    if (sv->cfg->pdeathsig && prctl(PR_SET_PDEATHSIG, sv->cfg->pdeathsig) < 0) {
        log_errno(LOG_ERROR, errno, "--pdeathsig");
        return -1;
    }
    if (!sv->cfg->probe_listen.off) {
        char err[256], addr[300];
        sv->http = http_start(&sv->cfg->probe_listen, &sv->loop, &sv->lc, err, sizeof err);
        if (sv->http == NULL) {
            log_error("--probe-listen %s: %s",
                      listen_addr_format(&sv->cfg->probe_listen, addr, sizeof addr), err);
            return -2;
        }
        log_info("probe server listening on %s", http_address(sv->http));
    }
    return 0;
}

static void teardown(struct supervisor *sv)
{
    http_stop(sv->http);
    for (int i = 0; i < LC_N_TIMERS; i++)
        loop_timer_close(&sv->loop, &sv->timers[i]);
    loop_timer_close(&sv->loop, &sv->cleanup_timer);
    if (sv->signal_fd >= 0)
        close(sv->signal_fd);
    loop_close(&sv->loop);
}

int supervisor_run(const struct podvisor_config *cfg)
{
    struct supervisor sv;
    memset(&sv, 0, sizeof sv);
    sv.cfg = cfg;
    sv.signal_fd = -1;
    sv.loop.epfd = -1;
    for (int i = 0; i < LC_N_TIMERS; i++)
        sv.timers[i].watch.fd = -1;
    sv.cleanup_timer.watch.fd = -1;
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

    pid_t pid;
    int err;
    switch (child_spawn(cfg->command, &pid, &err)) {
    case CHILD_SPAWN_OK:
        break;
    case CHILD_SPAWN_EXEC:
        code = child_exec_error_code(err);
        log_error("cannot run \"%s\": %s%s", cfg->command[0], strerror(err),
                  code == 127 && !strchr(cfg->command[0], '/') ? " (searched PATH)" : "");
        goto out;
    case CHILD_SPAWN_SYSTEM:
        log_errno(LOG_ERROR, err, "starting \"%s\"", cfg->command[0]);
        goto out;
    }
    log_info("started child %d: %s", (int)pid, cfg->command[0]);
    feed(&sv, (struct lc_event){.type = LC_EV_SPAWNED, .pid = pid});

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
