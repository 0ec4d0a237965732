/* Unit tests for src/watch.c: with no inotify instance to be had (the
 * node's fs.inotify.max_user_instances used up), the watcher polls and a
 * change is still acted on, instead of podvisor never starting the app. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "loop.h"
#include "watch.h"

int __real_inotify_init1(int flags);
int __wrap_inotify_init1(int flags);
static int fail_inotify;

int __wrap_inotify_init1(int flags)
{
    if (fail_inotify) {
        errno = EMFILE;
        return -1;
    }
    return __real_inotify_init1(flags);
}

static struct loop loop;
static struct loop_timer change_timer, give_up;
static char dir[64], key[96];
static int changes;

static void on_change(void *ctx, const char *hash)
{
    changes++;
    loop_stop(&loop);
}

static void write_key(const char *v)
{
    FILE *f = fopen(key, "w");
    assert_non_null(f);
    fputs(v, f);
    fclose(f);
}

static void change(void *ctx)
{
    write_key("v2");
}
static void stop(void *ctx)
{
    loop_stop(&loop);
}

static void run_once(int without_inotify)
{
    fail_inotify = without_inotify;
    changes = 0;
    snprintf(dir, sizeof dir, "/tmp/podvisor-watch-%d", (int)getpid());
    snprintf(key, sizeof key, "%s/key", dir);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    assert_int_equal(system(cmd), 0);
    write_key("v1");
    assert_int_equal(loop_init(&loop), 0);
    char *paths[] = {dir};
    struct strlist sl = {.v = paths, .n = 1};
    char err[256] = "";
    struct watch_settings ws = {.paths = &sl, .debounce_ms = 50};
    struct watch *w = watch_start(&ws, &loop, on_change, NULL, err, sizeof err);
    assert_non_null(w);
    loop_timer_init(&change_timer, change, NULL);
    loop_timer_init(&give_up, stop, NULL);
    loop_timer_arm(&loop, &change_timer, 100);
    loop_timer_arm(&loop, &give_up, 5000);
    loop_run(&loop);
    assert_int_equal(changes, 1);
    loop_timer_disarm(&loop, &give_up);
    watch_stop(w);
    loop_close(&loop);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void a_change_is_seen_with_inotify(void **state)
{
    run_once(0);
}

static void a_change_is_seen_by_polling_without_inotify(void **state)
{
    run_once(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_change_is_seen_with_inotify),
        cmocka_unit_test(a_change_is_seen_by_polling_without_inotify),
    };
    return cmocka_run_group_tests_name("watch", tests, NULL, NULL);
}
