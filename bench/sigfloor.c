/* sigfloor: the least a PID 1 can do to forward SIGTERM, in three shapes,
 * to measure podvisor's SIGTERM forwarding against (bench/sigfloor.py):
 *
 *   sigfloor read  -- CMD...   blocks in read() on a signalfd, kill()s, reads
 *                              again (catatonit's shape)
 *   sigfloor epoll -- CMD...   the signalfd in an epoll set: epoll_wait, read,
 *                              kill (an event loop's shape)
 *   sigfloor timer -- CMD...   the same, then arms a timerfd before it waits
 *                              again (an event loop that bounds the stop with a
 *                              timeout: podvisor's shape)
 *
 * It forks CMD, forwards every signal but SIGCHLD, and exits when CMD does.
 * Nothing else: no reaping of others, no process group, no error paths
 * worth the name. A measuring tool, not an init. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[2], "--") != 0)
        return 2;
    int mode = strcmp(argv[1], "read") == 0 ? 0 : strcmp(argv[1], "epoll") == 0 ? 1 : 2;
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    int sfd = signalfd(-1, &all, SFD_CLOEXEC | (mode ? SFD_NONBLOCK : 0));
    pid_t child = fork();
    if (child == 0) {
        sigprocmask(SIG_UNBLOCK, &all, NULL);
        execvp(argv[3], argv + 3);
        _exit(127);
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    for (;;) {
        struct signalfd_siginfo si;
        if (mode) {
            struct epoll_event got[8];
            if (epoll_wait(ep, got, 8, -1) < 0)
                continue;
        }
        if (read(sfd, &si, sizeof si) != sizeof si)
            continue;
        if (si.ssi_signo == SIGCHLD) {
            int status;
            if (waitpid(child, &status, WNOHANG) == child)
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            continue;
        }
        kill(child, (int)si.ssi_signo);
        if (mode == 2) {
            struct itimerspec it = {.it_value.tv_sec = 30};
            timerfd_settime(tfd, 0, &it, NULL);
        }
    }
}
