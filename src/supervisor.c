/* supervisor: see supervisor.h. */
#include "supervisor.h"
#include "hotpath.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "checks.h"
#include "conncount.h"
#include "endpoints.h"
#include "child.h"
#include "childenv.h"
#include "helper.h"
#include "http.h"
#include "lifecycle.h"
#include "log.h"
#include "loop.h"
#include "memlimit.h"
#include "net.h"
#include "notify.h"
#include "procs.h"
#include "signals.h"
#include "succession.h"
#include "watch.h"
#include "webhook.h"
#include "waitstatus.h"

/* How much of --validate's output is kept for the log line and /status:
 * the first bytes say what is wrong; the rest is read and dropped. */
#define CAPTURE_MAX 2048

/* --pid-file: how often its change is looked for (its successor is read
 * anyway when the main child exits). */
#define PID_FILE_POLL_MS 500

/* Sidecar mode: how often to look again for a --signal-process that is
 * not visible (yet). */
#define PROCESS_RETRY_MS 5000

/* Events fed while an earlier one's actions are being carried out wait
 * here, so that each event's actions run in order and to the end. */
#define EVENT_QUEUE 16

struct supervisor;

/* A lifecycle timer: named by the event it feeds (see lifecycle.h). */
struct sv_timer {
    struct loop_timer timer;
    struct supervisor *sv;
    enum lc_event_type event;
    enum lc_slot child;
};

/* The I/O side of one child slot: its exec-result pipe while it execs,
 * and for --validate the pipe its output is captured from. */
struct sv_child {
    int exec_fd;
    struct loop_watch exec_watch;
    struct helper capture; /* --validate's output (helper.h) */
    int exec_errno;        /* its exec failed with this (0: it did not) */
    struct supervisor *sv;
    enum lc_slot slot;
};

/* A held fd, passed to each generation as LISTEN_FDS entry (name). */
struct held_fd {
    int fd;
    int stored; /* from FDSTORE=1 (else a --socket) */
    char name[PARSE_SOCKET_NAME_MAX];
    char unix_path[108]; /* a unix --socket: podvisor made the path, removes it at exit */
};

/* sd_notify FDSTORE=1: at most this many stored fds (systemd's limit is the
 * unit's FileDescriptorStoreMax=); more are refused and closed. */
#define FDSTORE_MAX 32

/* --drain-idle counts the app's connections this often during the stop. */
#define CONNECTIONS_POLL_MS 100

/* What a signal's path reads comes first, the lifecycle's scalars
 * included (lifecycle.h), and the large tables after: see hotpath.h. */
struct supervisor {
    const struct podvisor_config *cfg;
    struct loop loop;
    struct loop_watch signal_watch;
    int signal_fd;
    pid_t self;
    int queued, feeding;
    unsigned faults_seen; /* the lifecycle faults logged already */
    /* What every generation of the main child gets as fds 3..: the
     * --socket ones (held for podvisor's whole life), then the fds the app
     * parked with sd_notify FDSTORE=1. Allocated only when there can be
     * any (the struct lives on the stack, and RSS counts). The drain
     * releases them before the stop signal: near the top, with what the
     * signal path reads. */
    struct held_fd *held;
    int nheld, nstored;
    struct lc_event queue[EVENT_QUEUE];
    struct lifecycle lc;
    struct sv_timer timers[LC_N_EVENTS][LC_MAX_CHILDREN]; /* keyed by (event, child) */
    struct sv_child children[LC_MAX_CHILDREN];
    struct http_server *http;       /* NULL with --probe-listen off */
    struct watch *watch;            /* NULL without --watch */
    struct webhook *webhook;        /* NULL unless --on-change webhook: */
    struct checks *checks;          /* NULL without --ready-check / --live-check */
    struct notify *notify;          /* NULL without --notify */
    struct childenv child_env;      /* envp NULL: ours */
    int env_dirty;                  /* the held fds changed: the environment is made anew */
    struct http_server *admin_http; /* NULL without --admin-listen */
    struct http_admin admin;
    int notify_warned[NOTIFY_N_REJECTS];
    struct succession succession; /* MAINPID= and --pid-file */
    struct loop_timer pid_file_poll;
    /* A restart waits for the old child's process group to empty. */
    pid_t old_group;
    struct loop_timer old_group_poll;
    struct loop_timer process_retry;
    int process_warned; /* sidecar: said that no --signal-process is visible */
    pid_t parent_at_start;
    int parent_died; /* before --pdeathsig was armed */
    /* --drain-idle: the app's TCP ports (--drain-port, then the held
     * sockets' own, read before the drain closes them) and the count's
     * poll during the stop. */
    uint16_t drain_ports[OPTIONS_MAX_DRAIN_PORTS + CHILD_MAX_MAPPED_FDS];
    size_t n_drain_ports;
    struct loop_timer connections_poll;
    int connections_failed; /* counting failed once: the stop timeout alone bounds the stop */
    /* --drain-endpoints: the watch while the prestop wait runs (NULL
     * before, and after its verdict). */
    struct endpoints *endpoints;
    int endpoints_asked;
    /* Each queued event's text, copied: a queued event outlives the stack
     * buffer its text came from. */
    char queue_text[EVENT_QUEUE][CAPTURE_MAX];
};

extern char **environ;

static void apply(struct supervisor *sv, const struct lc_result *res);
static int child_env_build(struct supervisor *sv);

static void follow_endpoints(struct supervisor *sv);

HOT_PATH static void feed(struct supervisor *sv, struct lc_event ev)
{
    ev.now_ms = loop_now_ms();
    if (sv->queued >= EVENT_QUEUE) {
        log_error("internal error: event queue full, event %d lost", (int)ev.type);
        return;
    }
    if (ev.text != NULL) {
        snprintf(sv->queue_text[sv->queued], sizeof sv->queue_text[0], "%s", ev.text);
        ev.text = sv->queue_text[sv->queued];
    }
    sv->queue[sv->queued++] = ev;
    if (sv->feeding)
        return; /* the outer feed takes it next */
    sv->feeding = 1;
    for (int i = 0; i < sv->queued; i++) {
        struct lc_result res;
        lifecycle_step(&sv->lc, &sv->queue[i], &res);
        const char *fault = lifecycle_new_fault(&sv->lc, &sv->faults_seen);
        if (fault != NULL)
            log_error("internal error: %s; going on (please report it)", fault);
        apply(sv, &res);
    }
    sv->queued = 0;
    sv->feeding = 0;
    checks_set_active(sv->checks, lifecycle_checks_wanted(&sv->lc));
    follow_endpoints(sv);
    if (lifecycle_counts_connections(&sv->lc) && !sv->connections_failed &&
        !sv->connections_poll.armed)
        loop_timer_arm(&sv->loop, &sv->connections_poll, 0); /* the first count at once */
}

static void on_endpoints(void *ctx, enum lc_endpoints verdict, const char *why)
{
    struct supervisor *sv = ctx;
    /* why is the watch's own: said before the watch is freed. */
    if (verdict == LC_ENDPOINTS_UNKNOWN)
        log_warn("--drain-endpoints: %s; waiting the fixed --prestop-delay %lldms", why,
                 (long long)sv->cfg->prestop_delay_ms);
    else
        log_info("--drain-endpoints: %s", why);
    endpoints_free(sv->endpoints);
    sv->endpoints = NULL;
    feed(sv, (struct lc_event){.type = LC_EV_ENDPOINTS, .code = (int)verdict});
}

/* The watch runs while the lifecycle wants it, started once per drain
 * (SPEC: only after SIGTERM). */
