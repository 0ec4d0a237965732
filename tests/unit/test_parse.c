/* Unit tests for src/parse.c: durations, signals, exit codes, addresses. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "parse.h"

static int64_t dur(const char *s)
{
    int64_t ms = -42;
    const char *why = parse_duration(s, &ms);
    if (why != NULL)
        fail_msg("\"%s\" rejected: %s", s, why);
    return ms;
}

static void duration_valid(void **state)
{
    assert_int_equal(dur("0"), 0);
    assert_int_equal(dur("0s"), 0);
    assert_int_equal(dur("500ms"), 500);
    assert_int_equal(dur("5s"), 5000);
    assert_int_equal(dur("1m"), 60000);
    assert_int_equal(dur("1m30s"), 90000);
    assert_int_equal(dur("2h"), 7200000);
    assert_int_equal(dur("1h1m1s1ms"), 3661001);
    assert_int_equal(dur("1.5s"), 1500);
    assert_int_equal(dur("0.25s"), 250);
    assert_int_equal(dur("1500us"), 2); /* rounded up, never down to 0 */
    assert_int_equal(dur("1us"), 1);
    assert_int_equal(dur("8760h"), PARSE_DURATION_MAX_MS);
}

static void duration_invalid(void **state)
{
    static const char *const bad[] = {"",   "5",  "5x",  "x5s",  "-5s",  "5 s", " 5s",  "s",
                                      "ms", ".s", "1.5", "5sec", "1m30", "5S",  "1e3s", "+5s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 0;
        const char *why = parse_duration(bad[i], &ms);
        if (why == NULL)
            fail_msg("\"%s\" accepted as %lld ms", bad[i], (long long)ms);
        assert_non_null(strstr(why, "not a duration"));
    }
    int64_t ms;
    assert_non_null(parse_duration(NULL, &ms));
}

static void duration_overflow(void **state)
{
    static const char *const big[] = {"8761h",   "99999999999999999999s", "9223372036854775807ms",
                                      "600000h", "1000000000000000h",     "8760h1ms"};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        int64_t ms = 0;
        const char *why = parse_duration(big[i], &ms);
        if (why == NULL)
            fail_msg("\"%s\" accepted as %lld ms", big[i], (long long)ms);
        assert_non_null(strstr(why, "too long"));
    }
}

static int sig(const char *s)
{
    int n = -1;
    const char *why = parse_signal(s, &n);
    if (why != NULL)
        fail_msg("\"%s\" rejected: %s", s, why);
    return n;
}

