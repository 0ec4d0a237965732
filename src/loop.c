/* loop: see loop.h. */
#include "loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

int loop_init(struct loop *l)
{
    l->running = 0;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    return l->epfd < 0 ? -errno : 0;
}

void loop_close(struct loop *l)
{
    if (l->epfd >= 0)
        close(l->epfd);
    l->epfd = -1;
}

int loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events, loop_cb cb,
             void *ctx)
{
    w->fd = fd;
    w->cb = cb;
    w->ctx = ctx;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int loop_del(struct loop *l, struct loop_watch *w)
{
    return epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL) < 0 ? -errno : 0;
}

static void timer_ready(void *ctx, uint32_t events)
{
    struct loop_timer *t = ctx;
    uint64_t expirations;
    /* A timer disarmed after it became readable reads EAGAIN: then it has
     * been cancelled and must not fire. */
    if (read(t->watch.fd, &expirations, sizeof expirations) != sizeof expirations)
        return;
    t->fire(t->ctx, events);
}

int loop_timer_init(struct loop *l, struct loop_timer *t, loop_cb fire, void *ctx)
{
    t->fire = fire;
    t->ctx = ctx;
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    int rc = loop_add(l, &t->watch, fd, EPOLLIN, timer_ready, t);
    if (rc < 0)
        close(fd);
    return rc;
}

int loop_timer_arm(struct loop_timer *t, int64_t ms)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (ms <= 0)
        its.it_value.tv_nsec = 1; /* an all-zero value would disarm */
    else {
        its.it_value.tv_sec = ms / 1000;
        its.it_value.tv_nsec = (ms % 1000) * 1000000L;
    }
    return timerfd_settime(t->watch.fd, 0, &its, NULL) < 0 ? -errno : 0;
}

int loop_timer_disarm(struct loop_timer *t)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    return timerfd_settime(t->watch.fd, 0, &its, NULL) < 0 ? -errno : 0;
}

void loop_timer_close(struct loop *l, struct loop_timer *t)
{
    if (t->watch.fd < 0)
        return;
    loop_del(l, &t->watch);
    close(t->watch.fd);
    t->watch.fd = -1;
}

int loop_run(struct loop *l)
{
    struct epoll_event events[16];
    l->running = 1;
    while (l->running) {
        int n = epoll_wait(l->epfd, events, 16, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        for (int i = 0; i < n && l->running; i++) {
            struct loop_watch *w = events[i].data.ptr;
            w->cb(w->ctx, events[i].events);
        }
    }
    return 0;
}

void loop_stop(struct loop *l) { l->running = 0; }

int64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
