/* Unit tests for src/memlimit.c: the container's memory limit and use from
 * cgroup files (a fake tree here), and whether a second generation fits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "memlimit.h"

static char root[64];

static void put(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    /* Make the directories on the way. */
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    snprintf(root, sizeof root, "/tmp/podvisor-memlimit-XXXXXX");
    return mkdtemp(root) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void read_at(const char *cgroup_text, long long *max, long long *used)
{
    put("proc-self-cgroup", cgroup_text);
    char file[256], sys[256];
    snprintf(file, sizeof file, "%s/proc-self-cgroup", root);
    snprintf(sys, sizeof sys, "%s/sys", root);
    memlimit_read(file, sys, max, used);
}

static void v2_at_the_named_path(void **state)
{
    put("sys/kubepods/pod1/memory.max", "268435456\n");
    put("sys/kubepods/pod1/memory.current", "104857600\n");
    long long max, used;
    read_at("0::/kubepods/pod1\n", &max, &used);
    assert_int_equal(max, 268435456);
    assert_int_equal(used, 104857600);
}

static void v2_at_the_root_in_a_cgroup_namespace(void **state)
{
    /* /proc/self/cgroup says "/" inside a cgroup namespace, or a path
     * the container cannot see: the mount's root is the container's. */
    put("sys/memory.max", "1000000\n");
    put("sys/memory.current", "400000\n");
    long long max, used;
    read_at("0::/not/visible/here\n", &max, &used);
    assert_int_equal(max, 1000000);
    assert_int_equal(used, 400000);
}

static void v2_without_a_limit(void **state)
{
    put("sys/memory.max", "max\n");
    put("sys/memory.current", "400000\n");
    long long max, used;
    read_at("0::/\n", &max, &used);
    assert_int_equal(max, -1);
}

static void v1_memory_controller(void **state)
{
    put("sys/memory/docker/abc/memory.limit_in_bytes", "67108864\n");
    put("sys/memory/docker/abc/memory.usage_in_bytes", "41943040\n");
    long long max, used;
    read_at("12:cpu,cpuacct:/docker/abc\n11:memory:/docker/abc\n1:name=systemd:/docker/abc\n", &max,
            &used);
    assert_int_equal(max, 67108864);
    assert_int_equal(used, 41943040);
}

static void v1_without_a_limit_says_a_huge_number(void **state)
{
    put("sys/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put("sys/memory/memory.usage_in_bytes", "41943040\n");
    long long max, used;
    read_at("11:memory:/\n", &max, &used);
    assert_int_equal(max, -1);
}

static void nothing_readable(void **state)
{
    long long max, used;
    read_at("garbage without colons\n", &max, &used);
    assert_int_equal(max, -1);
    assert_int_equal(used, -1);
    char missing[256];
    snprintf(missing, sizeof missing, "%s/no-such-file", root);
    memlimit_read(missing, missing, &max, &used);
    assert_int_equal(max, -1);
    assert_int_equal(used, -1);
}

/* The 256-of-400 MiB case from issue 23: it "may not fit" was let
 * through, and the OOM killer took the serving generation. There is no
 * such band now: it fits, or it is not started. */
static void a_second_generation_fits_or_not(void **state)
{
    const long long M = 1 << 20;
    assert_true(memlimit_second_fits(-1, 100 * M, 0));      /* no limit */
    assert_true(memlimit_second_fits(512 * M, -1, 0));      /* use not known */
    assert_true(memlimit_second_fits(512 * M, 100 * M, 0)); /* room for two */
    assert_true(memlimit_second_fits(200 * M, 100 * M, 0)); /* just room */
    assert_false(memlimit_second_fits(199 * M, 100 * M, 0));
    assert_false(memlimit_second_fits(400 * M, 256 * M, 0));
    assert_false(memlimit_second_fits(64 * M, 80 * M, 0)); /* over */
    /* --restart-memory: the user's budget instead of the working set */
    assert_true(memlimit_second_fits(400 * M, 256 * M, 100 * M));
    assert_false(memlimit_second_fits(400 * M, 256 * M, 145 * M));
    assert_true(memlimit_second_fits(400 * M, 256 * M, 144 * M));
}

/* The working set, as the kubelet counts it: page cache the kernel can drop
 * (inactive_file) is not the app's: 300 MB of cache beside a 6 MiB app made
 * a start-first restart fall back. */
static void the_working_set_leaves_out_inactive_file(void **state)
{
    put("sys/kubepods/pod2/memory.max", "419430400\n");
    put("sys/kubepods/pod2/memory.current", "320864256\n");
    put("sys/kubepods/pod2/memory.stat",
        "anon 6291456\nfile 314572800\nactive_file 10485760\ninactive_file 304087040\n");
    long long max, ws;
    read_at("0::/kubepods/pod2\n", &max, &ws);
    assert_int_equal(max, 419430400);
    assert_int_equal(ws, 320864256 - 304087040);
    assert_true(memlimit_second_fits(max, ws, 0));
    /* v1 names it total_inactive_file */
    put("sys/memory/k/memory.limit_in_bytes", "67108864\n");
    put("sys/memory/k/memory.usage_in_bytes", "41943040\n");
    put("sys/memory/k/memory.stat",
        "cache 30000000\ninactive_file 1\ntotal_inactive_file 30000000\n");
    read_at("11:memory:/k\n", &max, &ws);
    assert_int_equal(ws, 41943040 - 30000000);
    /* no memory.stat: the usage as it is */
    put("sys/kubepods/pod3/memory.max", "1000000\n");
    put("sys/kubepods/pod3/memory.current", "400000\n");
    read_at("0::/kubepods/pod3\n", &max, &ws);
    assert_int_equal(ws, 400000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(v2_at_the_named_path, setup, teardown),
        cmocka_unit_test_setup_teardown(v2_at_the_root_in_a_cgroup_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(v2_without_a_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(v1_memory_controller, setup, teardown),
        cmocka_unit_test_setup_teardown(v1_without_a_limit_says_a_huge_number, setup, teardown),
        cmocka_unit_test_setup_teardown(nothing_readable, setup, teardown),
        cmocka_unit_test(a_second_generation_fits_or_not),
        cmocka_unit_test_setup_teardown(the_working_set_leaves_out_inactive_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
