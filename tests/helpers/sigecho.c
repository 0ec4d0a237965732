/* sigecho [TAG [--stamp]]: prints "TAG ready", then "TAG <signo>" for every
 * signal it receives, one line each, flushed. Exits 0 after SIGTERM.
 * Dispositions are reset first, because a shell starts background jobs with
 * INT and QUIT ignored and an ignored signal is discarded even while blocked.
 *
 * --stamp adds the CLOCK_MONOTONIC time (ns) at which the signal was taken:
 * bench/sigterm.py measures a forward up to the child's receipt, not up to
 * when the bench itself gets the CPU back to read the line. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    const char *tag = argc > 1 ? argv[1] : "sigecho";
    int stamp = argc > 2 && strcmp(argv[2], "--stamp") == 0;
    sigset_t all;
    sigfillset(&all);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &dfl, NULL);
    sigprocmask(SIG_SETMASK, &all, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("%s ready\n", tag);
    for (;;) {
        siginfo_t si;
        int s = sigwaitinfo(&all, &si);
        if (s < 0)
            continue;
        if (s == SIGCHLD)
            continue;
        if (stamp) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            printf("%s %d %lld\n", tag, s, (long long)ts.tv_sec * 1000000000 + ts.tv_nsec);
        } else {
            printf("%s %d\n", tag, s);
        }
        if (s == SIGTERM)
            return 0;
    }
}
