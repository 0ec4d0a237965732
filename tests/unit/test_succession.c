/* Unit tests for src/succession.c: which successor the app names is taken,
 * and what --pid-file says when. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "succession.h"

static void pid_text_is_digits_and_white_space(void **state)
{
    assert_int_equal(succession_parse_pid("1234\n"), 1234);
    assert_int_equal(succession_parse_pid("  77 \r\n"), 77);
    assert_int_equal(succession_parse_pid("4194304"), 4194304);
    /* Not a pid: podvisor's own 1, past the kernel's limit, signs, text. */
    assert_int_equal(succession_parse_pid("1\n"), 0);
    assert_int_equal(succession_parse_pid("0"), 0);
    assert_int_equal(succession_parse_pid("4194305"), 0);
    assert_int_equal(succession_parse_pid("-5"), 0);
    assert_int_equal(succession_parse_pid("+5"), 0);
    assert_int_equal(succession_parse_pid("12ab"), 0);
    assert_int_equal(succession_parse_pid("12 13"), 0);
    assert_int_equal(succession_parse_pid(""), 0);
    assert_int_equal(succession_parse_pid("\n"), 0);
}

static enum succession_verdict judge(pid_t parent, const char *role, int descends, char *why)
{
    struct succession_facts f = {
        .pid = 50, .main = 20, .self = 1, .parent = parent, .role = role, .descends = descends};
    why[0] = '\0';
    return succession_judge(&f, why, 200);
}

static void only_a_process_whose_exit_podvisor_sees_is_taken(void **state)
{
    char why[200];
    /* Reparented to podvisor already (the old process exited first). */
    assert_int_equal(judge(1, NULL, 1, why), SUCCESSION_TAKE);
    /* The main child's child: once the main child exits. */
    assert_int_equal(judge(20, NULL, 1, why), SUCCESSION_PENDING);
    /* podvisor's own --validate run, or the next generation: never. */
    assert_int_equal(judge(1, "validate", 1, why), SUCCESSION_REFUSED);
    assert_string_equal(why, "it is podvisor's validate");
    /* A grandchild whose parent lives on would die unseen. */
    assert_int_equal(judge(33, NULL, 1, why), SUCCESSION_REFUSED);
    assert_non_null(strstr(why, "its parent (pid 33) is not the main child"));
    assert_int_equal(judge(33, NULL, 0, why), SUCCESSION_REFUSED);
    assert_string_equal(why, "not a process of the child's tree");
    assert_int_equal(judge(-1, NULL, 0, why), SUCCESSION_REFUSED);
    assert_string_equal(why, "no such process");
}

static void write_file(const char *path, const char *text)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0); /* a new inode: a change stat sees */
}

static void pid_file_names_a_successor_only_once_written_since_start(void **state)
{
    char dir[] = "/tmp/podvisor-succession-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/app.pid", dir);

    /* An earlier run's file: never a successor, polled or read at exit. */
    write_file(path, "4242\n");
    struct succession s;
    succession_init(&s, path);
    assert_int_equal(succession_pid_file_now(&s), 0);
    assert_int_equal(succession_pid_file_changed(&s), 0);

    write_file(path, "4343\n");
    assert_int_equal(succession_pid_file_changed(&s), 4343);
    assert_int_equal(succession_pid_file_changed(&s), 0); /* said once per change */
    assert_int_equal(succession_pid_file_now(&s), 4343);  /* read at the main child's exit */

    write_file(path, "garbage\n");
    assert_int_equal(succession_pid_file_changed(&s), 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(succession_pid_file_changed(&s), 0);
    assert_int_equal(succession_pid_file_now(&s), 0);

    /* No file at start: the first one written names the successor. */
    struct succession fresh;
    succession_init(&fresh, path);
    write_file(path, "99\n");
    assert_int_equal(succession_pid_file_changed(&fresh), 99);

    /* Without --pid-file, nothing. */
    struct succession none;
    succession_init(&none, NULL);
    assert_int_equal(succession_pid_file_changed(&none), 0);
    assert_int_equal(succession_pid_file_now(&none), 0);

    unlink(path);
    rmdir(dir);
}

static void named_pid_is_looked_up_and_logged(void **state)
{
    struct succession s;
    succession_init(&s, NULL);
    pid_t self = getpid();
    /* The main child itself: nothing to do. */
    assert_int_equal(succession_named(&s, 10, 500, 500, self, NULL), 0);
    /* A pid that does not exist is refused; warned once, then debug. */
    assert_int_equal(succession_named(&s, 10, 4194303, 500, self, NULL), 0);
    assert_true(s.warned);
    /* This test's own child is podvisor's child here: taken. */
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        pause();
        _exit(0);
    }
    assert_int_equal(succession_named(&s, 10, kid, 500, self, NULL), kid);
    /* ... unless it is one of podvisor's own children in a role. */
    assert_int_equal(succession_named(&s, 10, kid, 500, self, "next"), 0);
    /* Named as the main child's child: pending, adopted at its exit. */
    assert_int_equal(succession_named(&s, -1, kid, self, getppid(), NULL), 0);
    assert_int_equal(s.pending, kid);
    assert_int_equal(succession_adopt_pending(&s, self, self), kid);
    assert_int_equal(s.pending, 0);
    assert_int_equal(succession_adopt_pending(&s, self, self), 0);
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
    /* Gone by the main child's exit: its exit stands. */
    s.pending = kid;
    assert_int_equal(succession_adopt_pending(&s, 500, self), 0);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_TEXT); /* its info and warn lines are not what is tested */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pid_text_is_digits_and_white_space),
        cmocka_unit_test(only_a_process_whose_exit_podvisor_sees_is_taken),
        cmocka_unit_test(pid_file_names_a_successor_only_once_written_since_start),
        cmocka_unit_test(named_pid_is_looked_up_and_logged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
