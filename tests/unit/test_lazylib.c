/* Unit tests for src/lazylib.c: a library that lacks a symbol is not kept
 * loaded (its handle used to leak), and a later load may try again. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lazylib.h"

static void missing_symbol_unloads_the_library(void **state)
{
#ifdef PODVISOR_STATIC
    /* The static build links both libraries in and loads none (lazylib.h):
     * its unit tests (make qemu-unit) have nothing here to test. */
    skip();
#endif
    /* libmicrohttpd: never linked into the tests, only dlopen()ed. */
    assert_null(dlopen(MHD_SONAME, RTLD_NOW | RTLD_NOLOAD));
    static const char *const names[] = {"MHD_start_daemon", "MHD_no_such_function"};
    void *slots[2] = {NULL, NULL};
    char err[256];
    assert_int_equal(lazylib_load(MHD_SONAME, names, slots, 2, err, sizeof err), -1);
    assert_string_equal(err, MHD_SONAME " has no MHD_no_such_function");
    assert_null(slots[0]); /* nothing half-filled */
    assert_null(dlopen(MHD_SONAME, RTLD_NOW | RTLD_NOLOAD));

    assert_int_equal(lazylib_load(MHD_SONAME, names, slots, 1, err, sizeof err), 0);
    assert_non_null(slots[0]);
    assert_int_equal(lazylib_load("libpodvisor-none.so.0", names, slots + 1, 1, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "cannot load libpodvisor-none.so.0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(missing_symbol_unloads_the_library),
    };
    return cmocka_run_group_tests_name("lazylib", tests, NULL, NULL);
}
