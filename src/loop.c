/* loop: see loop.h. */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Events read per epoll_wait; the rest wait for the next turn. */
#define LOOP_BATCH 32

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
    /* Running from the start: a loop_stop before loop_run (an action taken
     * while setting up) must hold, or loop_run would wait forever. */
    l->running = 1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    return l->epfd < 0 ? -errno : 0;
}

void loop_close(struct loop *l)
{
    if (l->epfd >= 0)
        close(l->epfd);
    free(l->by_fd);
    l->by_fd = NULL;
    l->nfds = 0;
    l->epfd = -1;
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

/* The earliest armed deadline (ns), or -1 with nothing armed. */
static int64_t first_deadline(const struct loop *l)
{
    int64_t first = -1;
    for (const struct loop_timer *t = l->armed; t; t = t->next)
        if (first < 0 || t->deadline_ns < first)
            first = t->deadline_ns;
    return first;
}

int loop_timer_arm(struct loop *l, struct loop_timer *t, int64_t ms)
{
    if (t->armed)
        unlink_timer(l, t);
    t->deadline_ns = now_ns() + (ms > 0 ? ms : 0) * 1000000;
    t->armed = 1;
    t->next = l->armed;
    l->armed = t;
    return 0;
}

int loop_timer_disarm(struct loop *l, struct loop_timer *t)
{
    if (t->armed)
        unlink_timer(l, t);
    return 0;
}

/* Fires every timer that is due, earliest first. A callback may arm or
 * disarm any timer, so the list is searched afresh after each one. */
static void fire_due(struct loop *l)
{
    while (l->running) {
        int64_t now = now_ns();
        struct loop_timer *due = NULL;
        for (struct loop_timer *t = l->armed; t; t = t->next)
            if (t->deadline_ns <= now && (due == NULL || t->deadline_ns < due->deadline_ns))
                due = t;
        if (due == NULL)
            return;
        unlink_timer(l, due);
        due->fire(due->ctx);
    }
}

/* Sleeps until an fd is ready or the earliest timer is due: the deadline is
 * epoll's own timeout, so arming a timer costs no system call (the stop
 * timeout is armed right after the stop signal goes out, while the app may
 * be waiting for this CPU). epoll_pwait2 takes nanoseconds; a kernel
 * before 5.11 has only epoll_wait's milliseconds, rounded up: a timer never
 * fires early, at most 1 ms late. */
static int wait_events(struct loop *l, struct epoll_event *events)
{
    int64_t first = first_deadline(l);
    if (first < 0)
        return epoll_wait(l->epfd, events, LOOP_BATCH, -1);
    int64_t left = first - now_ns();
    if (left < 0)
        left = 0;
    static int kernel_lacks_pwait2; /* found once: the kernel does not change */
    if (!l->no_pwait2 && !kernel_lacks_pwait2) {
        struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
        long n = syscall(SYS_epoll_pwait2, l->epfd, events, LOOP_BATCH, &ts, NULL, 0);
        if (n >= 0 || errno != ENOSYS)
            return (int)n;
        kernel_lacks_pwait2 = 1;
    }
    int64_t ms = (left + 999999) / 1000000;
    return epoll_wait(l->epfd, events, LOOP_BATCH, ms > 1000000000 ? 1000000000 : (int)ms);
}

int loop_run(struct loop *l)
{
    struct epoll_event events[LOOP_BATCH];
    fire_due(l); /* armed to fire at once before the loop ran */
    while (l->running) {
        int n = wait_events(l, events);
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
        fire_due(l);
    }
    return 0;
}

void loop_stop(struct loop *l)
{
    l->running = 0;
}

int64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
