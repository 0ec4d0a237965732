/* orphans N: makes N orphaned grandchildren (fork, fork, the middle one
 * exits at once), so each grandchild is re-parented to the nearest
 * subreaper or PID 1, i.e. to podvisor. One extra grandchild lingers and
 * reports whom it was re-parented to. Then waits up to 10 s for podvisor to
 * reap them and prints "adopted_by_parent=yes|no" and "zombies=K", where K
 * counts zombies whose parent is our parent. Exits 0 only when K is 0. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int count_zombies_of(pid_t parent)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char path[300], buf[512];
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t r = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (r <= 0)
            continue;
        buf[r] = 0;
        char *rp = strrchr(buf, ')');
        char state;
        int ppid;
        if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && state == 'Z' && ppid == parent)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    pid_t parent = getppid();
    int report[2];
    if (pipe(report) < 0)
        return 2;
    for (int i = 0; i <= n; i++) {
        pid_t mid = fork();
        if (mid < 0) {
            perror("fork");
            return 2;
        }
        if (mid == 0) {
            pid_t g = fork();
            if (g == 0) {
                if (i == n) { /* the lingering one: wait to be orphaned */
                    pid_t first = getppid();
                    for (int t = 0; t < 5000 && getppid() == first; t++)
                        usleep(1000);
                    pid_t p = getppid();
                    ssize_t w = write(report[1], &p, sizeof p);
                    (void)w;
                }
                _exit(0);
            }
            _exit(0);
        }
        waitpid(mid, NULL, 0);
    }
    close(report[1]);
    pid_t adopter = 0;
    ssize_t r = read(report[0], &adopter, sizeof adopter);
    printf("adopted_by_parent=%s\n", r == sizeof adopter && adopter == parent ? "yes" : "no");
    int z = 0;
    for (int t = 0; t < 1000; t++) {
        z = count_zombies_of(parent);
        if (z == 0)
            break;
        usleep(10000);
    }
    printf("zombies=%d\n", z);
    fflush(stdout);
    return z == 0 ? 0 : 1;
}
