/* Unit tests for src/child.c: the exec plan (execvp's search, prepared
 * before fork), the fd closer's fallback, the exec-result pipe, and a
 * failure to make the process injected with -Wl,--wrap=clone. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "child.h"
#include "waitstatus.h"

/* child_spawn makes the child with clone(CLONE_VM|CLONE_VFORK). */
int __real_clone(int (*fn)(void *), void *stack, int flags, void *arg, ...);
int __wrap_clone(int (*fn)(void *), void *stack, int flags, void *arg, ...);
static int fail_fork;

int __wrap_clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
    if (fail_fork) {
        errno = EAGAIN;
        return -1;
    }
    return __real_clone(fn, stack, flags, arg);
}

/* ... and the sanitizer build with fork(). */
pid_t __real_fork(void);
pid_t __wrap_fork(void);
pid_t __wrap_fork(void)
{
    if (fail_fork) {
        errno = EAGAIN;
        return -1;
    }
    return __real_fork();
}

static void plan_follows_path_like_execvp(void **state)
{
    char *argv[] = {"app", "--flag", NULL};
    setenv("PATH", "/nonexistent:/usr/bin::/bin", 1);
    struct child_exec_plan p;
    assert_int_equal(child_plan_build(&p, argv), 0);
    assert_int_equal(p.npaths, 4);
    assert_string_equal(p.paths[0], "/nonexistent/app");
    assert_string_equal(p.paths[1], "/usr/bin/app");
    assert_string_equal(p.paths[2], "app"); /* an empty element: the current directory */
    assert_string_equal(p.paths[3], "/bin/app");
    /* execvp's fallback for a file without #!: /bin/sh FILE ARGS */
    assert_string_equal(p.sh_argv[0], "/bin/sh");
    assert_null(p.sh_argv[1]); /* the file, filled in by the child */
    assert_string_equal(p.sh_argv[2], "--flag");
    assert_null(p.sh_argv[3]);
    child_plan_free(&p);

    char *with_slash[] = {"./bin/app", NULL};
    assert_int_equal(child_plan_build(&p, with_slash), 0);
    assert_int_equal(p.npaths, 1);
    assert_string_equal(p.paths[0], "./bin/app"); /* no search */
    child_plan_free(&p);

    char *empty[] = {"", NULL};
    assert_int_equal(child_plan_build(&p, empty), 0);
    assert_int_equal(p.npaths, 1); /* never searched: execve("") fails ENOENT */
    child_plan_free(&p);

    unsetenv("PATH");
    assert_int_equal(child_plan_build(&p, argv), 0);
    assert_int_equal(p.npaths, 2); /* glibc's default: /bin:/usr/bin */
    assert_string_equal(p.paths[0], "/bin/app");
    child_plan_free(&p);
}

/* Without close_range, the closer reads /proc/self/fd: fds far above 65536
 * (runtimes set nofile limits of a million) are closed too. */
static void fallback_closes_fds_above_65536(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = {1 << 17, 1 << 17};
        int high = 70000;
        /* Without the privilege (or under valgrind, which keeps the top fds)
         * a lower high fd still shows the listing at work. */
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || dup2(1, high) < 0)
            high = 900;
        if (dup2(1, high) < 0 || dup2(1, 7) < 0 || dup2(1, 12) < 0)
            _exit(10);
        child_close_other_fds((const int[]){7}, 1, 0);
        if (fcntl(high, F_GETFD) != -1 || errno != EBADF)
            _exit(11);
        if (fcntl(12, F_GETFD) != -1)
            _exit(12);
        if (fcntl(7, F_GETFD) < 0 || fcntl(2, F_GETFD) < 0)
            _exit(13); /* kept: `keep` and 0..2 */
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void exec_result_pipe(void **state)
{
    int fds[2], err = -1;
    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    assert_int_equal(child_exec_result(fds[0], &err), CHILD_EXEC_PENDING);
    int e = EACCES;
    assert_int_equal(write(fds[1], &e, sizeof e), sizeof e);
    assert_int_equal(child_exec_result(fds[0], &err), CHILD_EXEC_FAILED);
    assert_int_equal(err, EACCES);
    close(fds[1]);
    assert_int_equal(child_exec_result(fds[0], &err), CHILD_EXEC_OK); /* EOF */
    close(fds[0]);
    /* a short read is not success: the outcome is unknown */
    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    assert_int_equal(write(fds[1], "ab", 2), 2);
    close(fds[1]);
    assert_int_equal(child_exec_result(fds[0], &err), CHILD_EXEC_LOST);
    assert_int_equal(err, EIO);
    close(fds[0]);
    /* ... nor is a failed read */
    assert_int_equal(child_exec_result(-1, &err), CHILD_EXEC_LOST);
    assert_int_equal(err, EBADF);
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static enum child_exec_result wait_exec(int fd, int *err)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    return child_exec_result(fd, err);
}

