/* sigstorm PID SIG MS: sends SIG to PID as fast as it can for MS
 * milliseconds (a real-time signal queues once per send, up to the
 * pending-signal limit), then prints how many sends succeeded. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    pid_t pid = (pid_t)atol(argv[1]);
    int sig = atoi(argv[2]);
    long long end = now_ms() + atoll(argv[3]);
    long sent = 0;
    while (now_ms() < end)
        for (int i = 0; i < 256; i++) {
            if (kill(pid, sig) == 0)
                sent++;
            else if (errno == ESRCH)
                return 1;
        }
    printf("%ld\n", sent);
    return 0;
}
