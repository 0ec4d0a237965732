/* Unit tests for src/hash.c: what changes the content hash, and what not,
 * filtered, in a stat-only pass and through the digest cache. */
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

#include "hash.h"
#include "pathfilter.h"

static char dir[64];

static void put(const char *rel, const char *content)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void hash_of(char *out)
{
    char *paths[] = {dir};
    enum hash_found found[1];
    assert_int_equal(hash_paths(paths, 1, out, found, NULL), 0);
    assert_int_equal(found[0], HASH_DIR);
    assert_int_equal(strncmp(out, "sha256:", 7), 0);
    assert_int_equal(strlen(out), 71);
}

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

static void content_decides(void **state)
{
    char a[HASH_TEXT_LEN], b[HASH_TEXT_LEN];
    snprintf(dir, sizeof dir, "/tmp/podvisor-hash-%d", (int)getpid());
    sh("rm -rf %s && mkdir -p %s");
    put("k1", "one");
    put("k2", "two");
    hash_of(a);
    /* A touch and a no-op rewrite: nothing. */
    sh("touch %s/k1 && chmod 600 %s/k2");
    put("k1", "one");
    hash_of(b);
    assert_string_equal(a, b);
    /* A content change, a rename, a new file: each a change. */
    put("k1", "uno");
    hash_of(b);
    assert_string_not_equal(a, b);
    put("k1", "one");
    hash_of(b);
    assert_string_equal(a, b);
    sh("mv %s/k2 %s/k3");
    hash_of(b);
    assert_string_not_equal(a, b);
    sh("mv %s/k3 %s/k2");
    /* A FIFO neither blocks nor breaks it. */
    sh("mkfifo %s/pipe");
    hash_of(b);
    assert_string_not_equal(a, b);
    sh("rm %s/pipe");
    hash_of(b);
    assert_string_equal(a, b);
    sh("rm -rf %s");
}

static void atomic_writer_swap_of_equal_content_is_no_change(void **state)
{
    char a[HASH_TEXT_LEN], b[HASH_TEXT_LEN];
    snprintf(dir, sizeof dir, "/tmp/podvisor-hash-cm-%d", (int)getpid());
    sh("rm -rf %s && mkdir -p %s/..2026_01_01_00_00_00.1 && echo v1 > "
       "%s/..2026_01_01_00_00_00.1/key");
    sh("cd %s && ln -s ..2026_01_01_00_00_00.1 ..data && ln -s ..data/key key");
    hash_of(a);
    /* The kubelet's swap with the same content: no change. */
    sh("mkdir %s/..2026_01_01_00_00_01.2 && echo v1 > %s/..2026_01_01_00_00_01.2/key");
    sh("cd %s && ln -s ..2026_01_01_00_00_01.2 ..data_tmp && mv -T ..data_tmp ..data && "
       "rm -rf ..2026_01_01_00_00_00.1");
    hash_of(b);
    assert_string_equal(a, b);
    /* ... and with new content: a change, seen through key -> ..data/key. */
    sh("mkdir %s/..2026_01_01_00_00_02.3 && echo v2 > %s/..2026_01_01_00_00_02.3/key");
    sh("cd %s && ln -s ..2026_01_01_00_00_02.3 ..data_tmp && mv -T ..data_tmp ..data");
    hash_of(b);
    assert_string_not_equal(a, b);
    /* A file watched alone hashes as its content, wherever it is. */
    char file[128], other[128], h1[HASH_TEXT_LEN], h2[HASH_TEXT_LEN];
    snprintf(file, sizeof file, "%s/key", dir);
    snprintf(other, sizeof other, "%s/copy", dir);
    sh("cp %s/key %s/copy");
    char *p1[] = {file}, *p2[] = {other};
    assert_int_equal(hash_paths(p1, 1, h1, NULL, NULL), 0);
    assert_int_equal(hash_paths(p2, 1, h2, NULL, NULL), 0);
    assert_string_equal(h1, h2);
    /* A missing path is hashed as missing, not an error. */
    char *missing[] = {"/nonexistent/podvisor"};
    enum hash_found found[1];
    assert_int_equal(hash_paths(missing, 1, h1, found, NULL), 0);
    assert_int_equal(found[0], HASH_MISSING);
    sh("rm -rf %s");
}

static void notes_of(char *out, struct hash_notes *hn)
{
    char *paths[] = {dir};
    assert_int_equal(hash_paths(paths, 1, out, NULL, hn), 0);
}

/* Links to "." and ".." and to "/" once took seconds, minutes or forever
 * (each link doubled the walk): a directory already on the path is not
 * entered again, and nothing outside the watched tree is walked. */
static void symlink_loops_and_links_out_are_bounded(void **state)
{
    char a[HASH_TEXT_LEN], b[HASH_TEXT_LEN];
    struct hash_notes hn;
    snprintf(dir, sizeof dir, "/tmp/podvisor-hash-loop-%d", (int)getpid());
    sh("rm -rf %s && mkdir -p %s/sub && echo v1 > %s/k1 && echo v2 > %s/sub/k2");
    sh("cd %s && ln -s . a && ln -s . b && ln -s . c && ln -s .. up && ln -s / root && "
       "ln -s ../.. sub/upup && ln -s sub s2");
    notes_of(a, &hn);
    assert_true(hn.loops >= 3);
    assert_true(hn.outside >= 3); /* up, root, sub/upup */
    assert_non_null(strstr(hn.first, dir));
    /* A link inside the tree to a directory not on the path is followed:
     * its content counts (s2 -> sub). */
    put("sub/k2", "v3");
    notes_of(b, &hn);
    assert_string_not_equal(a, b);
    /* Where a link out points counts by its text. */
    sh("cd %s && rm root && ln -s /usr root");
    notes_of(a, &hn);
    assert_string_not_equal(a, b);
    sh("rm -rf %s");
}

