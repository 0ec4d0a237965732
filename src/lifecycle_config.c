/* lifecycle_config: config changes (--validate, its verdicts and what
 * waits for them), the --on-change actions and the admin commands with
 * their refusal rule. Part of the lifecycle (lifecycle.h). */
#include "lifecycle_internal.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "parse.h"
#include "waitstatus.h"

static void spawn_helper(struct lifecycle *lc, struct lc_result *out, enum lc_slot slot,
                         enum lc_event_type timeout);
static void set_last_action(struct lifecycle *lc, const struct lc_event *ev, int ok, int pending,
                            const char *text);
static void action_pending(struct lifecycle *lc, const struct lc_event *ev, const char *what);
static int main_settled(const struct lifecycle *lc);
static void accept_change(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out,
                          const char *hash);
static const char *files_refusal(const struct lifecycle *lc);
static void start_validate(struct lifecycle *lc, struct lc_result *out);
static void refused_during_restart(struct lifecycle *lc, const struct lc_event *ev,
                                   struct lc_result *out);

/* --- config changes ------------------------------------------------ */

static void spawn_helper(struct lifecycle *lc, struct lc_result *out, enum lc_slot slot,
                         enum lc_event_type timeout)
{
    memset(&lc->children[slot], 0, sizeof lc->children[slot]);
    lc->children[slot].in_use = 1;
    lc_act(out, (struct lc_action){.type = LC_ACT_SPAWN, .child = slot});
    int64_t ms = LC_HELPER_TIMEOUT_MS;
    if (slot == LC_VALIDATE && lc->cfg->validate_timeout_ms > 0)
        ms = lc->cfg->validate_timeout_ms; /* a build may need minutes */
    lc_arm(out, timeout, slot, ms);
}

static void set_last_action(struct lifecycle *lc, const struct lc_event *ev, int ok, int pending,
                            const char *text)
{
    lc->config.last_action.at_ms = ev->now_ms;
    lc->config.last_action.ok = ok;
    lc->config.last_action.pending = pending;
    lc_copy_text(lc->config.last_action.result, sizeof lc->config.last_action.result, text);
}

/* An action's outcome; a failure is counted (a pending one is not yet). */
void lc_action_result(struct lifecycle *lc, const struct lc_event *ev, int ok, const char *result)
{
    set_last_action(lc, ev, ok, 0, result);
    if (!ok)
        lc->config.action_failures++;
}

static void action_pending(struct lifecycle *lc, const struct lc_event *ev, const char *what)
{
    set_last_action(lc, ev, 0, 1, what);
}

/* The main child is up and past its exec: it can take a signal or a
 * restart. One still starting reads the config as it is now anyway. */
static int main_settled(const struct lifecycle *lc)
{
    return (lc->state == LC_RUNNING || lc->state == LC_READY) && lc_main_alive(lc) &&
           !lc->children[lc->current].exec_pending;
}

/* Carries out --on-change (for a config change, and later for an admin
 * /reload: the trigger is separate from what is done). */