static void size_valid_and_invalid(void **state)
{
    long long b;
    assert_null(parse_size("512Mi", &b));
    assert_true(b == 512LL << 20);
    assert_null(parse_size("1.5Gi", &b));
    assert_true(b == 3LL << 29);
    assert_null(parse_size("64M", &b));
    assert_true(b == 64000000LL);
    assert_null(parse_size("1048576", &b));
    assert_true(b == 1048576LL);
    assert_null(parse_size("0", &b));
    assert_true(b == 0);
    const char *bad[] = {"", "Mi", "-1Mi", "5x", "1.5", "1.Gi", "512mi", "1 Gi", "2Pi"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        assert_non_null(parse_size(bad[k], &b));
    assert_non_null(parse_size(NULL, &b));
    assert_string_equal(parse_size("99999999999999999999", &b), "is too large (at most 1Pi)");
    assert_string_equal(parse_size("2000Ti", &b), "is too large (at most 1Pi)");
}

static void signal_valid(void **state)
{
    assert_int_equal(sig("TERM"), SIGTERM);
    assert_int_equal(sig("SIGTERM"), SIGTERM);
    assert_int_equal(sig("term"), SIGTERM);
    assert_int_equal(sig("sigquit"), SIGQUIT);
    assert_int_equal(sig("15"), 15);
    assert_int_equal(sig("1"), 1);
    assert_int_equal(sig("64"), 64);
    assert_int_equal(sig("USR1"), SIGUSR1);
    assert_int_equal(sig("WINCH"), SIGWINCH);
    assert_int_equal(sig("RTMIN"), SIGRTMIN);
    assert_int_equal(sig("RTMIN+3"), SIGRTMIN + 3);
    assert_int_equal(sig("SIGRTMAX-1"), SIGRTMAX - 1);
    /* aliases parse; their number prints under its first name */
    assert_int_equal(sig("IOT"), SIGABRT);
    assert_int_equal(sig("SIGCLD"), SIGCHLD);
    assert_int_equal(sig("io"), SIGIO);
}

static void signal_invalid(void **state)
{
    static const char *const bad[] = {
        "",    "0",        "65",      "99",      "-1",  "TERMX",         "SIG",
        "15x", "RTMIN+99", "RTMAX+1", "RTMIN-1", "1.0", "99999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int n = 0;
        if (parse_signal(bad[i], &n) == NULL)
            fail_msg("\"%s\" accepted as %d", bad[i], n);
    }
    int n = -1;
    assert_null(parse_signal_or_zero("0", &n));
    assert_int_equal(n, 0);
    assert_non_null(parse_signal_or_zero("x", &n));
}

static void signal_names(void **state)
{
    char buf[16];
    assert_string_equal(signal_name(SIGTERM, buf, sizeof buf), "TERM");
    assert_string_equal(signal_name(SIGRTMIN + 2, buf, sizeof buf), "RTMIN+2");
    /* every name we print parses back to the same number */
    for (int s = 1; s <= SIGRTMAX; s++) {
        if (s > 31 && s < SIGRTMIN)
            continue; /* 32, 33 (glibc) or 32-34 (musl): internal, no names */
        signal_name(s, buf, sizeof buf);
        if (s < 32 && (buf[0] < 'A' || buf[0] > 'Z'))
            fail_msg("signal %d has no name (\"%s\")", s, buf);
        assert_int_equal(sig(buf), s);
    }
}

static void checks(void **state)
{
    struct check_spec c;
    assert_null(parse_check("http://127.0.0.1:8080/healthz", &c));
    assert_int_equal(c.kind, CHECK_HTTP);
    assert_string_equal(c.target, "http://127.0.0.1:8080/healthz");
    assert_null(parse_check("tcp://localhost:5432", &c));
    assert_int_equal(c.kind, CHECK_TCP);
    assert_string_equal(c.target, "localhost:5432");
    assert_null(parse_check("tcp://[::1]:80", &c));
    assert_null(parse_check("file:/tmp/ready", &c));
    assert_int_equal(c.kind, CHECK_FILE);
    assert_string_equal(c.target, "/tmp/ready");
    assert_null(parse_check("exec:pg_isready -h 127.0.0.1", &c));
    assert_int_equal(c.kind, CHECK_EXEC);
    assert_string_equal(c.target, "pg_isready -h 127.0.0.1");
    assert_null(parse_check("notify", &c));
    assert_int_equal(c.kind, CHECK_NOTIFY);
    static const char *const bad[] = {
        "",           "tcp://",        "tcp://:80",  "tcp://h:0", "tcp://h:65536",
        "tcp://h:8x", "tcp://[::1:80", "file:",      "file:rel",  "http://",
        "exec:",      "exec:   ",      "exec:'open", "notify:x",  "Notify",
        "ftp://x",    "HTTP://x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse_check(bad[i], &c) == NULL)
            fail_msg("\"%s\" accepted", bad[i]);
}

static void exit_codes(void **state)
{
    int c = -1;
    assert_null(parse_exit_code("0", &c));
    assert_int_equal(c, 0);
    assert_null(parse_exit_code("255", &c));
    assert_int_equal(c, 255);
    static const char *const bad[] = {"256", "300", "-1", "",
                                      "x",   "1x",  " 1", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse_exit_code(bad[i], &c) == NULL)
            fail_msg("\"%s\" accepted", bad[i]);
}

/* Words as a shell splits a simple command, with no shell needed. */
static void command_words(void **state)
{
    static const struct {
        const char *in;
        const char *words[6];
    } ok[] = {
        {"nginx -t", {"nginx", "-t"}},
        {"  nginx\t -s   reload \n", {"nginx", "-s", "reload"}},
        {"nginx -t -c '/etc/my conf/nginx.conf'", {"nginx", "-t", "-c", "/etc/my conf/nginx.conf"}},
        {"sh -c \"kill -HUP \\\"$(cat /run/pid)\\\"\"",
         {"sh", "-c", "kill -HUP \"$(cat /run/pid)\""}},
        {"a\\ b c", {"a b", "c"}},
        {"x '' y", {"x", "", "y"}},
        {"pre'fix'\"ed\"", {"prefixed"}},
        {"'$HOME' ~ *", {"$HOME", "~", "*"}},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char **argv;
        const char *why = parse_command_words(ok[i].in, &argv);
        if (why)
            fail_msg("\"%s\" rejected: %s", ok[i].in, why);
        size_t n = 0;
        for (; ok[i].words[n]; n++) {
            assert_non_null(argv[n]);
            assert_string_equal(argv[n], ok[i].words[n]);
        }
        assert_null(argv[n]);
        free(argv);
    }
    static const struct {
        const char *in, *why;
    } bad[] = {
        {"", "is an empty command"},
        {"   \t", "is an empty command"},
        {"nginx -c 'x", "has an unterminated ' quote"},
        {"echo \"x", "has an unterminated \" quote"},
        {"echo x\\", "ends with a lone backslash"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char **argv = (char **)1;
        const char *why = parse_command_words(bad[i].in, &argv);
        assert_non_null(why);
        assert_string_equal(why, bad[i].why);
        assert_null(argv);
    }
}

static void listen_addrs(void **state)
{
    struct listen_addr a;
    assert_null(parse_listen_addr(":8099", &a));
    assert_true(a.any);
    assert_int_equal(a.port, 8099);
    assert_null(parse_listen_addr("127.0.0.1:80", &a));
    assert_false(a.any);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 80);
    assert_null(parse_listen_addr("[::1]:0", &a));
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 0);
    assert_null(parse_listen_addr("off", &a));
    assert_true(a.off);
    static const char *const bad[] = {"",        "8099",   ":",     ":x",      ":65536",
                                      "::1:80",  "[::1]",  "[]:80", "host:-1", "[::1]80",
                                      "[[2]:80", "[2]:80", "a]:80", "a[:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (parse_listen_addr(bad[i], &a) == NULL)
            fail_msg("\"%s\" accepted", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(duration_valid),
        cmocka_unit_test(duration_invalid),
        cmocka_unit_test(duration_overflow),
        cmocka_unit_test(size_valid_and_invalid),
        cmocka_unit_test(signal_valid),
        cmocka_unit_test(signal_invalid),
        cmocka_unit_test(signal_names),
        cmocka_unit_test(exit_codes),
        cmocka_unit_test(checks),
        cmocka_unit_test(listen_addrs),
        cmocka_unit_test(command_words),
    };
    return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
