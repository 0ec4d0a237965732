/* pathfilter: the --watch-include / --watch-exclude rules, and what a
 * filtered hash counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hash.h"
#include "pathfilter.h"

static void no_patterns_count_everything(void **state)
{
    (void)state;
    assert_false(pathfilter_active(NULL));
    struct pathfilter f = {0};
    assert_false(pathfilter_active(&f));
    assert_true(pathfilter_counts(&f, "a/b.c", 0));
    assert_true(pathfilter_counts(NULL, ".git", 1));
}

static void names_paths_and_directories(void **state)
{
    (void)state;
    char *inc[] = {"*.go", "go.mod", "templates/*.tmpl"};
    char *exc[] = {".git/", "vendor/", "tmp/", "*_test.go", "/build/"};
    struct pathfilter f = {inc, 3, exc, 5};
    assert_true(pathfilter_active(&f));
    /* A name pattern matches at any depth. */
    assert_true(pathfilter_counts(&f, "main.go", 0));
    assert_true(pathfilter_counts(&f, "cmd/server/main.go", 0));
    assert_true(pathfilter_counts(&f, "go.mod", 0));
    assert_true(pathfilter_counts(&f, "sub/go.mod", 0));
    assert_false(pathfilter_counts(&f, "README.md", 0));
    assert_false(pathfilter_counts(&f, "main.go.swp", 0));
    /* A pattern with a '/' is anchored, and '*' stops at a '/'. */
    assert_true(pathfilter_counts(&f, "templates/index.tmpl", 0));
    assert_false(pathfilter_counts(&f, "x/templates/index.tmpl", 0));
    assert_false(pathfilter_counts(&f, "templates/a/index.tmpl", 0));
    /* Exclusion wins over inclusion. */
    assert_false(pathfilter_counts(&f, "main_test.go", 0));
    assert_false(pathfilter_counts(&f, "pkg/x_test.go", 0));
    /* 'dir/' is for directories only, at any depth; '/dir/' only at the top. */
    assert_false(pathfilter_counts(&f, ".git", 1));
    assert_false(pathfilter_counts(&f, "sub/vendor", 1));
    assert_true(pathfilter_counts(&f, "tmp", 0) == 0); /* not included: no pattern names it */
    assert_false(pathfilter_counts(&f, "build", 1));
    assert_true(pathfilter_counts(&f, "cmd/build", 1));
    /* Directories are entered unless excluded, whatever the includes. */
    assert_true(pathfilter_counts(&f, "cmd", 1));
    assert_true(pathfilter_counts(&f, "docs", 1));
}

static void exclude_only(void **state)
{
    (void)state;
    char *exc[] = {"node_modules/", "*.log"};
    struct pathfilter f = {NULL, 0, exc, 2};
    assert_true(pathfilter_counts(&f, "index.js", 0));
    assert_true(pathfilter_counts(&f, "node_modules", 0)); /* a file of that name */
    assert_false(pathfilter_counts(&f, "node_modules", 1));
    assert_false(pathfilter_counts(&f, "a/b/debug.log", 0));
    assert_false(pathfilter_counts(&f, "logs.log", 1)); /* a name pattern: directories too */
}

static void bad_patterns_are_named(void **state)
{
    (void)state;
    assert_non_null(pathfilter_check(""));
    assert_non_null(pathfilter_check("/"));
    assert_non_null(pathfilter_check("//"));
    assert_null(pathfilter_check("*.go"));
    assert_null(pathfilter_check("vendor/"));
    assert_null(pathfilter_check("[a-"));
}

static char dir[128];

/* Runs a shell command with every %s standing for the test directory. */
static void sh(const char *cmd)
{
    char buf[1024];
    size_t o = 0;
    for (const char *p = cmd; *p && o + sizeof dir < sizeof buf; p++) {
        if (p[0] == '%' && p[1] == 's') {
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%s", dir);
            p++;
        } else {
            buf[o++] = *p;
        }
    }
    buf[o] = '\0';
    assert_int_equal(system(buf), 0);
}

static void hash_with(char *out, const struct pathfilter *f, int identity)
{
    char *paths[] = {dir};
    struct hash_opts o = {.filter = f, .identity_only = identity};
    assert_int_equal(hash_paths_with(paths, 1, &o, out, NULL, NULL), 0);
}