void lc_perform_on_change(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out,
                          enum lc_reason reason)
{
    const struct on_change *oc = &lc->cfg->on_change;
    char name[16], text[96];
    switch (oc->kind) {
    case ON_CHANGE_RESTART:
        if (lc_start_first_busy(lc)) {
            /* Not applied yet: /status keeps naming what the children run
             * until the merged restart starts. */
            lc_queue_restart(lc, LC_REASON_CONFIG);
            lc_copy_text(lc->queued_hash, sizeof lc->queued_hash, lc->config.hash);
            lc_copy_text(lc->config.hash, sizeof lc->config.hash, lc->config.previous_hash);
            action_pending(lc, ev, "restart: queued behind the restart in flight");
        } else if (main_settled(lc)) {
            lc_restart_main(lc, out, reason);
            action_pending(lc, ev,
                           lc->state == LC_RESTART_NEXT ? "restart: starting the next generation"
                                                        : "restart: stopping the child");
        } else
            lc_action_result(lc, ev, 1, "restart: the child is (re)starting and reads it");
        break;
    case ON_CHANGE_SIGNAL:
        lc->config.reloads++;
        if (lc->cfg->sidecar) {
            lc_act(out, (struct lc_action){.type = LC_ACT_SIGNAL_PROCESSES, .sig = oc->sig});
            snprintf(text, sizeof text, "signal %s: sending",
                     signal_name(oc->sig, name, sizeof name));
            action_pending(lc, ev, text);
        } else if (main_settled(lc)) {
            if (oc->sig < OPTIONS_NSIG)
                lc->forwarded[oc->sig]++;
            lc_act_on(lc, out, LC_ACT_FORWARD, lc->current, oc->sig);
            snprintf(text, sizeof text, "SIG%s sent to child %d",
                     signal_name(oc->sig, name, sizeof name), (int)lc->children[lc->current].pid);
            lc_action_result(lc, ev, 1, text);
        } else {
            lc->config.reloads--;
            lc_action_result(lc, ev, 1, "signal: the child is (re)starting and reads it");
        }
        break;
    case ON_CHANGE_EXEC:
        lc->config.reloads++;
        if (lc->children[LC_ACTION].in_use) {
            lc->config.action_again = 1; /* coalesced: one more run after this one */
        } else {
            spawn_helper(lc, out, LC_ACTION, LC_EV_ACTION_TIMEOUT);
            action_pending(lc, ev, "exec: running");
        }
        break;
    case ON_CHANGE_WEBHOOK:
        lc->config.reloads++;
        lc_act(out, (struct lc_action){.type = LC_ACT_WEBHOOK});
        action_pending(lc, ev, "webhook: posting");
        break;
    case ON_CHANGE_NONE:
        lc_action_result(lc, ev, 1, "none: recorded");
        break;
    }
}

static void accept_change(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out,
                          const char *hash)
{
    lc_copy_text(lc->config.previous_hash, sizeof lc->config.previous_hash, lc->config.hash);
    lc_copy_text(lc->config.hash, sizeof lc->config.hash, hash);
    lc->config.changed_ms = ev->now_ms;
    lc_perform_on_change(lc, ev, out, LC_REASON_CONFIG);
}

const struct lc_admin_command lc_admin_commands[LC_N_ADMIN] = {
    [LC_ADMIN_RESTART] = {"/restart", LC_EV_RESTART, LC_REASON_ADMIN, 0,
                          "restarting the child gracefully"},
    [LC_ADMIN_RELOAD] = {"/reload", LC_EV_RELOAD, 0, 0, "reloading: the --on-change action runs"},
    [LC_ADMIN_DRAIN] = {"/drain", LC_EV_DRAIN, 0, 0,
                        "drained: /readyz fails from now on; the child keeps running"},
    [LC_ADMIN_QUIT] = {"/quitquitquit", LC_EV_SIGNAL, 0, SIGTERM,
                       "stopping gracefully, as on SIGTERM"},
};

int lifecycle_admin_lookup(const char *path)
{
    for (int i = 0; i < LC_N_ADMIN; i++)
        if (strcmp(path, lc_admin_commands[i].path) == 0)
            return i;
    return -1;
}

/* Why what the files hold now must not be applied by a restart or a
 * reload: content --validate refused or has not passed yet, or content
 * whose restart was rolled back. NULL when it may be. */
/* What the files hold, beside what the children run: the one judgement
 * behind the admin refusals and the warning that files cannot be
 * un-written. */
enum files_hold { FILES_RUNNING, FILES_NEW, FILES_REFUSED, FILES_ROLLED_BACK };

static enum files_hold files_hold(const struct lifecycle *lc)
{
    const struct lc_config *cf = &lc->config;
    if (strcmp(cf->pending, cf->hash) == 0)
        return FILES_RUNNING;
    if (lc->cfg->validate.argv != NULL && cf->last_refused.at_ms != 0 &&
        strcmp(cf->pending, cf->last_refused.hash) == 0)
        return FILES_REFUSED;
    if (lc->last_rollback.at_ms != 0 && strcmp(cf->pending, lc->last_rollback.hash) == 0)
        return FILES_ROLLED_BACK;
    return FILES_NEW;
}

static const char *files_refusal(const struct lifecycle *lc)
{
    if (lc->cfg->validate.argv != NULL && lc->children[LC_VALIDATE].in_use)
        return "not now: a change is being validated";
    switch (files_hold(lc)) {
    case FILES_REFUSED:
        return "the files hold a change --validate refused: fix them first";
    case FILES_ROLLED_BACK:
        return "the files hold a change whose restart was rolled back: change them first";
    case FILES_RUNNING:
    case FILES_NEW:
        break;
    }
    return NULL;
}

