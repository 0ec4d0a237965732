/* Unit tests for src/procs.c: which processes a sidecar signals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "procs.h"

static const struct proc_entry table[] = {
    {1, 0, "pause", "pause", "", 0},
    {10, 1, "nginx", "nginx", "", 0},  /* master */
    {11, 10, "nginx", "nginx", "", 0}, /* workers: same name, not signalled */
    {12, 10, "nginx", "nginx", "", 0},
    {20, 1, "sh", "dash", "", 0},
    {21, 20, "nginx", "", "", 0},             /* exe unreadable: comm decides */
    {22, 21, "cache-loader", "nginx", "", 0}, /* renamed comm, same exe: under 21 */
    {30, 1, "podvisor", "podvisor", "", 0},   /* self */
    {31, 30, "nginx", "nginx", "", 0},        /* podvisor's own `nginx -t` */
    {40, 1, "prometheus-conf", "prometheus-config-reloader", "", 0},
    /* exe unreadable (another user): a cut comm and argv[0] */
    {50, 1, "my-long-service", "", "my-long-service-a", 0},
    {60, 1, "zombie", "zombie", "zombie", 'Z'}, /* dead: never signalled */
    {61, 1, "zombie", "zombie", "zombie", 'S'},
};
#define N (sizeof table / sizeof table[0])

static size_t pick(const char *name, size_t *out)
{
    char *names[] = {(char *)name};
    return procs_select(table, N, names, 1, 30, out);
}

static void top_of_each_tree_only(void **state)
{
    size_t out[N];
    size_t k = pick("nginx", out);
    assert_int_equal(k, 2);
    assert_int_equal(table[out[0]].pid, 10);
    assert_int_equal(table[out[1]].pid, 21);
}

static void names_match_exe_or_cut_comm(void **state)
{
    size_t out[N];
    assert_int_equal(pick("dash", out), 1); /* the executable's name */
    assert_int_equal(pick("sh", out), 1);   /* its comm */
    /* comm is cut to 15 bytes by the kernel; the exe's name is whole. */
    assert_int_equal(pick("prometheus-config-reloader", out), 1);
    /* 15 bytes: the cut comm of a longer name is not this name. */
    assert_int_equal(pick("prometheus-conf", out), 0);
    /* Past 15 bytes, with no exe to read, argv[0] decides: a name that
     * only shares the first 15 bytes is not taken. */
    assert_int_equal(pick("my-long-service-a", out), 1);
    assert_int_equal(pick("my-long-service-b", out), 0);
    assert_int_equal(pick("zombie", out), 1);
    assert_int_equal(table[out[0]].pid, 61);
    assert_int_equal(pick("prometheus", out), 0);
    assert_int_equal(pick("ngin", out), 0);
    assert_int_equal(pick("podvisor", out), 0); /* never itself */
}

static void scan_finds_this_process(void **state)
{
    struct proc_entry *t;
    size_t n;
    assert_int_equal(procs_scan(&t, &n), 0);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i].pid == getpid()) {
            found = 1;
            assert_int_equal(t[i].ppid, getppid());
            assert_true(procs_match(&t[i], "test_procs"));
        }
    free(t);
    assert_true(found);
}

/* A generation's tree: its leader, a descendant, and a process that left
 * the tree (its parent exited, as after a double fork) but kept the
 * group: sd_notify from any of them is that generation's. */
static void a_process_that_left_its_tree_keeps_its_group(void **state)
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t leader = fork();
    assert_true(leader >= 0);
    if (leader == 0) {
        setpgid(0, 0);
        pid_t mid = fork();
        if (mid == 0) {
            pid_t orphan = fork();
            if (orphan == 0) {
                pause();
                _exit(0);
            }
            if (write(pipefd[1], &orphan, sizeof orphan) != sizeof orphan)
                _exit(1);
            _exit(0); /* the orphan loses its parent */
        }
        waitpid(mid, NULL, 0);
        pause();
        _exit(0);
    }
    pid_t orphan;
    assert_int_equal(read(pipefd[0], &orphan, sizeof orphan), (ssize_t)sizeof orphan);
    /* wait until it is re-parented away from the leader's tree */
    for (int i = 0; i < 200 && procs_parent(orphan) != 1 && procs_descends_from(orphan, leader);
         i++)
        usleep(10000);
    assert_int_equal(procs_group(orphan), leader);
    assert_true(procs_in_tree(orphan, leader));
    assert_true(procs_in_tree(leader, leader));
    assert_false(procs_in_tree(getpid(), leader));
    kill(-leader, SIGKILL);
    waitpid(leader, NULL, 0);
    close(pipefd[0]);
    close(pipefd[1]);
    assert_int_equal(procs_group(999999999), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(top_of_each_tree_only),
        cmocka_unit_test(names_match_exe_or_cut_comm),
        cmocka_unit_test(scan_finds_this_process),
        cmocka_unit_test(a_process_that_left_its_tree_keeps_its_group),
    };
    return cmocka_run_group_tests_name("procs", tests, NULL, NULL);
}
