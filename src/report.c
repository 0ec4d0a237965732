/* report: see report.h. */
#include "report.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse.h"
#include "waitstatus.h"

static char *text(const char *s)
{
    return strdup(s);
}

int report_livez(const struct lifecycle *lc, char **body)
{
    if (lifecycle_live(lc)) {
        *body = text("ok\n");
        return 200;
    }
    const struct lc_check *k = lifecycle_failing_live_check(lc);
    if (k != NULL) {
        char buf[320];
        snprintf(buf, sizeof buf, "not live: live check %.80s: %.160s\n", k->name, k->error);
        *body = text(buf);
        return 503;
    }
    *body = text(lc->state == LC_EXITED ? "not live: the child has exited\n"
                                        : "not live: the child has not started\n");
    return 503;
}

int report_startupz(const struct lifecycle *lc, char **body)
{
    if (lifecycle_started(lc)) {
        *body = text("ok\n");
        return 200;
    }
    *body = text("not started: the child has not been ready yet\n");
    return 503;
}

int report_readyz(const struct lifecycle *lc, int verbose, struct report_now now, char **body)
{
    struct lc_condition c[LC_N_CONDITIONS];
    int n = LC_N_CONDITIONS;
    int ready = lifecycle_conditions(lc, now.mono_ms, c);
    char buf[512];
    size_t o = 0;
    if (!verbose) {
        if (ready)
            snprintf(buf, sizeof buf, "ok\n");
        else
            for (int i = 0; i < n; i++)
                if (c[i].failed) {
                    snprintf(buf, sizeof buf, "not ready: %s %s\n", c[i].name, c[i].why);
                    break;
                }
    } else {
        for (int i = 0; i < n && o < sizeof buf; i++)
            o += (size_t)snprintf(buf + o, sizeof buf - o,
                                  c[i].failed ? "[-]%s failed: %s\n" : "[+]%s ok\n", c[i].name,
                                  c[i].why);
        if (o < sizeof buf)
            snprintf(buf + o, sizeof buf - o, "readyz check %s\n", ready ? "passed" : "failed");
    }
    *body = text(buf);
    return ready ? 200 : 503;
}

static json_t *rfc3339(int64_t wall_ms)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    char buf[40];
    gmtime_r(&secs, &tm);
    size_t l = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + l, sizeof buf - l, ".%03dZ", (int)(wall_ms % 1000));
    return json_string(buf);
}

/* --drain-endpoints: the watch's verdict; null while none came (or
 * without the option). */
static json_t *endpoints_json(const struct lifecycle *lc)
{
    switch (lifecycle_endpoints_verdict(lc)) {
    case LC_ENDPOINTS_NOT_READY:
        return json_string("not-ready");
    case LC_ENDPOINTS_NOT_DELETING:
        return json_string("not-deleting");
    case LC_ENDPOINTS_UNKNOWN:
        return json_string("unknown");
    default:
        return json_null();
    }
}

static json_t *exit_json(int status)
{
    char name[16];
    int sig = waitstatus_signal(status);
    if (sig)
        return json_pack("{s:s, s:s, s:i}", "how", "signal", "signal",
                         signal_name(sig, name, sizeof name), "exit_code", waitstatus_code(status));
    return json_pack("{s:s, s:n, s:i}", "how", "exit", "signal", "exit_code",
                     waitstatus_code(status));
}

static json_t *at(int64_t mono_ms, struct report_now now)
{
    return mono_ms > 0 ? rfc3339(now.wall_ms - (now.mono_ms - mono_ms)) : json_null();
}

/* Text that came from outside (a validator's or a check's output, STATUS=,
 * a check's name, podvisor's own text cut at a byte count): jansson takes
 * UTF-8 only, and a refused string dropped its object or the whole reply.
 * Invalid bytes become U+FFFD. */
static json_t *json_text(const char *s)
{
    size_t len = strlen(s);
    char small[1024];
    char *buf = len * 3 + 1 <= sizeof small ? small : malloc(len * 3 + 1);
    if (buf == NULL)
        return json_string("(out of memory)");
    log_valid_utf8(s, buf, len * 3 + 1);
    json_t *j = json_string(buf);
    if (buf != small)
        free(buf);
    return j;
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_text(s) : json_null();
}

/* The watched config: what the child runs with, and what happened to the
 * last change (refused by --validate, acted on). */