const char *lifecycle_admin_refusal(const struct lifecycle *lc, enum lc_admin cmd)
{
    static char why[120];
    int sidecar = lc->cfg->sidecar;
    const char *files;
    switch (cmd) {
    case LC_ADMIN_QUIT:
        return NULL; /* as SIGTERM: always taken */
    case LC_ADMIN_DRAIN:
        return lc->state == LC_EXITED ? "podvisor is exiting" : NULL;
    case LC_ADMIN_RESTART:
        if (sidecar)
            return "sidecar mode has no child to restart";
        /* During a start-first restart (or while its old generation
         * stops) it is merged into one more restart after it. */
        if (!main_settled(lc) && !lc_start_first_busy(lc))
            break;
        /* A new generation reads the files: as a config change would,
         * only content that passed. */
        return files_refusal(lc);
    case LC_ADMIN_RELOAD:
        /* The on-change action applies what is on disk: the same rule. */
        if ((files = files_refusal(lc)) != NULL)
            return files;
        if (lifecycle_accepts_changes(lc) && (sidecar || main_settled(lc)))
            return NULL;
        break;
    case LC_N_ADMIN:
        break;
    }
    snprintf(why, sizeof why, "not now: podvisor is %s", lifecycle_state_name(lc->state));
    return why;
}

int lifecycle_accepts_changes(const struct lifecycle *lc)
{
    return lc->state != LC_DRAINING && lc->state != LC_STOPPING && lc->state != LC_EXITED;
}

static void start_validate(struct lifecycle *lc, struct lc_result *out)
{
    /* What is validated is the content as of now: pending may move on. */
    lc_copy_text(lc->config.validating, sizeof lc->config.validating, lc->config.pending);
    spawn_helper(lc, out, LC_VALIDATE, LC_EV_VALIDATE_TIMEOUT);
}

void lc_on_config_changed(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    lc->config.changes++;
    lc_copy_text(lc->config.pending, sizeof lc->config.pending, ev->text);
    if (!lifecycle_accepts_changes(lc))
        return;
    struct lc_child *v = &lc->children[LC_VALIDATE];
    if (v->in_use) {
        lc->config.validate_again = 1;
        /* A verdict on content already replaced is worth nothing, and a
         * build of it may take minutes: it is stopped, and what is on disk
         * now is judged when it is gone (a dev loop's edit during a build). */
        if (v->pid > 0 && !v->cancelled && !v->timed_out &&
            strcmp(lc->config.pending, lc->config.validating) != 0) {
            v->cancelled = 1;
            lc_act(out, (struct lc_action){.type = LC_ACT_KILL_GROUP,
                                           .child = LC_VALIDATE,
                                           .pid = v->pid,
                                           .pgid = v->pgid,
                                           .code = 2, /* said at info: nothing is wrong */
                                           .why = "the files changed again: the --validate of "
                                                  "what they held is cancelled"});
        }
        return;
    }
    /* Back to what the child runs with (a refused change reverted): there
     * is nothing to do. */
    if (strcmp(lc->config.pending, lc->config.hash) == 0)
        return;
    /* Content whose start-first restart was rolled back is not tried again
     * until it changes (a revert to the last good content is a change). */
    if (lc->last_rollback.at_ms && strcmp(lc->config.pending, lc->last_rollback.hash) == 0)
        return;
    if (lc->cfg->validate.argv == NULL) {
        accept_change(lc, ev, out, lc->config.pending);
        return;
    }
    start_validate(lc, out);
}

/* A change landed during a restart and --validate refused it. What was
 * started or is about to start may read it; what serves now does not. */
/* What a refusal by --validate does to what runs, decided once: for the
 * step (refused_during_restart) and for the refusal's log line
 * (lifecycle_refusal_outcome). */
enum refusal_effect {
    REFUSAL_STOPPING,    /* podvisor is stopping: changes are not acted on */
    REFUSAL_SIDECAR,     /* nothing is signalled */
    REFUSAL_CANCELS,     /* a stop-first restart before its stop signal: cancelled */
    REFUSAL_ROLLS_BACK,  /* start-first's next generation may have read it: stopped */
    REFUSAL_START_AFTER, /* the old child is going: the new one starts after the verdict */
    REFUSAL_KEEPS,       /* the running child is kept */
};

