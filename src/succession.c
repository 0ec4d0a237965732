/* succession: see succession.h. */
#include "succession.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "procs.h"

/* The kernel's upper limit for pid_max (PID_MAX_LIMIT on 64-bit). */
#define PID_LIMIT 4194304

enum succession_verdict succession_judge(const struct succession_facts *f, char *why, size_t len)
{
    if (f->parent == f->self && f->role == NULL)
        return SUCCESSION_TAKE;
    /* A daemonizing app forks, says MAINPID=, exits; tableflip's successor
     * is the old process's child: either becomes podvisor's when the main
     * child exits. */
    if (f->parent > 0 && f->parent == f->main)
        return SUCCESSION_PENDING;
    /* Anything else (a grandchild whose parent lives on) would die unseen:
     * /livez would stay 200 for a dead app and a SIGTERM would never end. */
    if (f->parent < 0)
        snprintf(why, len, "no such process");
    else if (f->role != NULL)
        snprintf(why, len, "it is podvisor's %s", f->role);
    else if (f->descends)
        snprintf(why, len,
                 "not podvisor's child, and its parent (pid %d) is not the main child: podvisor "
                 "could not see it exit",
                 (int)f->parent);
    else
        snprintf(why, len, "not a process of the child's tree");
    return SUCCESSION_REFUSED;
}

pid_t succession_parse_pid(const char *text)
{
    const char *p = text;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9')
        return 0;
    char *end;
    long pid = strtol(p, &end, 10);
    while (*end == '\n' || *end == ' ' || *end == '\r' || *end == '\t')
        end++;
    return *end == '\0' && pid > 1 && pid <= PID_LIMIT ? (pid_t)pid : 0;
}

void succession_init(struct succession *s, const char *pid_file)
{
    *s = (struct succession){.pid_file = pid_file};
    struct stat st;
    if (pid_file != NULL && stat(pid_file, &st) == 0) {
        s->ino = s->start_ino = st.st_ino;
        s->mtime = s->start_mtime = st.st_mtim;
    }
}

static pid_t read_pid_file(const char *path)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return succession_parse_pid(buf);
}

static int same_file(const struct stat *st, ino_t ino, const struct timespec *mtime)
{
    return st->st_ino == ino && st->st_mtim.tv_sec == mtime->tv_sec &&
           st->st_mtim.tv_nsec == mtime->tv_nsec;
}

pid_t succession_pid_file_now(const struct succession *s)
{
    struct stat st;
    if (s->pid_file == NULL || stat(s->pid_file, &st) < 0 ||
        same_file(&st, s->start_ino, &s->start_mtime))
        return 0;
    return read_pid_file(s->pid_file);
}

pid_t succession_pid_file_changed(struct succession *s)
{
    struct stat st;
    if (s->pid_file == NULL || stat(s->pid_file, &st) < 0 || same_file(&st, s->ino, &s->mtime))
        return 0;
    s->ino = st.st_ino;
    s->mtime = st.st_mtim;
    return succession_pid_file_now(s);
}

/* Where a successor was named, for the log. */
static void source(const struct succession *s, int from_file, pid_t pid, char *buf, size_t len)
{
    if (from_file)
        snprintf(buf, len, "--pid-file %.200s: %d", s->pid_file, (int)pid);
    else
        snprintf(buf, len, "sd_notify MAINPID=%d", (int)pid);
}

pid_t succession_named(struct succession *s, pid_t sender, pid_t pid, pid_t main, pid_t self,
                       const char *role)
{
    if (pid == main || pid == s->pending)
        return 0;
    char src[260], why[160];
    source(s, sender < 0, pid, src, sizeof src);
    struct succession_facts f = {
        .pid = pid, .main = main, .self = self, .parent = procs_parent(pid), .role = role};
    /* A walk up /proc: only when the verdict hangs on it. */
    if (f.parent > 0 && f.parent != main && role == NULL)
        f.descends = procs_descends_from(pid, self);
    switch (succession_judge(&f, why, sizeof why)) {
    case SUCCESSION_TAKE:
        s->pending = 0;
        log_info("%s: supervising it instead of %d", src, (int)main);
        return pid;
    case SUCCESSION_PENDING:
        s->pending = pid;
        s->pending_from_file = sender < 0;
        log_info("%s: a child of %d, supervised once %d exits (podvisor sees only its own "
                 "children exit)",
                 src, (int)main, (int)main);
        return 0;
    case SUCCESSION_REFUSED:
        break;
    }
    enum log_level level = s->warned ? LOG_DEBUG : LOG_WARN;
    const char *more = level == LOG_WARN ? " (further refusals are logged at debug)" : "";
    s->warned = 1;
    if (sender >= 0)
        log_at(level, 0, "%s from pid %d ignored: %s; still supervising %d%s", src, (int)sender,
               why, (int)main, more);
    else
        log_at(level, 0, "%s ignored: %s; still supervising %d%s", src, why, (int)main, more);
    return 0;
}

pid_t succession_adopt_pending(struct succession *s, pid_t main, pid_t self)
{
    pid_t pid = s->pending;
    s->pending = 0;
    if (pid <= 0)
        return 0;
    char src[260];
    source(s, s->pending_from_file, pid, src, sizeof src);
    if (procs_parent(pid) != self) {
        log_warn("%s: not podvisor's child after its parent's exit (gone, or not reparented); "
                 "the main child's exit stands",
                 src);
        return 0;
    }
    log_info("%s: supervising it instead of %d", src, (int)main);
    return pid;
}