static json_t *config_json(const struct lifecycle *lc, struct report_now now)
{
    const struct lc_config *c = &lc->config;
    json_t *refused = json_null();
    if (c->last_refused.at_ms > 0)
        refused = json_pack(
            "{s:o, s:s, s:o, s:b, s:o}", "at", at(c->last_refused.at_ms, now), "hash",
            c->last_refused.hash, "validate",
            c->last_refused.timed_out ? json_null() : exit_json(c->last_refused.status),
            "timed_out", c->last_refused.timed_out, "output", json_text(c->last_refused.output));
    json_t *action = json_null();
    if (c->last_action.at_ms > 0)
        action = json_pack("{s:o, s:s, s:b, s:b, s:o}", "at", at(c->last_action.at_ms, now),
                           "on_change", options_on_change_name(lc->cfg->on_change.kind), "ok",
                           c->last_action.ok, "pending", c->last_action.pending, "result",
                           json_text(c->last_action.result));
    return json_pack("{s:o, s:o, s:I, s:I, s:I, s:o, s:o}", "hash", str_or_null(c->hash),
                     "last_change", at(c->changed_ms, now), "changes", (json_int_t)c->changes,
                     "reloads", (json_int_t)c->reloads, "refused", (json_int_t)c->refused,
                     "last_refused_change", refused, "last_action", action);
}