static void follow_endpoints(struct supervisor *sv)
{
    int wanted = lifecycle_watches_endpoints(&sv->lc);
    if (wanted && sv->endpoints == NULL && !sv->endpoints_asked) {
        sv->endpoints_asked = 1;
        sv->endpoints = endpoints_start(&sv->loop, ENDPOINTS_SA_DIR, on_endpoints, sv);
        if (sv->endpoints == NULL)
            on_endpoints(sv, LC_ENDPOINTS_UNKNOWN, "out of memory");
    } else if (!wanted && sv->endpoints != NULL) {
        endpoints_free(sv->endpoints);
        sv->endpoints = NULL;
    }
}

/* --drain-idle: every CONNECTIONS_POLL_MS while the lifecycle wants the
 * count. A kernel without inet_diag (or a seccomp profile that refuses
 * netlink) is said once; the stop timeout alone bounds the stop then. */
static void on_connections_poll(void *ctx)
{
    struct supervisor *sv = ctx;
    if (!lifecycle_counts_connections(&sv->lc))
        return;
    int n = conncount_established(sv->drain_ports, sv->n_drain_ports);
    if (n < 0) {
        log_errno(LOG_WARN, -n,
                  "--drain-idle: counting the app's connections (NETLINK_SOCK_DIAG); "
                  "waiting out --stop-timeout instead");
        sv->connections_failed = 1;
        return;
    }
    if (n != lifecycle_drain_connections(&sv->lc))
        log_debug("--drain-idle: %d connection%s on the app's ports", n, n == 1 ? "" : "s");
    feed(sv, (struct lc_event){.type = LC_EV_CONNECTIONS, .code = n});
    if (lifecycle_counts_connections(&sv->lc))
        loop_timer_arm(&sv->loop, &sv->connections_poll, CONNECTIONS_POLL_MS);
}

