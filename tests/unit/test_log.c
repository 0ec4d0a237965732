/* Unit tests for src/log.c: UTF-8 repair for JSON lines, and one write(2)
 * per line however long (-Wl,--wrap=write counts them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
static int writes_to_stderr;
static size_t bytes_to_stderr;

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    if (fd != STDERR_FILENO)
        return __real_write(fd, buf, n);
    writes_to_stderr++;
    bytes_to_stderr += n;
    return (ssize_t)n; /* swallowed: the test output stays clean */
}

static void one_write_per_line(void **state)
{
    char msg[2000];
    memset(msg, 1, sizeof msg - 1); /* control bytes: JSON makes each \u0001 */
    msg[sizeof msg - 1] = '\0';
    for (int f = LOG_TEXT; f <= LOG_JSON; f++) {
        log_setup(LOG_INFO, (enum log_format)f);
        writes_to_stderr = 0;
        bytes_to_stderr = 0;
        log_info("%s", msg);
        assert_int_equal(writes_to_stderr, 1);
        if (f == LOG_JSON)
            assert_true(bytes_to_stderr > 4096 * 2); /* the line that used to be split */
    }
    log_setup(LOG_INFO, LOG_TEXT);
}

static void utf8_repair(void **state)
{
    char out[64];
    log_valid_utf8("ok \xc3\xa9 \xff\xfe end", out, sizeof out);
    assert_string_equal(out, "ok \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd end");
    log_valid_utf8("\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80", out,
                   sizeof out); /* overlong, surrogate, > U+10FFFF */
    assert_int_equal(strstr(out, "\xc0") == NULL && strstr(out, "\xed") == NULL, 1);
    log_valid_utf8("\xe2\x82", out, sizeof out); /* cut inside a character */
    assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd");
    log_valid_utf8("abc\xe2\x82\xac", out, 6); /* never cut a character: no room for the euro */
    assert_string_equal(out, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_write_per_line),
        cmocka_unit_test(utf8_repair),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