static enum refusal_effect refusal_effect(const struct lifecycle *lc)
{
    if (!lifecycle_accepts_changes(lc))
        return REFUSAL_STOPPING;
    if (lc->cfg->sidecar)
        return REFUSAL_SIDECAR;
    switch (lc->state) {
    case LC_RESTART_DELAY:
        return REFUSAL_CANCELS;
    case LC_RESTART_NEXT:
        return REFUSAL_ROLLS_BACK;
    case LC_RESTART_STOPPING:
    case LC_RESTART_OLD_GROUP:
    case LC_RESTART_BACKOFF:
    case LC_RESTART_STARTING:
        return REFUSAL_START_AFTER;
    default:
        return REFUSAL_KEEPS;
    }
}

static void refused_during_restart(struct lifecycle *lc, const struct lc_event *ev,
                                   struct lc_result *out)
{
    switch (refusal_effect(lc)) {
    case REFUSAL_ROLLS_BACK:
        lc_roll_back(lc, ev, out,
                     "the files changed to content --validate refused while the next generation "
                     "started (it may have read them): it is stopped, the current one is kept");
        break;
    case REFUSAL_CANCELS:
        lc_cancel_restart(lc, ev, out,
                          "the files changed to content --validate refused before the child got "
                          "its stop signal: the restart is cancelled, the child is kept");
        break;
    default:
        break; /* the start waits for the verdict (start_after_validate), or nothing runs */
    }
}

int lifecycle_validate_void(const struct lifecycle *lc, int status)
{
    /* A run that ended before the kill (no signal), on content the files
     * are back at, judged what is on disk: its verdict stands. */
    return lc->children[LC_VALIDATE].cancelled &&
           !(WIFEXITED(status) && strcmp(lc->config.pending, lc->config.validating) == 0);
}

void lc_on_validate_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    struct lc_child *c = &lc->children[LC_VALIDATE];
    int timed_out = c->timed_out, no_verdict = lifecycle_validate_void(lc, ev->status);
    memset(c, 0, sizeof *c);
    lc_cancel(out, LC_EV_VALIDATE_TIMEOUT, LC_VALIDATE);
    if (!lifecycle_accepts_changes(lc))
        return;
    if (no_verdict) {
        /* No verdict (even a pass: it judged what is gone). What is on
         * disk now is judged, unless it is what runs already. */
        lc->config.validate_again = 0;
        if (strcmp(lc->config.pending, lc->config.hash) != 0)
            start_validate(lc, out);
        return;
    }
    if (!timed_out && ev->status == 0 && ev->hash != NULL &&
        strcmp(ev->hash, lc->config.validating) != 0) {
        /* It passed, but the files moved on meanwhile: acting now would
         * apply what was not validated. The content as it is now is
         * validated first; nothing is applied yet. */
        lc_copy_text(lc->config.pending, sizeof lc->config.pending, ev->hash);
        lc->config.validate_again = 0;
        if (strcmp(lc->config.pending, lc->config.hash) != 0)
            start_validate(lc, out);
        return;
    }
    if (!timed_out && ev->status == 0) {
        accept_change(lc, ev, out, lc->config.validating);
    } else {
        lc->config.refused++;
        lc->config.last_refused.at_ms = ev->now_ms;
        lc_copy_text(lc->config.last_refused.hash, sizeof lc->config.last_refused.hash,
                     lc->config.validating);
        lc->config.last_refused.status = ev->status;
        lc->config.last_refused.timed_out = timed_out;
        lc_copy_text(lc->config.last_refused.output, sizeof lc->config.last_refused.output,
                     ev->text);
        refused_during_restart(lc, ev, out);
    }
    /* Changes came meanwhile: judged anew, unless the files are back at
     * what was just judged (a verdict on the same content again would
     * only delay what it decided). */
    if (lc->config.validate_again) {
        lc->config.validate_again = 0;
        if (strcmp(lc->config.pending, lc->config.validating) != 0)
            start_validate(lc, out);
    }
}