static void spawn_reports_the_exec_through_the_pipe(void **state)
{
    setenv("PATH", "/usr/bin:/bin", 1);
    char *ok[] = {"true", NULL};
    pid_t pid;
    int fd, err, status;
    assert_int_equal(child_spawn(ok, NULL, &pid, &fd), 0);
    assert_int_equal(wait_exec(fd, &err), CHILD_EXEC_OK);
    close(fd);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(waitstatus_code(status), 0);

    char *missing[] = {"no-such-command-podvisor", NULL};
    assert_int_equal(child_spawn(missing, NULL, &pid, &fd), 0);
    assert_int_equal(wait_exec(fd, &err), CHILD_EXEC_FAILED);
    assert_int_equal(err, ENOENT);
    assert_int_equal(child_exec_error_code(err), 127);
    assert_int_equal(child_exec_error_code(EACCES), 126);
    assert_int_equal(child_exec_error_code(EMFILE), 1);
    assert_int_equal(child_exec_error_code(ENFILE), 1);
    close(fd);
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void fork_failure_is_an_error_not_a_leak(void **state)
{
    char *argv[] = {"true", NULL};
    pid_t pid = 0;
    int fd = -1;
    int before = count_fds();
    fail_fork = 1;
    int rc = child_spawn(argv, NULL, &pid, &fd);
    fail_fork = 0;
    assert_int_equal(rc, -EAGAIN);
    assert_int_equal(fd, -1);
    assert_int_equal(count_fds(), before); /* the exec pipe was closed */
}

static void read_all(int fd, char *buf, size_t len)
{
    size_t o = 0;
    ssize_t n;
    while (o + 1 < len && (n = read(fd, buf + o, len - 1 - o)) > 0)
        o += (size_t)n;
    buf[o] = '\0';
}

/* The fd map: a source that is another entry's target is not overwritten
 * before use, the child sees exactly the targets (no other fd, not the
 * exec pipe), and the pid slot holds the child's own pid. */
static void spawn_maps_fds_and_writes_the_pid_slot(void **state)
{
    setenv("PATH", "/usr/bin:/bin", 1);
    int a[2], b[2];
    assert_int_equal(pipe2(a, O_CLOEXEC), 0);
    assert_int_equal(pipe2(b, O_CLOEXEC), 0);
    /* Out of the way, then the writers at 3 (a) and 4 (b), to be swapped:
     * each source is the other entry's target. */
    int pipes[4] = {a[0], a[1], b[0], b[1]};
    for (int i = 0; i < 4; i++) {
        int high = fcntl(pipes[i], F_DUPFD_CLOEXEC, 20);
        assert_true(high >= 20);
        close(pipes[i]);
        pipes[i] = high;
    }
    a[0] = pipes[0], b[0] = pipes[2];
    assert_int_equal(dup3(pipes[1], 3, O_CLOEXEC), 3);
    assert_int_equal(dup3(pipes[3], 4, O_CLOEXEC), 4);
    close(pipes[1]);
    close(pipes[3]);
    a[1] = 3, b[1] = 4;
    int a3 = 3;
    char slot[CHILD_PID_SLOT_LEN] = "LISTEN_PID=";
    char *envp[] = {"PATH=/usr/bin:/bin", slot, NULL};
    struct child_fd_map map[] = {{.source = b[1], .target = 3}, {.source = a3, .target = 4}};
    char *argv[] = {"sh", "-c",
                    "echo three $LISTEN_PID $$ >&3; echo four >&4; "
                    "for f in 5 6 7 8 9 10 11 12; do [ -e /dev/fd/$f ] && echo leak $f >&3; done; "
                    "exit 0",
                    NULL};
    struct child_spawn_opts opts = {
        .output_fd = -1, .helper = 1, .envp = envp, .fds = map, .nfds = 2, .pid_slot = slot};
    pid_t pid;
    int fd, err, status;
    assert_int_equal(child_spawn(argv, &opts, &pid, &fd), 0);
    assert_int_equal(wait_exec(fd, &err), CHILD_EXEC_OK);
    close(fd);
    close(a3);
    close(b[1]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(waitstatus_code(status), 0);
    char got[256], want[64];
    read_all(b[0], got, sizeof got);
    snprintf(want, sizeof want, "three %d %d\n", (int)pid, (int)pid);
    assert_string_equal(got, want);
    read_all(a[0], got, sizeof got);
    assert_string_equal(got, "four\n");
    assert_string_equal(slot, "LISTEN_PID="); /* podvisor's copy is untouched */
    close(a[0]);
    close(b[0]);

    struct child_fd_map bad = {.source = 999, .target = 3};
    opts.fds = &bad;
    opts.nfds = 1;
    assert_int_equal(child_spawn(argv, &opts, &pid, &fd), 0);
    assert_int_equal(wait_exec(fd, &err), CHILD_EXEC_FAILED);
    assert_int_equal(err, EBADF); /* a source that is not open fails the exec, said as such */
    close(fd);
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void wait_statuses_decoded_once(void **state)
{
    char buf[64];
    assert_int_equal(waitstatus_code(3 << 8), 3);
    assert_int_equal(waitstatus_code(9), 137);
    assert_int_equal(waitstatus_code(11 | 0x80), 139); /* core dumped */
    assert_int_equal(waitstatus_signal(3 << 8), 0);
    assert_int_equal(waitstatus_signal(15), 15);
    assert_string_equal(waitstatus_describe(3 << 8, buf, sizeof buf), "exited with status 3");
    assert_string_equal(waitstatus_describe(15, buf, sizeof buf), "killed by SIGTERM");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plan_follows_path_like_execvp),
        cmocka_unit_test(fallback_closes_fds_above_65536),
        cmocka_unit_test(exec_result_pipe),
        cmocka_unit_test(spawn_reports_the_exec_through_the_pipe),
        cmocka_unit_test(fork_failure_is_an_error_not_a_leak),
        cmocka_unit_test(spawn_maps_fds_and_writes_the_pid_slot),
        cmocka_unit_test(wait_statuses_decoded_once),
    };
    return cmocka_run_group_tests_name("child", tests, NULL, NULL);
}