char *report_status(const struct lifecycle *lc, struct report_now now)
{
    pid_t pid = lifecycle_main_pid(lc);
    int stopped_by = pid > 0 ? lc->children[lc->current].stopped_by : 0;
    char name[16];
    json_t *child = json_pack(
        "{s:o, s:o, s:o, s:I, s:o}", "pid", pid > 0 ? json_integer(pid) : json_null(), "started_at",
        lc->main_started_ms > 0 ? rfc3339(now.wall_ms - (now.mono_ms - lc->main_started_ms))
                                : json_null(),
        "stopped_by",
        stopped_by ? json_string(signal_name(stopped_by, name, sizeof name)) : json_null(),
        "restarts", (json_int_t)lc->restarts, "last_exit",
        lc->has_exited ? exit_json(lc->last_exit_status) : json_null());
    json_t *by = json_object();
    for (int r = 0; r < LC_N_REASONS && by && child; r++)
        json_object_set_new(by, lifecycle_reason_name((enum lc_reason)r),
                            json_integer((json_int_t)lc->restarts_by[r]));
    if (child && by)
        json_object_set_new(child, "restarts_by_reason", by);
    else
        json_decref(by);
    /* The restart in flight (its phase) and the last rolled-back one, as a
     * refused validation is shown. */
    if (child) {
        json_object_set_new(child, "restart_mode",
                            json_string(lc->cfg->restart_mode == RESTART_MODE_START_FIRST
                                            ? "start-first"
                                            : "stop-first"));
        const char *phase = lifecycle_state_detail(lc->state);
        json_object_set_new(child, "restart_phase",
                            lifecycle_restarting(lc->state) ? json_string(strchr(phase, '/') + 1)
                                                            : json_null());
        json_object_set_new(child, "last_restart",
                            lc->last_restart.at_ms > 0
                                ? json_pack("{s:o, s:s, s:f}", "at",
                                            at(lc->last_restart.at_ms, now), "reason",
                                            lifecycle_reason_name(lc->last_restart.reason),
                                            "seconds", (double)lc->last_restart.took_ms / 1000.0)
                                : json_null());
        json_object_set_new(child, "rollbacks", json_integer((json_int_t)lc->rollbacks));
        json_object_set_new(child, "successions", json_integer((json_int_t)lc->successions));
        json_object_set_new(child, "last_rollback",
                            lc->last_rollback.at_ms > 0
                                ? json_pack("{s:o, s:o, s:o}", "at",
                                            at(lc->last_rollback.at_ms, now), "hash",
                                            str_or_null(lc->last_rollback.hash), "why",
                                            json_text(lc->last_rollback.why))
                                : json_null());
    }
    json_t *signals = json_object();
    for (int s = 1; s < OPTIONS_NSIG && signals; s++)
        if (lc->forwarded[s])
            json_object_set_new(signals, signal_name(s, name, sizeof name),
                                json_integer((json_int_t)lc->forwarded[s]));
    /* Every child podvisor runs now, by role: the main one, the next or
     * old generation of a start-first restart, validate and action. */
    json_t *children = json_array();
    for (int i = 0; i < LC_MAX_CHILDREN && children; i++) {
        const struct lc_child *c = &lc->children[i];
        if (!c->in_use || c->pid <= 0)
            continue;
        json_array_append_new(
            children,
            json_pack("{s:s, s:i, s:b, s:o}", "role",
                      lifecycle_role_name(lifecycle_slot_role(lc, i)), "pid", (int)c->pid,
                      "exec_pending", c->exec_pending, "stopped_by",
                      c->stopped_by ? json_string(signal_name(c->stopped_by, name, sizeof name))
                                    : json_null()));
    }
    json_t *checks = json_array();
    for (int i = 0; i < lc->n_checks && checks; i++) {
        const struct lc_check *k = &lc->checks[i];
        json_array_append_new(
            checks, json_pack("{s:o, s:s, s:o, s:o, s:i, s:i, s:i, s:o}", "name",
                              json_text(k->name), "kind", k->live ? "live" : "ready", "ok",
                              k->has_result ? json_boolean(k->ok) : json_null(), "last_error",
                              k->has_result && !k->ok ? json_text(k->error) : json_null(),
                              "consecutive_failures", (int)k->consecutive_failures, "failures",
                              (int)k->failures, "runs", (int)k->runs, "last_duration_ms",
                              k->has_result ? json_integer(k->last_duration_ms) : json_null()));
    }
    json_t *doc = json_pack(
        "{s:s, s:s, s:b, s:b, s:b, s:s, s:o, s:o, s:{s:b, s:f, s:o, s:o}, s:o, s:o, s:o}", "state",
        lifecycle_state_name(lc->state), "mode", lc->cfg->sidecar ? "sidecar" : "wrap", "ready",
        lifecycle_ready(lc), "live", lifecycle_live(lc), "started", lifecycle_started(lc),
        "version", PODVISOR_VERSION, "child", child, "children", children, "drain", "active",
        lc->state == LC_DRAINING || lc->state == LC_STOPPING, "seconds",
        lifecycle_drain_seconds(lc, now.mono_ms), "connections",
        lifecycle_drain_connections(lc) >= 0 ? json_integer(lifecycle_drain_connections(lc))
                                             : json_null(),
        "endpoints", endpoints_json(lc), "signals_forwarded", signals, "config",
        config_json(lc, now), "checks", checks);
    if (doc != NULL && lc->cfg->notify)
        json_object_set_new(
            doc, "notify",
            json_pack("{s:o, s:o, s:i, s:{s:i, s:i}}", "status",
                      lc->notify.status[0] ? json_text(lc->notify.status) : json_null(), "mainpid",
                      lc->notify.mainpid ? json_integer(lc->notify.mainpid) : json_null(),
                      "messages", (int)lc->notify.messages, "ignored", "malformed",
                      (int)lc->notify.rejected[0], "foreign", (int)lc->notify.rejected[1]));
    char *out = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    if (out == NULL)
        return NULL;
    size_t l = strlen(out);
    char *nl = realloc(out, l + 2);
    if (nl == NULL) {
        free(out);
        return NULL;
    }
    memcpy(nl + l, "\n", 2);
    return nl;
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void label_value(FILE *f, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fputc('\\', f);
        if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

static void metric_head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric with one unlabelled sample. */
static void metric_one(FILE *f, const char *name, const char *type, const char *help,
                       unsigned value)
{
    metric_head(f, name, type, help);
    fprintf(f, "%s %u\n", name, value);
}

char *report_metrics(const struct lifecycle *lc, struct report_now now)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return NULL;
    metric_head(f, "podvisor_build_info", "gauge", "podvisor's version; always 1.");
    fprintf(f, "podvisor_build_info{version=\"%s\"} 1\n", PODVISOR_VERSION);
    metric_one(f, "podvisor_ready", "gauge", "1 while /readyz answers 200, else 0.",
               (unsigned)lifecycle_ready(lc));
    metric_one(f, "podvisor_live", "gauge", "1 while /livez answers 200, else 0.",
               (unsigned)lifecycle_live(lc));
    metric_head(f, "podvisor_state", "gauge", "The lifecycle state: 1 for the current one.");
    for (int s = 0; s < LC_N_PUBLIC_STATES; s++)
        fprintf(f, "podvisor_state{state=\"%s\"} %d\n", lifecycle_state_name((enum lc_state)s),
                lifecycle_public_state(lc->state) == s);
    metric_head(f, "podvisor_child_restarts_total", "counter",
                "Times podvisor started the child again, by reason.");
    for (int r = 0; r < LC_N_REASONS; r++)
        fprintf(f, "podvisor_child_restarts_total{reason=\"%s\"} %u\n",
                lifecycle_reason_name((enum lc_reason)r), lc->restarts_by[r]);
    const struct lc_config *c = &lc->config;
    metric_one(f, "podvisor_config_changes_total", "counter",
               "Content changes seen under --watch (after the debounce).", c->changes);
    metric_one(f, "podvisor_config_reloads_total", "counter",
               "Changes acted on in place (signal, exec or webhook).", c->reloads);
    metric_head(f, "podvisor_last_restart_seconds", "gauge",
                "How long the last graceful restart took, from its trigger until the new "
                "generation was ready (0: none yet).");
    fprintf(f, "podvisor_last_restart_seconds %.3f\n", (double)lc->last_restart.took_ms / 1000.0);
    metric_one(f, "podvisor_restart_rollbacks_total", "counter",
               "Start-first restarts whose next generation failed (the current one kept).",
               lc->rollbacks);
    metric_one(f, "podvisor_config_refused_total", "counter",
               "Changes refused because --validate failed.", c->refused);
    metric_one(f, "podvisor_config_action_failures_total", "counter",
               "On-change actions that failed (exec non-zero, webhook attempt, no process).",
               c->action_failures);
    metric_head(f, "podvisor_signals_forwarded_total", "counter",
                "Signals sent on to the child, by the signal sent (after --rewrite).");
    char name[16];
    for (int s = 1; s < OPTIONS_NSIG; s++)
        if (lc->forwarded[s])
            fprintf(f, "podvisor_signals_forwarded_total{signal=\"%s\"} %llu\n",
                    signal_name(s, name, sizeof name), (unsigned long long)lc->forwarded[s]);
    if (lc->n_checks > 0) {
        metric_head(f, "podvisor_check_duration_seconds", "gauge",
                    "How long each check's last run took.");
        for (int i = 0; i < lc->n_checks; i++) {
            fputs("podvisor_check_duration_seconds{check=\"", f);
            label_value(f, lc->checks[i].name);
            fprintf(f, "\",kind=\"%s\"} %.3f\n", lc->checks[i].live ? "live" : "ready",
                    (double)lc->checks[i].last_duration_ms / 1000.0);
        }
        metric_head(f, "podvisor_check_failures_total", "counter",
                    "Failed runs of each check (since podvisor started).");
        for (int i = 0; i < lc->n_checks; i++) {
            fputs("podvisor_check_failures_total{check=\"", f);
            label_value(f, lc->checks[i].name);
            fprintf(f, "\",kind=\"%s\"} %u\n", lc->checks[i].live ? "live" : "ready",
                    lc->checks[i].failures);
        }
    }
    if (lc->cfg->notify) {
        metric_head(f, "podvisor_notify_ignored_total", "counter",
                    "sd_notify datagrams ignored: malformed, or from outside the child's tree.");
        fprintf(f, "podvisor_notify_ignored_total{reason=\"malformed\"} %u\n",
                lc->notify.rejected[0]);
        fprintf(f, "podvisor_notify_ignored_total{reason=\"foreign\"} %u\n",
                lc->notify.rejected[1]);
    }
    metric_head(f, "podvisor_drain_seconds", "gauge",
                "Seconds from SIGTERM to now, or to the child's exit; 0 before any SIGTERM.");
    fprintf(f, "podvisor_drain_seconds %.3f\n", lifecycle_drain_seconds(lc, now.mono_ms));
    if (lc->cfg->drain_idle) {
        metric_head(f, "podvisor_drain_connections", "gauge",
                    "--drain-idle: connections on the app's ports at the last count during the "
                    "stop; -1 before any count.");
        fprintf(f, "podvisor_drain_connections %d\n", lifecycle_drain_connections(lc));
    }
    if (lc->cfg->drain_endpoints) {
        static const char *const verdicts[] = {"unknown", "not-ready", "not-deleting"};
        int v = lifecycle_endpoints_verdict(lc);
        metric_head(f, "podvisor_drain_endpoints", "gauge",
                    "--drain-endpoints: 1 for the verdict of the watch on the pod's "
                    "EndpointSlices during the last drain (none before one).");
        for (int i = 0; i < 3; i++)
            fprintf(f, "podvisor_drain_endpoints{verdict=\"%s\"} %d\n", verdicts[i], v == i);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static const char TEXT[] = "text/plain; charset=utf-8";

void report_route(const struct lifecycle *lc, const char *method, const char *path, int verbose,
                  struct report_now now, struct report_answer *out)
{
    out->content_type = TEXT;
    out->body = NULL;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        out->status = 405;
        out->body = text(strcmp(method, "POST") == 0
                             ? "method not allowed: use GET or HEAD (the admin commands are "
                               "POSTed to the --admin-listen address)\n"
                             : "method not allowed: use GET or HEAD\n");
    } else if (strcmp(path, "/livez") == 0 || strcmp(path, "/healthz") == 0) {
        out->status = (unsigned)report_livez(lc, &out->body);
    } else if (strcmp(path, "/readyz") == 0) {
        out->status = (unsigned)report_readyz(lc, verbose, now, &out->body);
    } else if (strcmp(path, "/startupz") == 0) {
        out->status = (unsigned)report_startupz(lc, &out->body);
    } else if (strcmp(path, "/status") == 0) {
        out->status = 200;
        out->body = report_status(lc, now);
        out->content_type = "application/json";
    } else if (strcmp(path, "/metrics") == 0) {
        out->status = 200;
        out->body = report_metrics(lc, now);
        out->content_type = "text/plain; version=0.0.4; charset=utf-8";
    } else {
        out->status = 404;
        out->body = text("not found\n");
    }
}