void lc_on_action_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    struct lc_child *c = &lc->children[LC_ACTION];
    int timed_out = c->timed_out;
    memset(c, 0, sizeof *c);
    lc_cancel(out, LC_EV_ACTION_TIMEOUT, LC_ACTION);
    char how[64], text[160];
    if (timed_out)
        snprintf(text, sizeof text, "exec: killed after %ds", LC_HELPER_TIMEOUT_MS / 1000);
    else if (ev->text != NULL) /* the executor's words (a command that cannot run) */
        snprintf(text, sizeof text, "exec: %s", ev->text);
    else
        snprintf(text, sizeof text, "exec: %s", waitstatus_describe(ev->status, how, sizeof how));
    lc_action_result(lc, ev, !timed_out && ev->status == 0, text);
    if (lc->config.action_again && lifecycle_accepts_changes(lc)) {
        lc->config.action_again = 0;
        spawn_helper(lc, out, LC_ACTION, LC_EV_ACTION_TIMEOUT);
        action_pending(lc, ev, "exec: running");
    }
}

void lc_on_helper_timeout(struct lifecycle *lc, struct lc_result *out, enum lc_slot slot)
{
    struct lc_child *c = &lc->children[slot];
    if (!c->in_use || c->pid <= 0)
        return;
    c->timed_out = 1;
    lc_act(out,
           (struct lc_action){.type = LC_ACT_KILL_GROUP,
                              .child = slot,
                              .pid = c->pid,
                              .pgid = c->pgid,
                              .why = slot == LC_VALIDATE
                                         ? "--validate ran too long: killed"
                                         : "the exec: on-change command ran too long: killed"});
}

/* A --validate ended (or could not start): what waited for its verdict
 * goes on, unless another one now judges what is on disk. */
void lc_resume_after_verdict(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out)
{
    if (lc->children[LC_VALIDATE].in_use)
        return;
    if (lc->start_after_validate) {
        lc->start_after_validate = 0;
        if (lc->state == LC_RESTART_OLD_GROUP || lc->state == LC_RESTART_BACKOFF)
            lc_start_again(lc, out);
    }
    if (lc->stop_after_validate && lc->state == LC_RESTART_DELAY)
        lc_restart_stop(lc, out);
    if (lc->next_ready_waits && lc->state == LC_RESTART_NEXT)
        lc_promote(lc, ev, out);
}

void lc_on_helper_spawn_failed(struct lifecycle *lc, const struct lc_event *ev,
                               struct lc_result *out)
{
    /* As if it had exited 127: refused, or a failed action. */
    struct lc_event as_exit = *ev;
    as_exit.status = 127 << 8;
    as_exit.text = "could not be started";
    if (ev->child == LC_VALIDATE) {
        lc_on_validate_exited(lc, &as_exit, out);
        lc_resume_after_verdict(lc, ev, out);
    } else
        lc_on_action_exited(lc, &as_exit, out);
}

const char *lifecycle_refusal_outcome(const struct lifecycle *lc)
{
    switch (refusal_effect(lc)) {
    case REFUSAL_STOPPING:
        return " (podvisor is stopping)";
    case REFUSAL_SIDECAR:
        return "; nothing is signalled";
    case REFUSAL_CANCELS:
        return "; the running child is kept (its stop signal had not gone out)";
    case REFUSAL_ROLLS_BACK:
        return "; the current generation is kept";
    case REFUSAL_START_AFTER:
        return "; the child being restarted starts after this verdict";
    case REFUSAL_KEEPS:
        break;
    }
    return "; the running child is kept";
}

const char *lifecycle_unwritable_warning(const struct lifecycle *lc, char *buf, size_t len)
{
    const struct lc_config *cf = &lc->config;
    switch (files_hold(lc)) {
    case FILES_REFUSED:
        snprintf(buf, len,
                 "the child starts on files that hold a change --validate refused (%s): they "
                 "cannot be un-written; the next good change is applied as usual",
                 cf->pending);
        return buf;
    case FILES_ROLLED_BACK:
        snprintf(buf, len,
                 "the child starts on files that hold a change whose start-first restart was "
                 "rolled back (%s: %s): they cannot be un-written; the next change is applied "
                 "as usual",
                 cf->pending, lc->last_rollback.why);
        return buf;
    case FILES_RUNNING:
    case FILES_NEW:
        break;
    }
    return NULL;
}
