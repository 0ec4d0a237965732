/* lifecycle_internal: what the lifecycle's files share (lifecycle.c,
 * lifecycle_stop.c, lifecycle_restart.c, lifecycle_config.c); nothing
 * outside the lifecycle includes it. lc_act* build the step's actions,
 * lc_move its transitions; the rest are the steps one file takes on
 * behalf of another. */
#ifndef PODVISOR_LIFECYCLE_INTERNAL_H
#define PODVISOR_LIFECYCLE_INTERNAL_H

#include "lifecycle.h"

void lc_copy_text(char *dst, size_t len, const char *src);
void lc_act(struct lc_result *out, struct lc_action a);
void lc_act_on(const struct lifecycle *lc, struct lc_result *out, enum lc_action_type type,
               enum lc_slot child, int sig);
void lc_move(struct lifecycle *lc, struct lc_result *out, enum lc_state to, const char *why);
void lc_arm(struct lc_result *out, enum lc_event_type timer, enum lc_slot child, int64_t ms);
void lc_cancel(struct lc_result *out, enum lc_event_type timer, enum lc_slot child);
struct lc_child *lc_cur(struct lifecycle *lc);
int lc_main_alive(const struct lifecycle *lc);
void lc_on_exec_ok(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
const struct lc_check *lc_failing_ready_check(const struct lifecycle *lc);
void lc_send_stop_signal(struct lifecycle *lc, struct lc_result *out);
void lc_stop_main(struct lifecycle *lc, struct lc_result *out);
void lc_begin_stopping(struct lifecycle *lc, struct lc_result *out, const char *why);
void lc_end_keep_ready(struct lifecycle *lc, struct lc_result *out);
void lc_drain(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out,
              const char *why);
void lc_on_sigterm(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
void lc_on_spawn_failed(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
void lc_record_exit(struct lifecycle *lc, const struct lc_event *ev);
void lc_on_main_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
void lc_on_reaped(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
void lc_on_cleanup_term_elapsed(struct lifecycle *lc, struct lc_result *out);
void lc_on_cleanup_deadline(struct lifecycle *lc, struct lc_result *out);
void lc_start_again_why(struct lifecycle *lc, struct lc_result *out, const char *why);
void lc_start_again(struct lifecycle *lc, struct lc_result *out);
void lc_restart_stop(struct lifecycle *lc, struct lc_result *out);
void lc_cancel_restart(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out,
                       const char *why);
void lc_respawn_after_stop(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
int lc_policy_restarts(const struct lifecycle *lc, int status);
void lc_crash_restart(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
void lc_restart_done(struct lifecycle *lc);
void lc_stop_other(struct lifecycle *lc, struct lc_result *out, enum lc_role role, const char *why);
void lc_roll_back(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out,
                  const char *why);
void lc_promote(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
void lc_current_exited_during_next(struct lifecycle *lc, const struct lc_event *ev,
                                   struct lc_result *out);
void lc_on_other_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
void lc_next_spawn_failed(struct lifecycle *lc, struct lc_result *out, const char *why);
int lc_start_first_busy(const struct lifecycle *lc);
void lc_queue_restart(struct lifecycle *lc, enum lc_reason reason);
void lc_restart_main(struct lifecycle *lc, struct lc_result *out, enum lc_reason reason);
void lc_on_mainpid(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
void lc_action_result(struct lifecycle *lc, const struct lc_event *ev, int ok, const char *result);
void lc_perform_on_change(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out,
                          enum lc_reason reason);
void lc_on_config_changed(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
void lc_on_validate_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
void lc_on_action_exited(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
void lc_on_helper_timeout(struct lifecycle *lc, struct lc_result *out, enum lc_slot slot);
void lc_resume_after_verdict(struct lifecycle *lc, const struct lc_event *ev,
                             struct lc_result *out);
void lc_on_helper_spawn_failed(struct lifecycle *lc, const struct lc_event *ev,
                               struct lc_result *out);

void lc_on_prestop_elapsed(struct lifecycle *lc, struct lc_result *out);
void lc_on_connections(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
void lc_on_endpoints(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
void lc_cancel_prestop(struct lifecycle *lc, struct lc_result *out);
void lc_arm_prestop(struct lifecycle *lc, struct lc_result *out, int64_t ms);
void lc_on_stop_timeout(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
void lc_on_restart_timer(struct lifecycle *lc, const struct lc_event *ev, struct lc_result *out);
void lc_on_next_generation_event(struct lifecycle *lc, const struct lc_event *ev,
                                 struct lc_result *out);

#endif
