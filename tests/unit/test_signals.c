/* Unit tests for src/signals.c: which signals are forwarded, and the read
 * of one pending signal from a signalfd. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "signals.h"

enum { SELF = 100, OTHER = 200 };

static int forwardable(int sig, pid_t sender, int code)
{
    struct signals_info si = {.sig = sig, .sender = sender, .code = code};
    return signals_forwardable(&si, SELF);
}

static void what_a_process_sends_is_forwarded(void **state)
{
    (void)state;
    assert_int_equal(forwardable(SIGTERM, OTHER, SI_USER), 1);
    assert_int_equal(forwardable(SIGHUP, 0, SI_KERNEL), 1); /* a hang-up from the tty */
    assert_int_equal(forwardable(SIGUSR1, OTHER, SI_QUEUE), 1);
    assert_int_equal(forwardable(SIGRTMIN, OTHER, SI_QUEUE), 1);
    assert_int_equal(forwardable(_NSIG - 1, OTHER, SI_QUEUE), 1); /* SIGRTMAX */
}

static void what_cannot_or_must_not_be_forwarded_is_not(void **state)
{
    (void)state;
    /* SIGCHLD reports podvisor's own children. */
    assert_int_equal(forwardable(SIGCHLD, 0, CLD_EXITED), 0);
    assert_int_equal(forwardable(SIGKILL, OTHER, SI_USER), 0);
    assert_int_equal(forwardable(SIGSTOP, OTHER, SI_USER), 0);
    assert_int_equal(forwardable(0, OTHER, SI_USER), 0);
    assert_int_equal(forwardable(-1, OTHER, SI_USER), 0);
    assert_int_equal(forwardable(_NSIG, OTHER, SI_USER), 0); /* past SIGRTMAX */
}

static void what_podvisor_raised_on_itself_is_not_forwarded(void **state)
{
    (void)state;
    assert_int_equal(forwardable(SIGPIPE, SELF, SI_USER), 0);
    assert_int_equal(forwardable(SIGPIPE, SELF, SI_TKILL), 0);
    /* Queued to itself is a message (sigqueue), as from anyone. */
    assert_int_equal(forwardable(SIGUSR1, SELF, SI_QUEUE), 1);
}

static void a_fault_is_forwarded_only_when_a_process_sent_it(void **state)
{
    (void)state;
    int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        assert_int_equal(forwardable(faults[i], 0, SI_KERNEL), 0);
        assert_int_equal(forwardable(faults[i], OTHER, SI_USER), 1);
        assert_int_equal(forwardable(faults[i], OTHER, SI_QUEUE), 1);
        assert_int_equal(forwardable(faults[i], OTHER, SI_TKILL), 1);
    }
    /* Not a fault signal: the kernel's own is forwarded (a tty's SIGINT). */
    assert_int_equal(forwardable(SIGINT, 0, SI_KERNEL), 1);
}

static void signals_are_read_one_at_a_time(void **state)
{
    (void)state;
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGRTMIN + 3);
    assert_int_equal(sigprocmask(SIG_BLOCK, &mask, NULL), 0);
    int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    assert_true(fd >= 0);

    struct signals_info si = {0};
    assert_int_equal(signals_read_one(fd, &si), 0); /* none pending */

    union sigval value = {.sival_int = 7};
    assert_int_equal(sigqueue(getpid(), SIGRTMIN + 3, value), 0);
    assert_int_equal(sigqueue(getpid(), SIGRTMIN + 3, value), 0);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    /* Standard signals come before real-time ones; each read takes one.
     * SIGRTMIN + 3: qemu-user never delivers 35 and 36 (docs/release.md). */
    assert_int_equal(signals_read_one(fd, &si), 1);
    assert_int_equal(si.sig, SIGUSR1);
    assert_int_equal(si.sender, getpid());
    assert_int_equal(si.code, SI_USER);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(signals_read_one(fd, &si), 1);
        assert_int_equal(si.sig, SIGRTMIN + 3);
        assert_int_equal(si.code, SI_QUEUE);
    }
    assert_int_equal(signals_read_one(fd, &si), 0);

    close(fd);
    assert_int_equal(sigprocmask(SIG_UNBLOCK, &mask, NULL), 0);
}

static void a_read_error_is_returned(void **state)
{
    (void)state;
    struct signals_info si;
    assert_int_equal(signals_read_one(-1, &si), -EBADF);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    /* Not a signalfd: a short read is an error, not a signal. */
    assert_int_equal(signals_read_one(p[0], &si), -EIO);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(what_a_process_sends_is_forwarded),
        cmocka_unit_test(what_cannot_or_must_not_be_forwarded_is_not),
        cmocka_unit_test(what_podvisor_raised_on_itself_is_not_forwarded),
        cmocka_unit_test(a_fault_is_forwarded_only_when_a_process_sent_it),
        cmocka_unit_test(signals_are_read_one_at_a_time),
        cmocka_unit_test(a_read_error_is_returned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
