/* loop: the one event loop. Owns the epoll fd and dispatches readiness of
 * registered fds (signalfd, the HTTP server's epoll fd, exec-result pipes,
 * ...) to callbacks, one at a time, and owns every timer: one timerfd on
 * CLOCK_MONOTONIC set to the earliest armed deadline. With nothing armed,
 * loop_run sleeps in epoll_wait without a timeout: podvisor never wakes up
 * when there is nothing to do.
 *
 * Dispatch is deletion-safe (as redis's ae.c): a callback may remove or
 * free any watch, including one whose event is still in the same batch;
 * that event is then dropped, never delivered through a stale pointer. */
#ifndef PODVISOR_LOOP_H
#define PODVISOR_LOOP_H

#include <stddef.h>
#include <stdint.h>

typedef void (*loop_cb)(void *ctx, uint32_t events);

/* A registration: owned by the caller, valid from loop_add to loop_del. */
struct loop_watch {
    int fd;
    uint32_t gen; /* which registration of this fd; stale events carry an older one */
    loop_cb cb;
    void *ctx;
};

/* A timer: owned by the caller, no fd of its own, so arming cannot fail
 * for lack of fds. */
struct loop_timer {
    int64_t deadline_ns; /* monotonic; meaningful while armed */
    int armed;
    void (*fire)(void *ctx);
    void *ctx;
    struct loop_timer *next; /* in the loop's armed list */
};

struct loop {
    int epfd;
    int timer_fd;
    int running;
    uint32_t next_gen;
    struct loop_watch **by_fd; /* fd -> its current registration, or NULL */
    size_t nfds;
    struct loop_watch timer_watch;
    struct loop_timer *armed; /* unsorted: podvisor has a handful of timers */
};

/** Creates the epoll fd and the timerfd (both close-on-exec). Returns 0 or
 * -errno; on failure nothing is left open. */
int loop_init(struct loop *l);
/** Closes what loop_init opened. Watches must have been removed. */
void loop_close(struct loop *l);

/** Registers fd for `events` (EPOLLIN...). Returns 0 or -errno. */
int loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events, loop_cb cb, void *ctx);
/** Changes the events a registration waits for. Returns 0 or -errno. */
int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events);
/** Removes the registration; pending events for it are dropped. The fd is
 * the caller's to close. Returns 0 or -errno (the watch is gone either way). */
int loop_del(struct loop *l, struct loop_watch *w);

/** Prepares a disarmed timer that calls fire(ctx) when it expires. */
void loop_timer_init(struct loop_timer *t, void (*fire)(void *ctx), void *ctx);
/** Arms (or re-arms) t to fire once, ms milliseconds from now (<= 0: on the
 * next turn of the loop). Returns 0 or -errno. */
int loop_timer_arm(struct loop *l, struct loop_timer *t, int64_t ms);
/** Disarms t; a disarmed timer never fires. Returns 0 or -errno. */
int loop_timer_disarm(struct loop *l, struct loop_timer *t);

/** Dispatches events until loop_stop is called (at once when it was called
 * before). Returns 0 or -errno when epoll_wait itself fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/** CLOCK_MONOTONIC in milliseconds: the time that events carry. */
int64_t loop_now_ms(void);

#endif