/* The TCP ports --drain-idle counts connections on. */
static void drain_ports_find(struct supervisor *sv)
{
    const struct podvisor_config *cfg = sv->cfg;
    for (size_t i = 0; i < cfg->drain_port.n; i++)
        sv->drain_ports[sv->n_drain_ports++] = cfg->drain_port.v[i];
    for (int i = 0; i < sv->nheld; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int type = 0;
        socklen_t tlen = sizeof type;
        if (sv->held[i].fd < 0 || getsockname(sv->held[i].fd, (struct sockaddr *)&ss, &len) < 0 ||
            getsockopt(sv->held[i].fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
            type != SOCK_STREAM)
            continue;
        if (ss.ss_family == AF_INET)
            sv->drain_ports[sv->n_drain_ports++] = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            sv->drain_ports[sv->n_drain_ports++] = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
}

static void on_check_result(void *ctx, int index, int ok, int64_t took_ms, const char *why)
{
    struct supervisor *sv = ctx;
    const struct lc_check *k = lifecycle_check(&sv->lc, index);
    if (k == NULL)
        return;
    /* A change of outcome is worth a line; a steady state is not. */
    if (k->has_result && k->ok != ok)
        log_info("%s check %s: %s", k->live ? "live" : "ready", k->name, ok ? "passes" : why);
    else if (!k->has_result && !ok)
        log_debug("%s check %s: %s", k->live ? "live" : "ready", k->name, why);
    feed(sv, (struct lc_event){.type = LC_EV_CHECK_RESULT,
                               .check = (enum lc_check_id)index,
                               .code = ok,
                               .status = (int)(took_ms > INT32_MAX ? INT32_MAX : took_ms),
                               .text = why});
}

/* Every 10 ms until the old child's process group is empty: the SIGKILL
 * is sent, but a member may take a while to go (freeing its memory, it
 * still holds its fds: the port). Its zombies are reaped meanwhile by the
 * loop; the lifecycle bounds the wait. */
/* The main child (re)starts on whatever the files hold: when that is a
 * change --validate refused (a crash restart after it, or a change that
 * came during a restart), it cannot be un-written; say so. */
static void warn_refused_on_disk(struct supervisor *sv)
{
    char why[400];
    if (lifecycle_unwritable_warning(&sv->lc, why, sizeof why) != NULL)
        log_warn("%s", why);
}

static void on_old_group_poll(void *ctx)
{
    struct supervisor *sv = ctx;
    if (sv->old_group <= 0)
        return;
    if (kill(-sv->old_group, 0) < 0 && errno == ESRCH) {
        sv->old_group = 0;
        feed(sv,
             (struct lc_event){.type = LC_EV_OLD_GROUP_GONE, .child = lifecycle_current(&sv->lc)});
        return;
    }
    loop_timer_arm(&sv->loop, &sv->old_group_poll, 10);
}

static void on_timer(void *ctx)
{
    struct sv_timer *t = ctx;
    feed(t->sv, (struct lc_event){.type = t->event, .child = t->child});
}

/* Takes a child's pipe out of the loop and closes it (-1: none). */
static void close_watched(struct sv_child *c, struct loop_watch *w, int *fd)
{
    if (*fd < 0)
        return;
    loop_del(&c->sv->loop, w);
    close(*fd);
    *fd = -1;
}

static void close_exec_pipe(struct sv_child *c)
{
    close_watched(c, &c->exec_watch, &c->exec_fd);
}

static char *const *slot_argv(const struct supervisor *sv, enum lc_slot slot)
{
    switch (slot) {
    case LC_VALIDATE:
        return sv->cfg->validate.argv;
    case LC_ACTION:
        return sv->cfg->on_change.argv;
    default:
        return sv->cfg->command;
    }
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
    const char *cmd = slot_argv(sv, c->slot)[0];
    pid_t pid = lifecycle_child(&sv->lc, c->slot)->pid;
    switch (r) {
    case CHILD_EXEC_OK:
        if (c->slot == lifecycle_current(&sv->lc))
            log_info("started child %d: %s", (int)pid, cmd);
        else if (lifecycle_is_generation(c->slot))
            log_info("started the next generation, child %d: %s", (int)pid, cmd);
        else
            log_debug("started %s %d: %s",
                      lifecycle_role_name(lifecycle_slot_role(&sv->lc, c->slot)), (int)pid, cmd);
        feed(sv, (struct lc_event){.type = LC_EV_EXEC_OK, .child = c->slot});
        break;
    case CHILD_EXEC_FAILED: {
        int code = child_exec_error_code(err);
        c->exec_errno = err;
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

static void on_validate_line(void *ctx, const char *line)
{
    (void)ctx;
    log_info("--validate: %s", line);
}

static void spawn(struct supervisor *sv, enum lc_slot slot)
{
    struct sv_child *c = &sv->children[slot];
    char *const *argv = slot_argv(sv, slot);
    struct child_spawn_opts opts = {.output_fd = -1, .helper = !lifecycle_is_generation(slot)};
    struct child_fd_map fd_map[CHILD_MAX_MAPPED_FDS];
    if (lifecycle_is_generation(slot)) {
        if (sv->env_dirty && child_env_build(sv) < 0)
            log_error("the child's environment: out of memory (started with podvisor's own)");
        for (int i = 0; i < sv->nheld; i++)
            fd_map[i] = (struct child_fd_map){.source = sv->held[i].fd, .target = 3 + i};
        opts.envp = sv->child_env.envp;
        opts.fds = fd_map;
        opts.nfds = sv->nheld;
        opts.pid_slot = sv->child_env.has_pid_slot ? sv->child_env.pid_slot : NULL;
    }
    int capture[2] = {-1, -1};
    c->capture.out_len = 0;
    c->capture.out[0] = '\0';
    if (slot == LC_VALIDATE && child_output_pipe(capture) == 0)
        opts.output_fd = capture[1];
    pid_t pid;
    int fd;
    int rc = child_spawn(argv, &opts, &pid, &fd);
    if (capture[1] >= 0)
        close(capture[1]);
    if (rc < 0) {
        if (capture[0] >= 0)
            close(capture[0]);
        log_errno(LOG_ERROR, -rc, "starting \"%s\"", argv[0]);
        feed(sv, (struct lc_event){.type = LC_EV_SPAWN_FAILED, .child = slot});
        return;
    }
    if (capture[0] >= 0) {
        /* Streamed as it runs: a build says what it does while it does it. */
        helper_stream(&c->capture, on_validate_line, sv);
        helper_capture(&c->capture, capture[0]);
    }
    c->exec_fd = fd;
    c->exec_errno = 0;
    feed(sv, (struct lc_event){.type = LC_EV_FORKED, .child = slot, .pid = pid});
    rc = loop_add(&sv->loop, &c->exec_watch, fd, EPOLLIN, on_exec_pipe, c);
    if (rc < 0) {
        /* Without the watch the result is read when the child is reaped. */
        log_errno(LOG_WARN, -rc, "watching the exec of child %d", (int)pid);
    }
}

/* The last whole lines of a streamed helper's output that fit in max
 * bytes (a build's error is at its end). */
static const char *last_lines(const struct helper *h, size_t max)
{
    const char *out = h->out;
    size_t len = h->out_len;
    while (len > 0 && out[len - 1] == '\n')
        len--; /* trailing newlines are not lines */
    if (len <= max && h->out_len < h->keep)
        return out; /* all of it */
    const char *start = out + (len > max ? len - max : 0);
    const char *nl = memchr(start, '\n', (size_t)(out + len - start));
    /* A line longer than max is shown cut rather than not at all. */
    return nl != NULL ? nl + 1 : start;
}

/* The validate output as one log line: lines joined by " | ". */
static void one_line_output(const char *in, char *out, size_t len)
{
    size_t o = 0;
    for (const char *p = in; *p && o + 4 < len; p++) {
        if (*p == '\n') {
            if (p[1] != '\0' && o > 0)
                o += (size_t)snprintf(out + o, len - o, " | ");
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    log_one_line(out);
}

static void helper_exited(struct supervisor *sv, enum lc_slot slot, int status)
{
    struct sv_child *c = &sv->children[slot];
    char how[320];
    /* A command that could not run says so, not how its forked copy ended
     * (127, or the SIGKILL of its group that followed). */
    if (c->exec_errno) {
        snprintf(how, sizeof how, "cannot run \"%.*s%s\": %s", LOG_CUT(slot_argv(sv, slot)[0], 200),
                 strerror(c->exec_errno));
        /* As a shell says it: 127 not found, 126 not runnable. */
        status = child_exec_error_code(c->exec_errno) << 8;
    } else {
        waitstatus_describe(status, how, sizeof how);
    }
    if (slot == LC_ACTION) {
        log_at(status == 0 ? LOG_INFO : LOG_WARN, 0, "on-change \"%.*s%s\" %s",
               LOG_CUT(sv->cfg->on_change.text, 200), how);
        feed(sv, (struct lc_event){
                     .type = LC_EV_CHILD_EXITED, .child = slot, .status = status, .text = how});
        return;
    }
    helper_read_output(&c->capture);
    helper_close(&c->capture);
    /* The log line ends with the output's last lines: whole, they would be
     * cut at the line's end, where a build's error is. */
    const char *tail = last_lines(&c->capture, 600);
    char text[CAPTURE_MAX + 256];
    one_line_output(tail, text, sizeof text);
    const struct lc_config *cf = lifecycle_config(&sv->lc);
    int timed_out = lifecycle_child(&sv->lc, slot)->timed_out;
    int passed = status == 0 && !timed_out;
    int64_t took = loop_now_ms() - lifecycle_child(&sv->lc, slot)->started_ms;
    char took_text[48];
    snprintf(took_text, sizeof took_text, "%lld.%02llds", (long long)(took / 1000),
             (long long)(took % 1000 / 10));
    if (lifecycle_validate_void(&sv->lc, status)) {
        log_info("--validate for %s stopped after %s: the files changed again", cf->validating,
                 took_text);
        feed(sv, (struct lc_event){.type = LC_EV_CHILD_EXITED, .child = slot, .status = status});
        return;
    }
    /* What is on disk now: if it moved on while --validate ran, what
     * passed is not what acting would apply (the lifecycle decides). A
     * refusal applies nothing, so only a pass needs the files hashed. */
    char now_hash[HASH_TEXT_LEN];
    int have_now = passed && sv->watch && watch_hash_now(sv->watch, now_hash) == 0;
    if (have_now && strcmp(now_hash, cf->validating) != 0)
        log_info("--validate passed for %s in %s, but the files moved on to %s meanwhile: "
                 "validating that first, nothing applied yet",
                 cf->validating, took_text, now_hash);
    else if (passed)
        log_info("--validate passed for %s in %s", cf->validating, took_text);
    else
        log_warn("config change refused (%s): --validate \"%.*s%s\" %s after %s%s%s%s",
                 cf->validating, LOG_CUT(sv->cfg->validate.text, 200),
                 timed_out ? "ran too long and was killed" : how, took_text, text[0] ? ": " : "",
                 text, lifecycle_refusal_outcome(&sv->lc));
    feed(sv, (struct lc_event){.type = LC_EV_CHILD_EXITED,
                               .child = slot,
                               .status = status,
                               .text = c->exec_errno && !c->capture.out[0]
                                           ? how
                                           : last_lines(&c->capture, LC_OUTPUT_MAX - 1),
                               .hash = have_now ? now_hash : NULL});
}

static void fdstore(struct supervisor *sv, struct notify_msg *m);
static void on_successor(struct supervisor *sv, pid_t sender, pid_t pid);

static void on_status(void *ctx, pid_t pid, int status)
{
    struct supervisor *sv = ctx;
    char name[16], how[64];
    int found = lifecycle_child_by_pid(&sv->lc, pid);
    if (found >= 0 && (enum lc_slot)found == lifecycle_current(&sv->lc) &&
        (sv->notify || sv->cfg->pid_file) && (WIFEXITED(status) || WIFSIGNALED(status))) {
        /* A daemonizing app sends MAINPID= and exits; an app replacing
         * itself names its successor in --pid-file: what it said is read
         * first, so that its exit is not taken for the app's. */
        if (sv->notify)
            notify_drain(sv->notify);
        pid_t take = lifecycle_takes_successor(&sv->lc)
                         ? succession_adopt_pending(&sv->succession, pid, sv->self)
                         : 0;
        if (take > 0)
            feed(sv, (struct lc_event){.type = LC_EV_MAINPID, .pid = take, .pgid = getpgid(take)});
        pid_t named =
            lifecycle_main_pid(&sv->lc) == pid ? succession_pid_file_now(&sv->succession) : 0;
        if (named > 0)
            on_successor(sv, -1, named);
        found = lifecycle_child_by_pid(&sv->lc, pid);
    }
    if (found < 0 && checks_reaped(sv->checks, pid, status))
        return;
    if (found < 0) {
        if (sv->cfg->warn_on_reap && (WIFEXITED(status) || WIFSIGNALED(status)))
            /* tini's own words: scripts grep for them. */
            log_warn("Reaped zombie process with pid=%d (%s)", (int)pid,
                     waitstatus_describe(status, how, sizeof how));
        return;
    }
    enum lc_slot slot = (enum lc_slot)found;
    if (WIFSTOPPED(status)) {
        log_warn("child %d stopped by SIG%s; it resumes on SIGCONT", (int)pid,
                 signal_name(WSTOPSIG(status), name, sizeof name));
        feed(sv, (struct lc_event){
                     .type = LC_EV_CHILD_STOPPED, .child = slot, .sig = WSTOPSIG(status)});
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
    if (!lifecycle_is_generation(slot)) {
        helper_exited(sv, slot, status);
        return;
    }
    if (lifecycle_child(&sv->lc, slot)->exec_error_code == 0)
        log_info("child %d%s %s", (int)pid,
                 slot == lifecycle_current(&sv->lc)                   ? ""
                 : lifecycle_slot_role(&sv->lc, slot) == LC_ROLE_NEXT ? " (the next generation)"
                 : lifecycle_slot_role(&sv->lc, slot) == LC_ROLE_ROLLED_BACK
                     ? " (the rolled-back next generation)"
                     : " (the old generation)",
                 waitstatus_describe(status, how, sizeof how));
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

HOT_PATH static void on_signal_fd(void *ctx, uint32_t events)
{
    struct supervisor *sv = ctx;
    (void)events;
    /* One signal per wake-up (signals_read_one): a storm of queued
     * real-time signals does not keep probes and timers waiting, as the
     * level-triggered epoll comes back for the rest after them. */
    struct signals_info si;
    int n = signals_read_one(sv->signal_fd, &si);
    if (n < 0)
        log_errno(LOG_ERROR, -n, "reading signals");
    if (n <= 0)
        return;
    if (si.sig == SIGCHLD) {
        reap(sv);
        return;
    }
    /* log_debug names the signal only when the line is wanted. */
    char name[16];
    if (!signals_forwardable(&si, sv->self)) {
        log_debug("not forwarding SIG%s from pid %d (code %d)",
                  signal_name(si.sig, name, sizeof name), (int)si.sender, si.code);
        return;
    }
    log_debug("received SIG%s from pid %d", signal_name(si.sig, name, sizeof name), (int)si.sender);
    feed(sv, (struct lc_event){.type = LC_EV_SIGNAL, .sig = si.sig});
}

static void post_webhook(struct supervisor *sv)
{
    if (webhook_post_change(sv->webhook, lifecycle_config(&sv->lc)->hash, sv->cfg->watch.v,
                            sv->cfg->watch.n) < 0)
        feed(sv, (struct lc_event){
                     .type = LC_EV_ACTION_RESULT, .code = 0, .text = "webhook: out of memory"});
}

static void on_webhook_result(void *ctx, int ok, const char *result)
{
    struct supervisor *sv = ctx;
    char text[192];
    snprintf(text, sizeof text, "webhook: %s", result);
    feed(sv, (struct lc_event){.type = LC_EV_ACTION_RESULT, .code = ok, .text = text});
}

/* Finds the --signal-process processes now (see procs_find). */
static int find_processes(struct supervisor *sv, pid_t *pids, size_t max)
{
    return procs_find(sv->cfg->signal_process.v, sv->cfg->signal_process.n, sv->self, pids, max);
}

static void no_process_hint(const struct supervisor *sv, char *buf, size_t len)
{
    snprintf(buf, len,
             "no process named %s%s is visible: the pod needs "
             "shareProcessNamespace: true, and the app container must be running",
             sv->cfg->signal_process.v[0], sv->cfg->signal_process.n > 1 ? " (or the others)" : "");
}

/* Sidecar mode: signal:SIG to the top of each --signal-process tree. It
 * never guesses: nothing visible is a failed action, said as such. */
static void signal_processes(struct supervisor *sv, int sig)
{
    pid_t pids[64];
    char name[16], text[192];
    int n = find_processes(sv, pids, 64);
    if (n <= 0) {
        if (n < 0)
            snprintf(text, sizeof text, "signal: reading /proc: %s", strerror(-n));
        else
            no_process_hint(sv, text, sizeof text);
        log_error("on-change %s: %s", sv->cfg->on_change.text, text);
        feed(sv, (struct lc_event){.type = LC_EV_ACTION_RESULT, .code = 0, .text = text});
        return;
    }
    size_t o =
        (size_t)snprintf(text, sizeof text, "SIG%s sent to", signal_name(sig, name, sizeof name));
    int sent = 0;
    for (int i = 0; i < n; i++) {
        if (kill(pids[i], sig) < 0) {
            /* Across containers the usual cause: another uid, without
             * CAP_KILL. Say the way out, not only the errno. */
            log_errno(LOG_WARN, errno, "sending SIG%s to %d%s", name, (int)pids[i],
                      errno == EPERM ? " (a process of another user: run the sidecar with the "
                                       "app's uid (runAsUser), or give it CAP_KILL)"
                                     : "");
            continue;
        }
        sent++;
        if (o < sizeof text)
            o += (size_t)snprintf(text + o, sizeof text - o, " %d", (int)pids[i]);
    }
    log_info("on-change: %s", sent ? text : "no process could be signalled");
    feed(sv, (struct lc_event){.type = LC_EV_ACTION_RESULT,
                               .code = sent > 0,
                               .text = sent ? text : "signal: no process could be signalled"});
}

/* Sidecar mode start-up: say at once whether the process to signal is
 * visible, and keep looking until it is. */
static void on_process_retry(void *ctx)
{
    struct supervisor *sv = ctx;
    pid_t pids[8];
    int n = find_processes(sv, pids, 8);
    if (n > 0) {
        log_info("--signal-process %s: found (pid %d)", sv->cfg->signal_process.v[0], (int)pids[0]);
        return;
    }
    if (!sv->process_warned) {
        char hint[192];
        no_process_hint(sv, hint, sizeof hint);
        log_warn("--signal-process: %s (looking again every %ds)", hint, PROCESS_RETRY_MS / 1000);
        sv->process_warned = 1;
    }
    loop_timer_arm(&sv->loop, &sv->process_retry, PROCESS_RETRY_MS);
}

static void on_config_change(void *ctx, const char *hash)
{
    struct supervisor *sv = ctx;
    if (!lifecycle_accepts_changes(&sv->lc))
        log_info("config changed (%s) while stopping: not acted on", hash);
    else
        log_info("config changed: %s", hash);
    feed(sv, (struct lc_event){.type = LC_EV_CONFIG_CHANGED, .text = hash});
}

/* The role name of pid when it is one of podvisor's children, else NULL. */
static const char *role_of(const struct supervisor *sv, pid_t pid)
{
    int slot = lifecycle_child_by_pid(&sv->lc, pid);
    if (slot < 0 && checks_owns(sv->checks, pid))
        return "exec check";
    return slot < 0 ? NULL : lifecycle_role_name(lifecycle_slot_role(&sv->lc, slot));
}

/* A successor named by sd_notify MAINPID= (sender) or --pid-file (-1). */
static void on_successor(struct supervisor *sv, pid_t sender, pid_t pid)
{
    if (!lifecycle_takes_successor(&sv->lc)) {
        if (pid != lifecycle_main_pid(&sv->lc))
            log_info("%s names pid %d: not followed, podvisor is %s (the child and what is "
                     "left in its process group are replaced)",
                     sender < 0 ? "--pid-file" : "sd_notify MAINPID=", (int)pid,
                     lifecycle_state_detail(lifecycle_state(&sv->lc)));
        return;
    }
    pid_t take = succession_named(&sv->succession, sender, pid, lifecycle_main_pid(&sv->lc),
                                  sv->self, role_of(sv, pid));
    if (take > 0)
        feed(sv, (struct lc_event){.type = LC_EV_MAINPID, .pid = take, .pgid = getpgid(take)});
}

static void on_pid_file_poll(void *ctx)
{
    struct supervisor *sv = ctx;
    pid_t pid = succession_pid_file_changed(&sv->succession);
    if (pid > 0 && lifecycle_main_pid(&sv->lc) > 0)
        on_successor(sv, -1, pid);
    loop_timer_arm(&sv->loop, &sv->pid_file_poll, PID_FILE_POLL_MS);
}

/* The generation slot whose process tree sent a datagram: as systemd
 * routes a notification by its sender's pid to the unit, the generations
 * of a start-first restart are told apart by the sender being one of them,
 * a descendant, or in its process group (it left the tree when its parent
 * exited). -1: not placed (gone by now, as a systemd-notify that exited
 * often is, or of no generation's tree). */
static int sender_generation(const struct supervisor *sv, pid_t sender)
{
    const struct lifecycle *lc = &sv->lc;
    enum lc_slot gens[2] = {lifecycle_current(lc), lifecycle_other_generation(lc)};
    for (int i = 0; i < 2; i++) {
        const struct lc_child *c = lifecycle_child(lc, gens[i]);
        if (c->in_use && c->pid > 0 && procs_in_tree(sender, c->pid))
            return (int)gens[i];
    }
    return -1;
}

/* A datagram whose sender could not be placed: as PID 1 every sender
 * descends from podvisor, so it came from a generation. A READY=1 while a
 * next generation waits for one is that generation's (the current one is
 * ready already); anything else counts for the current one, as before
 * there were two. Said in the log either way. */
static enum lc_slot place_unplaced(const struct supervisor *sv, pid_t sender,
                                   const struct notify_msg *m)
{
    enum lc_slot o = lifecycle_other_generation(&sv->lc);
    int gone = procs_parent(sender) < 0;
    if (m->ready && lifecycle_slot_role(&sv->lc, o) == LC_ROLE_NEXT) {
        log_info("sd_notify READY=1 from pid %d, %s: credited to the next generation, the one "
                 "waiting for it",
                 (int)sender, gone ? "gone before it could be placed" : "of neither generation");
        return o;
    }
    log_debug("sd_notify from pid %d, %s: counted for the current generation", (int)sender,
              gone ? "gone before it could be placed" : "of neither generation's tree");
    return lifecycle_current(&sv->lc);
}

static void on_notify(void *ctx, pid_t sender, struct notify_msg *m)
{
    struct supervisor *sv = ctx;
    int placed = sender_generation(sv, sender);
    enum lc_slot gen = placed < 0 ? place_unplaced(sv, sender, m) : (enum lc_slot)placed;
    struct sv_child *c = &sv->children[gen];
    /* READY=1 can come in the same wake-up as the exec's EOF: the exec is
     * taken first, or the checks would not be running to hear it. */
    if (c->exec_fd >= 0)
        take_exec_result(c);
    if (gen != lifecycle_current(&sv->lc)) {
        log_debug("sd_notify from pid %d (the %s generation):%s", (int)sender,
                  lifecycle_role_name(lifecycle_slot_role(&sv->lc, gen)),
                  m->ready ? " READY=1" : "");
        if (m->mainpid > 0 && lifecycle_slot_role(&sv->lc, gen) == LC_ROLE_NEXT)
            log_warn("sd_notify MAINPID=%d from the next generation (pid %d): start-first does "
                     "not follow a next generation that hands over to another process; when pid "
                     "%d exits before READY=1 it is rolled back (an app that daemonizes needs "
                     "--restart-mode stop-first)",
                     (int)m->mainpid, (int)sender, (int)lifecycle_child(&sv->lc, gen)->pid);
        if (m->ready && lifecycle_slot_role(&sv->lc, gen) == LC_ROLE_NEXT) {
            log_info("sd_notify READY=1 from the next generation (pid %d)", (int)sender);
            feed(sv, (struct lc_event){.type = LC_EV_NEXT_READY, .child = gen});
        }
        return; /* its WATCHDOG=, STATUS= and MAINPID= count once it is the current one */
    }
    log_debug("sd_notify from pid %d:%s%s%s%s%s%s%s", (int)sender, m->ready ? " READY=1" : "",
              m->reloading ? " RELOADING=1" : "", m->stopping ? " STOPPING=1" : "",
              m->watchdog ? " WATCHDOG=1" : "", m->watchdog_trigger ? " WATCHDOG=trigger" : "",
              m->has_status ? " STATUS=" : "", m->has_status ? m->status : "");
    if (m->mainpid > 0)
        on_successor(sv, sender, m->mainpid);
    if (m->fdstore || m->fdstore_remove)
        fdstore(sv, m);
    checks_notify(sv->checks, m);
    feed(sv,
         (struct lc_event){.type = LC_EV_NOTIFY_STATUS, .text = m->has_status ? m->status : NULL});
}

static void on_notify_rejected(void *ctx, enum notify_reject why, pid_t sender, const char *detail)
{
    struct supervisor *sv = ctx;
    /* Said once at warn (an app that keeps sending garbage would flood the
     * log); counted in /status and /metrics every time. */
    enum log_level level = sv->notify_warned[why] ? LOG_DEBUG : LOG_WARN;
    sv->notify_warned[why] = 1;
    log_at(level, 0, "sd_notify datagram from pid %d ignored: %s%s", (int)sender, detail,
           level == LOG_WARN ? " (further ones are counted in /metrics, logged at debug)" : "");
    feed(sv, (struct lc_event){.type = LC_EV_NOTIFY_REJECTED, .code = (int)why});
}

/* An admin command http.c routed (lc_admin_commands): refused with the
 * lifecycle's reason, or its event fed. */
static void on_admin(void *ctx, enum lc_admin cmd, const char *peer, unsigned *status, char *msg,
                     size_t msglen)
{
    struct supervisor *sv = ctx;
    const struct lc_admin_command *c = &lc_admin_commands[cmd];
    const char *refusal = lifecycle_admin_refusal(&sv->lc, cmd);
    if (refusal != NULL) {
        *status = 409;
        snprintf(msg, msglen, "%s: %s", c->path + 1, refusal);
        log_info("admin: POST %s from %s: %s", c->path, peer, refusal);
        return;
    }
    *status = 202;
    log_info("admin: POST %s from %s", c->path, peer);
    if (cmd == LC_ADMIN_RELOAD)
        snprintf(msg, msglen, "reloading: --on-change %s",
                 sv->cfg->on_change.text ? sv->cfg->on_change.text : "restart");
    else if (cmd == LC_ADMIN_RESTART && lifecycle_restart_queues(&sv->lc))
        snprintf(msg, msglen, "queued: one more restart after the one in flight");
    else
        snprintf(msg, msglen, "%s", c->accepted);
    feed(sv, (struct lc_event){.type = c->ev, .code = c->code, .sig = c->sig});
}

/* Start-first runs two generations at once under the container's one
 * memory limit: the next one starts only when the limit, read now (it can
 * be resized in place), minus the working set leaves room for it
 * (memlimit.h); otherwise the lifecycle restarts stop-first. */
static int memory_headroom_ok(struct supervisor *sv)
{
    long long max, ws;
    memlimit_read("/proc/self/cgroup", "/sys/fs/cgroup", &max, &ws);
    if (memlimit_second_fits(max, ws, sv->cfg->restart_memory))
        return 1;
    long long need = sv->cfg->restart_memory > 0 ? sv->cfg->restart_memory : ws;
    log_warn("start-first: the container's memory limit is %lld MiB and its working set %lld "
             "MiB: %lld MiB left, the next generation needs %lld MiB (%s)",
             max >> 20, ws >> 20, (max > ws ? max - ws : 0) >> 20, need >> 20,
             sv->cfg->restart_memory > 0 ? "--restart-memory" : "as much as runs now");
    return 0;
}

/* What podvisor is told to send reaches the app (SPEC: those signals
 * start at their default disposition in the child), even when podvisor
 * itself was started ignoring or blocking them, as under nohup. Every
 * other signal the app inherits as podvisor got it. */
static void deliver_sent_signal(int sig, const char *why)
{
    char name[16];
    if (child_deliver_signal(sig))
        log_info("SIG%s was ignored or blocked when podvisor started (nohup?); podvisor sends "
                 "it (%s), so the app gets it at its default disposition",
                 signal_name(sig, name, sizeof name), why);
}

static void deliver_sent_signals(const struct podvisor_config *cfg)
{
    deliver_sent_signal(cfg->stop_signal, "the stop signal");
    if (cfg->on_change.kind == ON_CHANGE_SIGNAL)
        deliver_sent_signal(cfg->on_change.sig, "--on-change");
    for (int i = 1; i < OPTIONS_NSIG; i++)
        if (cfg->rewrite[i] > 0)
            deliver_sent_signal(cfg->rewrite[i], "a --rewrite target");
}

/* The main child's environment, for the held fds as they are now. */
static int child_env_build(struct supervisor *sv)
{
    const char *names[CHILD_MAX_MAPPED_FDS];
    for (int i = 0; i < sv->nheld; i++)
        names[i] = sv->held[i].name;
    childenv_free(&sv->child_env);
    sv->env_dirty = 0;
    if (!sv->notify && sv->nheld == 0)
        return 0; /* podvisor's own environment, as it is */
    return childenv_build(&sv->child_env, environ,
                          sv->notify ? notify_socket_name(sv->notify) : NULL, sv->cfg->watchdog_ms,
                          names, (size_t)sv->nheld);
}

/* --socket: every one bound before the first child, or none (an address
 * that cannot be bound is a start-up error, said with its cause). */
/* Sockets passed to podvisor itself with systemd's protocol (an outer
 * systemd, podman's socket activation, a podvisor around podvisor): for
 * podvisor when LISTEN_PID is its pid. Held as --socket ones are, first,
 * so the app gets them as fds 3, 4, ... under their LISTEN_FDNAMES; in
 * sidecar mode (no app to pass them to) closed, with one warning. The
 * variables go from podvisor's environment either way: helpers and the
 * app must not see stale ones. Returns how many, or -1. */
static int adopt_listen_fds(struct supervisor *sv, int max)
{
    const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
    const char *names_s = getenv("LISTEN_FDNAMES");
    char names[512];
    snprintf(names, sizeof names, "%s", names_s ? names_s : "");
    long pid = pid_s ? strtol(pid_s, NULL, 10) : 0, n = fds_s ? strtol(fds_s, NULL, 10) : 0;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (fds_s == NULL)
        return 0;
    if (pid != (long)getpid() || n <= 0) {
        log_debug("LISTEN_FDS=%s is not for podvisor (LISTEN_PID=%s): ignored", fds_s,
                  pid_s ? pid_s : "unset");
        return 0;
    }
    if (sv->cfg->sidecar || n > max) {
        log_warn("LISTEN_FDS=%ld: %s; closing them", n,
                 sv->cfg->sidecar ? "a sidecar has no app to pass sockets to"
                                  : "more sockets than podvisor can pass on");
        for (long i = 0; i < n && i < 1024; i++)
            close(3 + (int)i);
        return 0;
    }
    /* Variables that name fds podvisor was not given (no such fd, not a
     * socket) are not to be trusted: none is taken. */
    for (long i = 0; i < n; i++) {
        struct stat st;
        int open_ = fstat(3 + (int)i, &st) == 0;
        if (!open_ || !S_ISSOCK(st.st_mode)) {
            log_warn("LISTEN_FDS=%ld names fds 3 to %ld, but fd %ld is %s: ignored", n, 2 + n,
                     3 + i, open_ ? "not a socket" : "not open");
            return 0;
        }
    }
    char *save = NULL, *name = strtok_r(names, ":", &save);
    for (long i = 0; i < n; i++, name = name ? strtok_r(NULL, ":", &save) : NULL) {
        int fd = 3 + (int)i;
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
            log_errno(LOG_ERROR, errno, "LISTEN_FDS=%ld: fd %d", n, fd);
            return -1;
        }
        struct held_fd *h = &sv->held[sv->nheld++];
        h->fd = fd;
        snprintf(h->name, sizeof h->name, "%s", name && *name ? name : "unknown");
        char where[300];
        net_local_name(fd, where, sizeof where);
        log_info("holding socket %s (%s), passed to podvisor with LISTEN_FDS, for the child as "
                 "fd %d",
                 where, h->name, fd);
    }
    return (int)n;
}

static int hold_sockets(struct supervisor *sv)
{
    if (sv->cfg->socket.n + (sv->notify ? FDSTORE_MAX : 0) > CHILD_MAX_MAPPED_FDS) {
        log_error("--socket: at most %d sockets (%d with --notify, which keeps room for "
                  "FDSTORE=)",
                  CHILD_MAX_MAPPED_FDS, CHILD_MAX_MAPPED_FDS - FDSTORE_MAX);
        return -2;
    }
    int room = CHILD_MAX_MAPPED_FDS - (int)sv->cfg->socket.n - (sv->notify ? FDSTORE_MAX : 0);
    int passed = getenv("LISTEN_FDS") != NULL;
    if (sv->cfg->socket.n == 0 && !sv->notify && !passed)
        return 0;
    sv->held = calloc(CHILD_MAX_MAPPED_FDS, sizeof *sv->held);
    if (sv->held == NULL) {
        log_error("--socket: out of memory");
        return -1;
    }
    int adopted = adopt_listen_fds(sv, room);
    if (adopted < 0)
        return -1;
    if (adopted > 0)
        lifecycle_set_holds_sockets(&sv->lc);
    for (size_t i = 0; i < sv->cfg->socket.n; i++) {
        struct socket_spec spec;
        char err[300];
        parse_socket_spec(sv->cfg->socket.v[i], &spec); /* options validated it */
        int fd = net_hold_socket(&spec, err, sizeof err);
        if (fd < 0) {
            log_error("--socket %s: %s", sv->cfg->socket.v[i], err);
            return -2;
        }
        struct held_fd *h = &sv->held[sv->nheld++];
        h->fd = fd;
        snprintf(h->name, sizeof h->name, "%s", spec.name);
        if (spec.is_unix)
            snprintf(h->unix_path, sizeof h->unix_path, "%s", spec.path);
        char where[300];
        if (spec.is_unix)
            snprintf(where, sizeof where, "unix:%s", spec.path);
        else
            net_local_name(fd, where, sizeof where);
        log_info("holding socket %s (%s) for the child as fd %d", where, spec.name, 2 + sv->nheld);
    }
    return 0;
}

/* sd_notify FDSTORE=1 / FDSTOREREMOVE=1 from the current generation: the
 * fds come back to every later child as named LISTEN_FDS entries, after
 * the --socket ones. Bounded; a --socket is never removed. */
/* Whether fd is the same open file as one already held (systemd drops
 * such a duplicate: an app storing its listener in every generation would
 * otherwise double the copies each time). A socket's inode is its own. */
static int held_already(const struct supervisor *sv, int fd)
{
    struct stat a, b;
    if (fstat(fd, &a) < 0)
        return 0;
    for (int i = 0; i < sv->nheld; i++)
        if (sv->held[i].fd >= 0 && fstat(sv->held[i].fd, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino && (a.st_mode & S_IFMT) == (b.st_mode & S_IFMT))
            return 1;
    return 0;
}

static void fdstore(struct supervisor *sv, struct notify_msg *m)
{
    if (sv->held == NULL)
        return;
    if (m->fdname_invalid && (m->fdstore || m->fdstore_remove))
        log_warn("sd_notify FDNAME= is empty, longer than 255 bytes or has a blank, ':' or a "
                 "non-printable byte: ignored%s",
                 m->fdstore_remove ? ", and so is FDSTOREREMOVE=1" : " (stored as \"stored\")");
    if (m->fdstore_remove && !m->fdname_invalid) {
        int kept = 0, removed = 0;
        for (int i = 0; i < sv->nheld; i++) {
            struct held_fd *h = &sv->held[i];
            if (h->stored && strcmp(h->name, m->fdname) == 0) {
                if (h->fd >= 0)
                    close(h->fd);
                removed++;
                continue;
            }
            sv->held[kept++] = *h;
        }
        sv->nheld = kept;
        sv->nstored -= removed;
        sv->env_dirty = 1;
        log_info("sd_notify FDSTOREREMOVE=1: %d stored fd%s named \"%s\" closed", removed,
                 removed == 1 ? "" : "s", m->fdname);
    }
    if (!m->fdstore)
        return;
    for (size_t i = 0; i < m->nfds; i++) {
        if (sv->nstored >= FDSTORE_MAX) {
            log_warn("sd_notify FDSTORE=1: already %d fds stored, the most podvisor keeps; "
                     "\"%s\" refused (closed)",
                     FDSTORE_MAX, m->fdname);
            return; /* the rest is closed by notify */
        }
        if (held_already(sv, m->fds[i])) {
            log_info("sd_notify FDSTORE=1: an fd named \"%s\" is already held: the duplicate "
                     "is closed",
                     m->fdname);
            continue; /* closed by notify */
        }
        struct held_fd *h = &sv->held[sv->nheld++];
        *h = (struct held_fd){.fd = m->fds[i], .stored = 1};
        snprintf(h->name, sizeof h->name, "%s", m->fdname);
        m->fds[i] = -1; /* kept */
        sv->nstored++;
        sv->env_dirty = 1;
        log_info("sd_notify FDSTORE=1: keeping an fd as \"%s\" for the next child (%d stored)",
                 h->name, sv->nstored);
    }
}

static int carry_out(struct supervisor *sv, const struct lc_action *a)
{
    struct sv_timer *t;
    switch (a->type) {
    case LC_ACT_SPAWN:
        if (a->why)
            log_warn("%s", a->why);
        if (lifecycle_is_generation(a->child))
            warn_refused_on_disk(sv);
        if (lifecycle_is_generation(a->child) && a->child != lifecycle_current(&sv->lc) &&
            !memory_headroom_ok(sv)) {
            feed(sv, (struct lc_event){.type = LC_EV_NO_MEMORY, .child = a->child});
            return 0;
        }
        spawn(sv, a->child);
        return 0;
    case LC_ACT_AWAIT_GROUP:
        sv->old_group = a->pid;
        return loop_timer_arm(&sv->loop, &sv->old_group_poll, 0);
    case LC_ACT_FORWARD:
    case LC_ACT_STOP_CHILD:
        return 0; /* sent before anything else of the step (apply) */
    case LC_ACT_KILL_OLD_GROUP: {
        int rc = child_kill_group_only(a->pid);
        if (rc == 0)
            log_info("killed what child %d left in its process group", (int)a->pid);
        return rc == -ESRCH ? 0 : rc;
    }
    case LC_ACT_WEBHOOK:
        post_webhook(sv);
        return 0;
    case LC_ACT_SIGNAL_PROCESSES:
        signal_processes(sv, a->sig);
        return 0;
    case LC_ACT_REAP:
        reap(sv);
        return 0;
    case LC_ACT_WARN:
        log_warn("%s", a->why);
        return 0;
    case LC_ACT_KILL_GROUP:
        if (a->why)
            log_at(a->code == 2 ? LOG_INFO : LOG_WARN, 0, "%s", a->why);
        if (a->code == 1) /* the lifecycle's reason: the stop timeout */
            log_warn("child %d still running after --stop-timeout %lldms: SIGKILL to its "
                     "process group",
                     (int)a->pid, (long long)sv->cfg->stop_timeout_ms);
        return child_signal(a->pid, a->pgid, SIGKILL, 1);
    case LC_ACT_SIGNAL_REMAINING:
        if (a->why)
            log_at(a->sig == SIGKILL ? LOG_WARN : LOG_INFO, 0, "%s", a->why);
        child_signal_all_remaining(a->sig);
        return 0;
    case LC_ACT_ARM_TIMER:
        t = &sv->timers[a->timer][a->child];
        return loop_timer_arm(&sv->loop, &t->timer, a->ms);
    case LC_ACT_CANCEL_TIMER:
        return loop_timer_disarm(&sv->loop, &sv->timers[a->timer][a->child].timer);
    case LC_ACT_EXIT:
        if (a->why)
            log_warn("%s", a->why);
        loop_stop(&sv->loop);
        return 0;
    }
    return 0;
}

/* Once podvisor drains, stops or has exited, no later generation can
 * come: its copies of the listening sockets go, so that when the app
 * closes its own after the stop signal, clients are refused at once
 * instead of queueing in a backlog nobody accepts from, to be reset when
 * podvisor exits. A unix socket's path stays until then (teardown). */
HOT_PATH static void release_held(struct supervisor *sv)
{
    int closed = 0;
    for (int i = 0; i < sv->nheld; i++)
        if (sv->held[i].fd >= 0) {
            close(sv->held[i].fd);
            sv->held[i].fd = -1;
            closed++;
        }
    if (closed)
        log_debug("closed podvisor's copies of %d held fd%s: no later child will get them", closed,
                  closed == 1 ? "" : "s");
}

/* A signal for the app (a forward, the stop signal): sent first, said
 * afterwards. The app waits for it, maybe for this very CPU too, while
 * podvisor formats and writes its log lines (at the default level, three
 * lines came before the stop signal; bench/pid1.py). */
HOT_PATH static int is_signal(const struct lc_action *a)
{
    return a->type == LC_ACT_FORWARD || a->type == LC_ACT_STOP_CHILD;
}

static void say_signal(const struct lc_action *a)
{
    /* The name is made only for a line that is written. */
    if (!log_enabled(a->type == LC_ACT_FORWARD ? LOG_DEBUG : LOG_INFO))
        return;
    char name[16];
    signal_name(a->sig, name, sizeof name);
    if (a->type == LC_ACT_FORWARD) {
        log_debug("forwarded SIG%s to child %d", name, (int)a->pid);
        return;
    }
    if (a->why)
        log_info("%s", a->why);
    log_info("sending stop signal SIG%s to child %d", name, (int)a->pid);
}

HOT_PATH static void apply(struct supervisor *sv, const struct lc_result *res)
{
    int sent[LC_MAX_ACTIONS];
    for (int i = 0; i < res->ntransitions; i++) {
        enum lc_state to = res->transitions[i].to;
        /* Before the stop signal: the app may close its listener at once. */
        if (to == LC_DRAINING || to == LC_STOPPING || to == LC_EXITED)
            release_held(sv);
    }
    int signalled = 0;
    for (int i = 0; i < res->nactions; i++)
        if (is_signal(&res->actions[i])) {
            sent[i] = child_signal(res->actions[i].pid, res->actions[i].pgid, res->actions[i].sig,
                                   sv->cfg->process_group);
            signalled |= sent[i] == 0;
        }
    /* The app may be waiting for this CPU to take the signal: on one core
     * (bench/sigfloor.py) it ran only after the rest of this step, its
     * timers and log lines, 15-20 us later. The bookkeeping can wait. */
    if (signalled)
        (void)sched_yield(); /* it cannot fail on Linux */
    for (int i = 0; i < res->ntransitions; i++) {
        const struct lc_transition *tr = &res->transitions[i];
        /* A child that never ran has had its error line already. */
        enum log_level level =
            tr->from == LC_STARTING && tr->to == LC_EXITED ? LOG_DEBUG : LOG_INFO;
        /* One restart is one line in and one line out; its phases are
         * there for whoever debugs it. */
        if (lifecycle_restarting(tr->from) && lifecycle_restarting(tr->to))
            log_debug("%s -> %s (%s)", lifecycle_state_detail(tr->from),
                      lifecycle_state_detail(tr->to), tr->why);
        else
            log_at(level, 0, "%s -> %s (%s)", lifecycle_state_name(tr->from),
                   lifecycle_state_name(tr->to), tr->why);
    }
    for (int i = 0; i < res->nactions; i++) {
        if (is_signal(&res->actions[i]))
            say_signal(&res->actions[i]);
        int rc = is_signal(&res->actions[i]) ? sent[i] : carry_out(sv, &res->actions[i]);
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
    deliver_sent_signals(sv->cfg);
    /* Orphans are re-parented to the nearest subreaper: without this, a
     * podvisor that is not PID 1 could neither reap nor clean them up. */
    if (sv->self != 1 || sv->cfg->subreaper) {
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) == 0) {
            log_debug("running as a child subreaper");
        } else if (errno == EINVAL) {
            /* Linux before 3.4, or an emulator that lacks the call
             * (qemu-user, which runs the foreign builds in make test):
             * the app is still supervised; only its orphans are lost. */
            if (sv->self == 1)
                log_debug("no PR_SET_CHILD_SUBREAPER here; as PID 1, podvisor needs none");
            else
                log_warn("cannot become a child subreaper (PR_SET_CHILD_SUBREAPER: %s): "
                         "the app's orphans go to the machine's init, not to podvisor",
                         strerror(errno));
        } else {
            log_errno(LOG_ERROR, errno, "becoming a child subreaper");
            return -1;
        }
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
    if (sv->cfg->watch.n > 0) {
        char err[256];
        struct pathfilter filter = {sv->cfg->watch_include.v, sv->cfg->watch_include.n,
                                    sv->cfg->watch_exclude.v, sv->cfg->watch_exclude.n};
        struct watch_settings ws = {.paths = &sv->cfg->watch,
                                    .debounce_ms = sv->cfg->debounce_ms,
                                    .poll_ms = sv->cfg->watch_poll_ms,
                                    .filter = &filter};
        sv->watch = watch_start(&ws, &sv->loop, on_config_change, sv, err, sizeof err);
        if (sv->watch == NULL) {
            log_error("--watch: %s", err);
            return -1;
        }
        log_info("watching %zu path%s (%s, --on-change %s)", sv->cfg->watch.n,
                 sv->cfg->watch.n == 1 ? "" : "s", watch_hash(sv->watch), sv->cfg->on_change.text);
    }
    if (sv->cfg->on_change.kind == ON_CHANGE_WEBHOOK) {
        sv->webhook = webhook_new(sv->cfg->on_change.url, sv->cfg->webhook_timeout_ms,
                                  sv->cfg->webhook_ca, &sv->loop, on_webhook_result, sv);
        if (sv->webhook == NULL) {
            log_error("--on-change webhook: out of memory");
            return -1;
        }
    }
    if (sv->cfg->sidecar && sv->cfg->signal_process.n > 0)
        on_process_retry(sv);
    succession_init(&sv->succession, sv->cfg->pid_file);
    if (sv->cfg->pid_file)
        loop_timer_arm(&sv->loop, &sv->pid_file_poll, PID_FILE_POLL_MS);
    if (lifecycle_n_checks(&sv->lc) > 0) {
        sv->checks = checks_new(sv->cfg, &sv->loop, on_check_result, sv);
        if (sv->checks == NULL) {
            log_error("--ready-check/--live-check: out of memory");
            return -1;
        }
    }
    if (sv->cfg->notify) {
        char err[256];
        sv->notify = notify_open(&sv->loop, on_notify, on_notify_rejected, sv, err, sizeof err);
        if (sv->notify == NULL) {
            log_error("--notify: the sd_notify socket: %s", err);
            return -1;
        }
        log_debug("sd_notify socket %s", notify_socket_name(sv->notify));
    }
    if ((rc = hold_sockets(sv)) < 0)
        return rc;
    if (sv->cfg->drain_idle)
        drain_ports_find(sv); /* options made sure there is at least one */
    if (sv->cfg->drain_endpoints && sv->cfg->prestop_delay_ms > 0) {
        /* Said now, not at SIGTERM: a pod spec that cannot work is
         * better known at its first start. */
        char why[400];
        if (endpoints_missing(ENDPOINTS_SA_DIR, why, sizeof why))
            log_warn("--drain-endpoints: %s; the prestop wait will be the fixed "
                     "--prestop-delay",
                     why);
    }
    if (child_env_build(sv) < 0) {
        log_error("the child's environment: out of memory");
        return -1;
    }
    if (!sv->cfg->admin_listen.off) {
        char err[256], addr[300];
        int config_fault;
        listen_addr_format(&sv->cfg->admin_listen, addr, sizeof addr);
        sv->admin =
            (struct http_admin){.token = sv->cfg->admin_token.value, .act = on_admin, .ctx = sv};
        sv->admin_http = http_start(&sv->cfg->admin_listen, &sv->loop, &sv->lc, &sv->admin, err,
                                    sizeof err, &config_fault);
        if (sv->admin_http == NULL) {
            log_error("--admin-listen %s: %s", addr, err);
            return config_fault ? -2 : -1;
        }
        log_info("admin listener on %s (%s)", http_address(sv->admin_http),
                 sv->admin.token ? "token required" : "no token");
        if (!net_is_loopback(&sv->cfg->admin_listen))
            log_warn("--admin-listen %s is not a loopback address: anyone who reaches it can "
                     "restart or stop the app%s",
                     addr, sv->admin.token ? "" : " (and no --admin-token-file is set)");
    }
    if (!sv->cfg->probe_listen.off) {
        char err[256], addr[300];
        int config_fault;
        sv->http = http_start(&sv->cfg->probe_listen, &sv->loop, &sv->lc, NULL, err, sizeof err,
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
    http_stop(sv->admin_http);
    notify_close(sv->notify);
    childenv_free(&sv->child_env);
    for (int i = 0; i < sv->nheld; i++) {
        if (sv->held[i].fd >= 0)
            close(sv->held[i].fd);
        /* The path is podvisor's to clean up: it made it. */
        if (sv->held[i].unix_path[0])
            unlink(sv->held[i].unix_path);
    }
    free(sv->held);
    watch_stop(sv->watch);
    webhook_free(sv->webhook);
    checks_free(sv->checks);
    loop_timer_disarm(&sv->loop, &sv->process_retry);
    loop_timer_disarm(&sv->loop, &sv->old_group_poll);
    loop_timer_disarm(&sv->loop, &sv->pid_file_poll);
    loop_timer_disarm(&sv->loop, &sv->connections_poll);
    endpoints_free(sv->endpoints);
    for (int i = 0; i < LC_MAX_CHILDREN; i++) {
        close_exec_pipe(&sv->children[i]);
        helper_close(&sv->children[i].capture);
    }
    if (sv->signal_fd >= 0) {
        loop_del(&sv->loop, &sv->signal_watch);
        close(sv->signal_fd);
    }
    loop_close(&sv->loop);
}

int supervisor_run(const struct podvisor_config *cfg, pid_t parent_at_start)
{
    /* Static, not on the stack: 58 KiB (mostly the event queue's texts)
     * that a memset made resident at once; zero-filled storage costs a
     * page only when a part of it is used. Run once per process. */
    static struct supervisor sv;
    sv.cfg = cfg;
    sv.signal_fd = -1;
    sv.loop.epfd = sv.loop.timer_fd = -1;
    sv.self = getpid();
    sv.parent_at_start = parent_at_start;
    for (int e = 0; e < LC_N_EVENTS; e++)
        for (int k = 0; k < LC_MAX_CHILDREN; k++) {
            struct sv_timer *t = &sv.timers[e][k];
            *t = (struct sv_timer){.sv = &sv, .event = (enum lc_event_type)e, .child = k};
            loop_timer_init(&t->timer, on_timer, t);
        }
    for (int i = 0; i < LC_MAX_CHILDREN; i++) {
        sv.children[i] = (struct sv_child){.exec_fd = -1, .sv = &sv, .slot = i};
        helper_init(&sv.children[i].capture, &sv.loop, CAPTURE_MAX - 1);
    }
    loop_timer_init(&sv.process_retry, on_process_retry, &sv);
    loop_timer_init(&sv.old_group_poll, on_old_group_poll, &sv);
    loop_timer_init(&sv.pid_file_poll, on_pid_file_poll, &sv);
    loop_timer_init(&sv.connections_poll, on_connections_poll, &sv);
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
    feed(&sv,
         (struct lc_event){.type = LC_EV_START, .text = sv.watch ? watch_hash(sv.watch) : NULL});
    /* Bound in setup (a probe that comes now waits in the backlog);
     * served only now, while the app's exec runs on another core. */
    http_serve(sv.admin_http);
    http_serve(sv.http);
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
    code = lifecycle_exit_code(&sv.lc);
out:
    teardown(&sv);
    return code;
}