/* A big file is hashed by identity, size and times: a 2 GB sparse file
 * once blocked the loop for 1.9 s. */
static void content_past_the_budget_is_hashed_by_identity(void **state)
{
    char a[HASH_TEXT_LEN], b[HASH_TEXT_LEN];
    struct hash_notes hn;
    snprintf(dir, sizeof dir, "/tmp/podvisor-hash-big-%d", (int)getpid());
    sh("rm -rf %s && mkdir -p %s && echo small > %s/k && truncate -s 2G %s/big");
    notes_of(a, &hn);
    assert_int_equal(hn.big, 1);
    assert_int_equal(hn.loops + hn.outside + hn.unreadable + hn.truncated, 0);
    assert_non_null(strstr(hn.first, "/big: past the content budget"));
    notes_of(b, &hn);
    assert_string_equal(a, b);
    sh("truncate -s 3G %s/big");
    notes_of(b, &hn);
    assert_string_not_equal(a, b);
    /* Under the budget, content decides as ever. */
    sh("rm %s/big");
    notes_of(a, &hn);
    assert_int_equal(hn.big, 0);
    assert_string_equal(hn.first, "");
    sh("rm -rf %s");
}

static void hash_with(char *out, const struct pathfilter *f, int identity)
{
    char *paths[] = {dir};
    struct hash_opts o = {.filter = f, .identity_only = identity};
    assert_int_equal(hash_paths_with(paths, 1, &o, out, NULL, NULL), 0);
}

/* Whether running cmd (sh's %s: the tree) changes the tree's hash. */
static int changes(const struct pathfilter *f, int identity, const char *cmd)
{
    char before[HASH_TEXT_LEN], after[HASH_TEXT_LEN];
    hash_with(before, f, identity);
    sh(cmd);
    hash_with(after, f, identity);
    return strcmp(before, after) != 0;
}

static void a_filtered_hash_sees_only_what_counts(void **state)
{
    (void)state;
    char *inc[] = {"*.go"};
    char *exc[] = {"tmp/"};
    struct pathfilter f = {inc, 1, exc, 1};
    snprintf(dir, sizeof dir, "/tmp/podvisor-filter-%d", (int)getpid());
    sh("rm -rf %s && mkdir -p %s/cmd %s/tmp && echo 'package main' > %s/cmd/main.go");
    /* What does not count changes nothing: other files, excluded
     * directories, new empty directories. */
    assert_false(changes(&f, 0,
                         "echo x > %s/README.md && echo y > %s/tmp/out.go && "
                         "mkdir %s/empty %s/cmd/more"));
    /* What counts does: its content, ... */
    assert_true(changes(&f, 0, "echo 'package main // 2' > %s/cmd/main.go"));
    /* ... where it is (the same content moved is a change), ... */
    assert_true(changes(&f, 0, "mv %s/cmd/main.go %s/cmd/more/main.go"));
    /* ... and a new file that counts. */
    assert_true(changes(&f, 0, "echo 'package x' > %s/cmd/x.go"));
    /* Unfiltered, as ever: the new empty directory counts. */
    assert_true(changes(NULL, 0, "mkdir %s/empty2"));
    sh("rm -rf %s");
}

static void an_identity_pass_sees_touches_and_writes(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/podvisor-ident-%d", (int)getpid());
    sh("rm -rf %s && mkdir -p %s/d && echo v1 > %s/d/k && touch -d @1000000000 %s/d/k");
    assert_false(changes(NULL, 1, "true"));
    /* Same size, new content, new time: seen. */
    assert_true(changes(NULL, 1, "echo v2 > %s/d/k"));
    /* A touch alone is seen by the pass (the content hash decides after). */
    assert_true(changes(NULL, 1, "touch -d @1000000001 %s/d/k"));
    /* A link out of the tree counts by its text, as in the content hash:
     * its target's moves (which no watch sees) are no change. */
    sh("echo 1 > %s.out && ln -s %s.out %s/d/link");
    assert_false(changes(NULL, 1, "echo 22 > %s.out"));
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
        cmocka_unit_test(content_decides),
        cmocka_unit_test(atomic_writer_swap_of_equal_content_is_no_change),
        cmocka_unit_test(symlink_loops_and_links_out_are_bounded),
        cmocka_unit_test(content_past_the_budget_is_hashed_by_identity),
        cmocka_unit_test(a_filtered_hash_sees_only_what_counts),
        cmocka_unit_test(an_identity_pass_sees_touches_and_writes),
        cmocka_unit_test(the_digest_cache_changes_nothing_but_the_reads),
    };
    return cmocka_run_group_tests_name("hash", tests, NULL, NULL);
}
