/* Unit tests for src/loop.c: deletion-safe dispatch, timers on one timerfd,
 * and failure injection (-Wl,--wrap=epoll_ctl,--wrap=close) for set-up. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "loop.h"

/* --- failure injection ------------------------------------------------ */
int __real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __real_close(int fd);
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __wrap_close(int fd);

static int fail_epoll_ctl; /* errno to fail EPOLL_CTL_ADD with, 0: none */
static int closes[4096];   /* closes seen per fd number */

int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    if (fail_epoll_ctl && op == EPOLL_CTL_ADD) {
        errno = fail_epoll_ctl;
        return -1;
    }
    return __real_epoll_ctl(epfd, op, fd, ev);
}

int __wrap_close(int fd)
{
    if (fd >= 0 && fd < 4096)
        closes[fd]++;
    return __real_close(fd);
}

/* --- dispatch ---------------------------------------------------------- */
struct victim {
    struct loop_watch w;
    int fd[2];
    int *calls;
};

static struct loop l;
static struct victim *va, *vb;
static int calls_a, calls_b, calls_d;
static struct loop_watch wd;
static int d_fd[2];

static struct victim *victim_new(int *calls)
{
    struct victim *v = calloc(1, sizeof *v);
    assert_non_null(v);
    assert_int_equal(pipe2(v->fd, O_CLOEXEC | O_NONBLOCK), 0);
    assert_int_equal(write(v->fd[1], "x", 1), 1); /* readable from the start */
    v->calls = calls;
    return v;
}

static void victim_free(struct victim **v)
{
    if (*v == NULL)
        return;
    loop_del(&l, &(*v)->w);
    close((*v)->fd[0]);
    close((*v)->fd[1]);
    free(*v);
    *v = NULL;
}

static void on_d(void *ctx, uint32_t events)
{
    calls_d++;
}

/* Whichever of a and b runs first removes and frees the other, closes its
 * fds and registers a new pipe that may take the freed fd number. */
static void on_victim(void *ctx, uint32_t events)
{
    struct victim *self = ctx;
    (*self->calls)++;
    struct victim **other = self == va ? &vb : &va;
    victim_free(other);
    assert_int_equal(pipe2(d_fd, O_CLOEXEC | O_NONBLOCK), 0);
    assert_int_equal(loop_add(&l, &wd, d_fd[0], EPOLLIN, on_d, NULL), 0);
    victim_free(self == va ? &va : &vb);
}

static void stop(void *ctx)
{
    loop_stop(ctx);
}

static void dispatch_survives_removal_in_the_same_batch(void **state)
{
    assert_int_equal(loop_init(&l), 0);
    calls_a = calls_b = calls_d = 0;
    va = victim_new(&calls_a);
    vb = victim_new(&calls_b);
    assert_int_equal(loop_add(&l, &va->w, va->fd[0], EPOLLIN, on_victim, va), 0);
    assert_int_equal(loop_add(&l, &vb->w, vb->fd[0], EPOLLIN, on_victim, vb), 0);
    struct loop_timer t;
    loop_timer_init(&t, stop, &l);
    assert_int_equal(loop_timer_arm(&l, &t, 30), 0);
    assert_int_equal(loop_run(&l), 0);
    /* both were readable in one batch: only the first was called, and the
     * new registration on a reused fd number never got the stale event */
    assert_int_equal(calls_a + calls_b, 1);
    assert_int_equal(calls_d, 0);
    loop_del(&l, &wd);
    close(d_fd[0]);
    close(d_fd[1]);
    loop_close(&l);
}

/* --- timers ------------------------------------------------------------ */
static char order[8];
static int norder;
struct named {
    struct loop_timer t;
    char name;
};
static struct named t1, t2, t3;

static void record(void *ctx)
{
    struct named *n = ctx;
    order[norder++] = n->name;
    if (n == &t2) /* a callback re-arms another timer */
        loop_timer_arm(&l, &t3.t, 5);
    if (n == &t1)
        loop_stop(&l);
}

static void timers_fire_in_deadline_order(void **state)
{
    assert_int_equal(loop_init(&l), 0);
    norder = 0;
    memset(order, 0, sizeof order);
    t1.name = '1', t2.name = '2', t3.name = '3';
    loop_timer_init(&t1.t, record, &t1);
    loop_timer_init(&t2.t, record, &t2);
    loop_timer_init(&t3.t, record, &t3);
    assert_int_equal(loop_timer_arm(&l, &t1.t, 60), 0);
    assert_int_equal(loop_timer_arm(&l, &t3.t, 20), 0);
    assert_int_equal(loop_timer_arm(&l, &t2.t, 10), 0);
    assert_int_equal(loop_timer_disarm(&l, &t3.t), 0); /* never fires at 20 ms ... */
    assert_int_equal(loop_run(&l), 0);
    assert_string_equal(order, "231"); /* ... only when t2 re-armed it */
    /* nothing armed: the timerfd is disarmed, so an idle loop sleeps */
    struct itimerspec its;
    assert_int_equal(timerfd_gettime(l.timer_fd, &its), 0);
    assert_true(its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0);
    loop_close(&l);
}

/* A failed registration of the timerfd used to leave an fd that was closed
 * twice; every fd loop_init opened is closed exactly once on failure. */
static void init_failure_closes_each_fd_once(void **state)
{
    memset(closes, 0, sizeof closes);
    fail_epoll_ctl = ENOMEM;
    int rc = loop_init(&l);
    fail_epoll_ctl = 0;
    assert_int_equal(rc, -ENOMEM);
    int closed = 0;
    for (int fd = 0; fd < 4096; fd++) {
        assert_true(closes[fd] <= 1);
        closed += closes[fd];
    }
    assert_int_equal(closed, 2); /* the epoll fd and the timerfd */
    assert_int_equal(l.epfd, -1);
    assert_int_equal(l.timer_fd, -1);
    loop_close(&l); /* and closing again is harmless */
}

static void add_rejects_a_bad_fd(void **state)
{
    assert_int_equal(loop_init(&l), 0);
    struct loop_watch w;
    assert_int_equal(loop_add(&l, &w, -1, EPOLLIN, on_d, NULL), -EBADF);
    assert_int_equal(loop_add(&l, &w, 4000, EPOLLIN, on_d, NULL), -EBADF); /* not open */
    assert_int_equal(loop_del(&l, &w), -ENOENT);                           /* never registered */
    loop_close(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dispatch_survives_removal_in_the_same_batch),
        cmocka_unit_test(timers_fire_in_deadline_order),
        cmocka_unit_test(init_failure_closes_each_fd_once),
        cmocka_unit_test(add_rejects_a_bad_fd),
    };
    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
