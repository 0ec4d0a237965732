/* sigecho [TAG]: prints "TAG ready", then "TAG <signo>" for every signal it
 * receives, one line each, flushed. Exits 0 after SIGTERM. Dispositions are
 * reset first, because a shell starts background jobs with INT and QUIT
 * ignored and an ignored signal is discarded even while blocked. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *tag = argc > 1 ? argv[1] : "sigecho";
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
        printf("%s %d\n", tag, s);
        if (s == SIGTERM)
            return 0;
    }
}
