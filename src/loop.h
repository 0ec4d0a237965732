/* loop: the one event loop. Owns the epoll fd and dispatches readiness of
 * registered fds (signalfd, timerfds, the HTTP server's epoll fd, ...) to
 * callbacks, one at a time. Timers are timerfds on CLOCK_MONOTONIC. With
 * nothing armed, loop_run sleeps in epoll_wait without a timeout: podvisor
 * never wakes up when there is nothing to do. */
#ifndef PODVISOR_LOOP_H
#define PODVISOR_LOOP_H

#include <stdint.h>

typedef void (*loop_cb)(void *ctx, uint32_t events);

struct loop {
    int epfd;
    int running;
};

/* A registration: lives as long as the fd is in the loop (epoll keeps a
 * pointer to it). */
struct loop_watch {
    int fd;
    loop_cb cb;
    void *ctx;
};

struct loop_timer {
    struct loop_watch watch;
    loop_cb fire;
    void *ctx;
};

/** Creates the epoll fd (close-on-exec). Returns 0 or -errno. */
int loop_init(struct loop *l);
void loop_close(struct loop *l);

/** Registers fd for `events` (EPOLLIN...). Returns 0 or -errno. */
int loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events, loop_cb cb,
             void *ctx);
int loop_del(struct loop *l, struct loop_watch *w);

/** Creates a one-shot timer whose expiry calls fire(ctx, 0). */
int loop_timer_init(struct loop *l, struct loop_timer *t, loop_cb fire, void *ctx);
/** Arms (or re-arms) the timer to fire after ms milliseconds (0: at once). */
int loop_timer_arm(struct loop_timer *t, int64_t ms);
int loop_timer_disarm(struct loop_timer *t);
void loop_timer_close(struct loop *l, struct loop_timer *t);

/** Dispatches events until loop_stop is called. Returns 0 or -errno when
 * epoll_wait itself fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/** CLOCK_MONOTONIC in milliseconds: the time that events carry. */
int64_t loop_now_ms(void);

#endif
