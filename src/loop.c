/* loop: see loop.h. */
#include "loop.h"
#include "hotpath.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* Events read per epoll_wait; the rest wait for the next turn. */
#define LOOP_BATCH 32

static void on_timer_fd(void *ctx, uint32_t events);

/* Timers keep nanoseconds: a deadline rounded to the millisecond could fire
 * up to 1 ms before the time asked for. */
static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int loop_init(struct loop *l)
{
    memset(l, 0, sizeof *l);
    l->timer_fd = -1;
    /* Running from the start: a loop_stop before loop_run (an action taken
     * while setting up) must hold, or loop_run would wait forever. */
    l->running = 1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0)
        return -errno;
    l->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    int rc = l->timer_fd < 0 ? -errno
                             : loop_add(l, &l->timer_watch, l->timer_fd, EPOLLIN, on_timer_fd, l);
    if (rc < 0) {
        loop_close(l);
        return rc;
    }
    return 0;
}

void loop_close(struct loop *l)
{
    if (l->timer_fd >= 0) {
        loop_del(l, &l->timer_watch);
        close(l->timer_fd);
    }
    if (l->epfd >= 0)
        close(l->epfd);
    free(l->by_fd);
    l->by_fd = NULL;
    l->nfds = 0;
    l->epfd = l->timer_fd = -1;
    l->armed = NULL;
}

static int reserve(struct loop *l, int fd)
{
    if ((size_t)fd < l->nfds)
        return 0;
    size_t n = l->nfds ? l->nfds : 64;
    while (n <= (size_t)fd)
        n *= 2;
    struct loop_watch **m = realloc(l->by_fd, n * sizeof *m);
    if (m == NULL)
        return -ENOMEM;
    memset(m + l->nfds, 0, (n - l->nfds) * sizeof *m);
    l->by_fd = m;
    l->nfds = n;
    return 0;
}

int loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events, loop_cb cb, void *ctx)
{
    if (fd < 0)
        return -EBADF;
    int rc = reserve(l, fd);
    if (rc < 0)
        return rc;
    w->fd = fd;
    w->gen = ++l->next_gen;
    w->cb = cb;
    w->ctx = ctx;
    /* The event carries the fd and the registration's generation, never a
     * pointer: dispatch looks the watch up, so a removed one is not called. */
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)w->gen << 32 | (uint32_t)fd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    l->by_fd[fd] = w;
    return 0;
}

int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events)
{
    if (w->fd < 0 || (size_t)w->fd >= l->nfds || l->by_fd[w->fd] != w)
        return -ENOENT;
    struct epoll_event ev = {.events = events,
                             .data.u64 = (uint64_t)w->gen << 32 | (uint32_t)w->fd};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

int loop_del(struct loop *l, struct loop_watch *w)
{
    if (w->fd < 0 || (size_t)w->fd >= l->nfds || l->by_fd[w->fd] != w)
        return -ENOENT;
    l->by_fd[w->fd] = NULL;
    return epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL) < 0 ? -errno : 0;
}

void loop_timer_init(struct loop_timer *t, void (*fire)(void *ctx), void *ctx)
{
    memset(t, 0, sizeof *t);
    t->fire = fire;
    t->ctx = ctx;
}

static void unlink_timer(struct loop *l, struct loop_timer *t)
{
    for (struct loop_timer **p = &l->armed; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    t->next = NULL;
    t->armed = 0;
}

/* The timerfd follows the earliest armed deadline, as an absolute time so
 * that the time spent getting here does not push it later. */
static int program(struct loop *l)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    struct loop_timer *first = NULL;
    for (struct loop_timer *t = l->armed; t; t = t->next)
        if (first == NULL || t->deadline_ns < first->deadline_ns)
            first = t;
    if (first != NULL) {
        int64_t at = first->deadline_ns > 0 ? first->deadline_ns : 1; /* all-zero disarms */
        its.it_value.tv_sec = at / 1000000000;
        its.it_value.tv_nsec = at % 1000000000;
    }
    return timerfd_settime(l->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0 ? -errno : 0;
}

int loop_timer_arm(struct loop *l, struct loop_timer *t, int64_t ms)
{
    if (t->armed)
        unlink_timer(l, t);
    t->deadline_ns = now_ns() + (ms > 0 ? ms : 0) * 1000000;
    t->armed = 1;
    t->next = l->armed;
    l->armed = t;
    return program(l);
}

int loop_timer_disarm(struct loop *l, struct loop_timer *t)
{
    if (!t->armed)
        return 0;
    unlink_timer(l, t);
    return program(l);
}

/* Fires every timer that is due, earliest first. A callback may arm or
 * disarm any timer, so the list is searched afresh after each one. */
static void on_timer_fd(void *ctx, uint32_t events)
{
    struct loop *l = ctx;
    uint64_t expirations;
    if (read(l->timer_fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
        return;
    for (;;) {
        int64_t now = now_ns();
        struct loop_timer *due = NULL;
        for (struct loop_timer *t = l->armed; t; t = t->next)
            if (t->deadline_ns <= now && (due == NULL || t->deadline_ns < due->deadline_ns))
                due = t;
        if (due == NULL)
            break;
        unlink_timer(l, due);
        due->fire(due->ctx);
    }
    program(l);
}

HOT_PATH int loop_run(struct loop *l)
{
    struct epoll_event events[LOOP_BATCH];
    while (l->running) {
        int n = epoll_wait(l->epfd, events, LOOP_BATCH, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        for (int i = 0; i < n && l->running; i++) {
            int fd = (int)(uint32_t)events[i].data.u64;
            uint32_t gen = (uint32_t)(events[i].data.u64 >> 32);
            struct loop_watch *w = (size_t)fd < l->nfds ? l->by_fd[fd] : NULL;
            /* Removed by an earlier callback of this batch (or removed and
             * the fd reused by a new registration): not this event's. */
            if (w == NULL || w->gen != gen)
                continue;
            w->cb(w->ctx, events[i].events);
        }
    }
    return 0;
}

void loop_stop(struct loop *l)
{
    l->running = 0;
}

HOT_PATH int64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