static void a_filtered_hash_sees_only_what_counts(void **state)
{
    (void)state;
    char *inc[] = {"*.go"};
    char *exc[] = {"tmp/"};
    struct pathfilter f = {inc, 1, exc, 1};
    char a[HASH_TEXT_LEN], b[HASH_TEXT_LEN];
    snprintf(dir, sizeof dir, "/tmp/podvisor-filter-%d", (int)getpid());
    sh("rm -rf %s && mkdir -p %s/cmd %s/tmp && echo 'package main' > %s/cmd/main.go");
    hash_with(a, &f, 0);
    /* What does not count changes nothing: other files, excluded
     * directories, new empty directories. */
    sh("echo x > %s/README.md && echo y > %s/tmp/out.go && mkdir %s/empty %s/cmd/more");
    hash_with(b, &f, 0);
    assert_string_equal(a, b);
    /* What counts does: its content, ... */
    sh("echo 'package main // 2' > %s/cmd/main.go");
    hash_with(b, &f, 0);
    assert_string_not_equal(a, b);
    /* ... where it is (the same content moved is a change), ... */
    hash_with(a, &f, 0);
    sh("mv %s/cmd/main.go %s/cmd/more/main.go");
    hash_with(b, &f, 0);
    assert_string_not_equal(a, b);
    /* ... and a new file that counts. */
    hash_with(a, &f, 0);
    sh("echo 'package x' > %s/cmd/x.go");
    hash_with(b, &f, 0);
    assert_string_not_equal(a, b);
    /* Unfiltered, as ever: the new empty directory counts. */
    hash_with(a, NULL, 0);
    sh("mkdir %s/empty2");
    hash_with(b, NULL, 0);
    assert_string_not_equal(a, b);
    sh("rm -rf %s");
}

static void an_identity_pass_sees_touches_and_writes(void **state)
{
    (void)state;
    char a[HASH_TEXT_LEN], b[HASH_TEXT_LEN];
    snprintf(dir, sizeof dir, "/tmp/podvisor-ident-%d", (int)getpid());
    sh("rm -rf %s && mkdir -p %s/d && echo v1 > %s/d/k && touch -d @1000000000 %s/d/k");
    hash_with(a, NULL, 1);
    hash_with(b, NULL, 1);
    assert_string_equal(a, b);
    /* Same size, new content, new time: seen. */
    sh("echo v2 > %s/d/k");
    hash_with(b, NULL, 1);
    assert_string_not_equal(a, b);
    /* A touch alone is seen by the pass (the content hash decides after). */
    hash_with(a, NULL, 1);
    sh("touch -d @1000000001 %s/d/k");
    hash_with(b, NULL, 1);
    assert_string_not_equal(a, b);
    /* A link out of the tree counts by its text, as in the content hash:
     * its target's moves (which no watch sees) are no change. */
    sh("echo 1 > %s.out && ln -s %s.out %s/d/link");
    hash_with(a, NULL, 1);
    sh("echo 22 > %s.out");
    hash_with(b, NULL, 1);
    assert_string_equal(a, b);
    sh("rm -rf %s %s.out");
}

static void hash_cached(char *out, struct hash_cache *c)
{
    char *paths[] = {dir};
    struct hash_opts o = {.cache = c};
    assert_int_equal(hash_paths_with(paths, 1, &o, out, NULL, NULL), 0);
}

/* The per-file digest cache gives the hash an uncached walk gives, keeps
 * settled files only, sees every change (ctime moves on any write), and
 * forgets what left the tree. */
static void the_digest_cache_changes_nothing_but_the_reads(void **state)
{
    (void)state;
    char a[HASH_TEXT_LEN], b[HASH_TEXT_LEN], plain[HASH_TEXT_LEN];
    struct hash_cache *c = hash_cache_new();
    assert_non_null(c);
    snprintf(dir, sizeof dir, "/tmp/podvisor-cache-%d", (int)getpid());
    /* Settled: written more than 2 s ago, as far as their times say. */
    sh("rm -rf %s && mkdir -p %s/d && echo v1 > %s/d/k && echo other > %s/o");
    sh("touch -d @1000000000 %s/d/k %s/o");
    /* ctime cannot be set back: wait until these are 2 s old. */
    sleep(3);
    hash_cached(a, c);
    hash_with(plain, NULL, 0);
    assert_string_equal(a, plain);
    assert_int_equal(hash_cache_size(c), 2);
    hash_cached(b, c);
    assert_string_equal(a, b);
    /* Same size, the mtime put back: the ctime still tells. */
    sh("echo v2 > %s/d/k && touch -d @1000000000 %s/d/k");
    hash_cached(b, c);
    assert_string_not_equal(a, b);
    hash_with(plain, NULL, 0);
    assert_string_equal(b, plain);
    /* Just written: not kept, so a second write within the same tick of
     * the times' clock is still read. */
    assert_int_equal(hash_cache_size(c), 1);
    sh("echo v3 > %s/d/k");
    hash_cached(a, c);
    assert_string_not_equal(a, b);
    hash_with(plain, NULL, 0);
    assert_string_equal(a, plain);
    /* Gone from the tree: gone from the cache. */
    sh("rm %s/o");
    hash_cached(a, c);
    assert_int_equal(hash_cache_size(c), 0);
    hash_cache_free(c);
    sh("rm -rf %s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_patterns_count_everything),
        cmocka_unit_test(names_paths_and_directories),
        cmocka_unit_test(exclude_only),
        cmocka_unit_test(bad_patterns_are_named),
        cmocka_unit_test(a_filtered_hash_sees_only_what_counts),
        cmocka_unit_test(an_identity_pass_sees_touches_and_writes),
        cmocka_unit_test(the_digest_cache_changes_nothing_but_the_reads),
    };
    return cmocka_run_group_tests_name("pathfilter", tests, NULL, NULL);
}
