/* pathfilter: the --watch-include / --watch-exclude rules (what a
 * filtered hash counts is in test_hash.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_patterns_count_everything),
        cmocka_unit_test(names_paths_and_directories),
        cmocka_unit_test(exclude_only),
        cmocka_unit_test(bad_patterns_are_named),
    };
    return cmocka_run_group_tests_name("pathfilter", tests, NULL, NULL);
}
