/* Unit tests for src/notify.c's datagram parser, the sender check it
 * relies on (src/procs.c) and the admin token comparison (src/http.c): what an app or a client
 * sends, good and bad. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "http.h"
#include "notify.h"
#include "procs.h"

static const char *parse(const char *s, struct notify_msg *m)
{
    return notify_parse(s, strlen(s), m);
}

static void good_datagrams(void **state)
{
    struct notify_msg m;
    assert_null(parse("READY=1", &m));
    assert_true(m.ready);
    assert_false(m.watchdog);
    /* gunicorn's, and systemd's reload dance. */
    assert_null(parse("READY=1\nSTATUS=Gunicorn arbiter booted", &m));
    assert_true(m.ready);
    assert_string_equal(m.status, "Gunicorn arbiter booted");
    assert_null(parse("RELOADING=1\nMONOTONIC_USEC=123\n", &m));
    assert_true(m.reloading);
    assert_null(parse("WATCHDOG=1", &m));
    assert_true(m.watchdog);
    assert_null(parse("WATCHDOG=trigger", &m));
    assert_true(m.watchdog_trigger);
    assert_null(parse("STOPPING=1\n\n", &m));
    assert_true(m.stopping);
    assert_null(parse("MAINPID=4242\nX_UNKNOWN=whatever\nERRNO=2", &m));
    assert_int_equal(m.mainpid, 4242);
    assert_null(parse("STATUS=", &m));
    assert_true(m.has_status);
    assert_string_equal(m.status, "");
    char long_status[600] = "STATUS=";
    memset(long_status + 7, 'x', 500);
    assert_null(parse(long_status, &m));
    assert_int_equal(strlen(m.status), sizeof m.status - 1);
    /* the fd store: FDNAME= defaults to systemd's "stored" */
    assert_null(parse("FDSTORE=1\nFDNAME=http-conns", &m));
    assert_true(m.fdstore);
    assert_string_equal(m.fdname, "http-conns");
    assert_null(parse("FDSTORE=1", &m));
    assert_string_equal(m.fdname, "stored");
    assert_null(parse("FDSTOREREMOVE=1\nFDNAME=state", &m));
    assert_true(m.fdstore_remove);
    assert_false(m.fdstore);
}

static void malformed_datagrams(void **state)
{
    struct notify_msg m;
    static const char *const bad[] = {"garbage",     "READY=2",           "READY=",
                                      "=1",          "READY=1\nnoequals", "WATCHDOG=0",
                                      "MAINPID=abc", "MAINPID=",          "MAINPID=1",
                                      "MAINPID=-5",  "RELOADING=yes",     "STOPPING=true",
                                      "FDSTORE=0",   "FDSTOREREMOVE=yes"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse(bad[i], &m) == NULL)
            fail_msg("\"%s\" accepted", bad[i]);
    assert_non_null(notify_parse("", 0, &m));
    assert_non_null(notify_parse("READY=1\0x", 9, &m));
    /* Nothing of a malformed datagram is to be applied. */
    assert_non_null(parse("READY=1\nMAINPID=x", &m));
    assert_false(m.mainpid);
}

/* A bad FDNAME= is ignored as systemd ignores it: the name only, never the
 * datagram's READY=1 (it dropped the whole datagram, and a name of 64 to
 * 255 bytes, which systemd allows, was "bad"). */
static void a_bad_fdname_is_ignored_not_the_datagram(void **state)
{
    struct notify_msg m;
    static const char *const bad[] = {"FDNAME=", "FDNAME=a:b", "FDNAME=a b", "FDNAME=\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "READY=1\nFDSTORE=1\n%s", bad[i]);
        assert_null(parse(text, &m));
        assert_true(m.ready);
        assert_true(m.fdname_invalid);
        assert_string_equal(m.fdname, "stored");
    }
    char text[400] = "READY=1\nFDNAME=";
    size_t o = strlen(text);
    memset(text + o, 'n', 255);
    text[o + 255] = '\0';
    assert_null(parse(text, &m));
    assert_false(m.fdname_invalid);
    assert_int_equal(strlen(m.fdname), 255);
    text[o + 255] = 'n';
    text[o + 256] = '\0';
    assert_null(parse(text, &m));
    assert_true(m.fdname_invalid && m.ready);
}

static void descendants(void **state)
{
    assert_true(procs_descends_from(getpid(), getppid()));
    assert_false(procs_descends_from(getppid(), getpid()));
    assert_false(procs_descends_from(getpid(), getpid()));
    assert_false(procs_descends_from(1, getpid()));
    assert_false(procs_descends_from(0x3fffffff, getpid())); /* no such process */
    assert_int_equal(procs_parent(getpid()), getppid());
}

static void token_comparison(void **state)
{
    assert_true(http_secret_equal("s3cret", 6, "s3cret"));
    assert_false(http_secret_equal("s3creT", 6, "s3cret"));
    assert_false(http_secret_equal("s3cre", 5, "s3cret"));
    assert_false(http_secret_equal("s3crett", 7, "s3cret"));
    assert_false(http_secret_equal("", 0, "s3cret"));
    /* A NUL inside the given bytes is a difference, not an early end. */
    assert_false(http_secret_equal("s3cret\0x", 8, "s3cret"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_datagrams),
        cmocka_unit_test(malformed_datagrams),
        cmocka_unit_test(a_bad_fdname_is_ignored_not_the_datagram),
        cmocka_unit_test(descendants),
        cmocka_unit_test(token_comparison),
    };
    return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
