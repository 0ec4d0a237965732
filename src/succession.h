/* succession: who the main child is once the app replaces itself. Owns
 * --pid-file (its state at start, its changes, the pid in it), a successor
 * named before it can be taken (a child of the main child), and the rule
 * for taking one, whether sd_notify MAINPID= or --pid-file named it:
 * podvisor supervises only a process whose exit it will see, its own
 * child. It logs its verdicts; the supervisor feeds LC_EV_MAINPID for the
 * pid it answers. */
#ifndef PODVISOR_SUCCESSION_H
#define PODVISOR_SUCCESSION_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct succession {
    const char *pid_file; /* NULL without --pid-file */
    ino_t ino, start_ino;
    struct timespec mtime, start_mtime;
    /* Named while still the main child's child: taken once the main child
     * exits and it is reparented to podvisor (PID 1 or subreaper). */
    pid_t pending;
    int pending_from_file;
    int warned; /* a refusal is said once at warn, then at debug */
};

/** What the rule needs to know of a named pid. */
struct succession_facts {
    pid_t pid;        /* the named one */
    pid_t main;       /* the main child now */
    pid_t self;       /* podvisor */
    pid_t parent;     /* pid's parent, -1 when pid is gone */
    const char *role; /* podvisor's role for pid ("validate", "next"...) or NULL */
    int descends;     /* pid descends from podvisor */
};

enum succession_verdict {
    SUCCESSION_TAKE,    /* podvisor's child: supervise it now */
    SUCCESSION_PENDING, /* the main child's child: once the main child exits */
    SUCCESSION_REFUSED, /* why says why */
};

/** The rule, pure: why gets the refusal's reason. */
enum succession_verdict succession_judge(const struct succession_facts *f, char *why, size_t len);

/** The pid in a pid file's text: digits, trailing white space allowed,
 * 2 to 4194304 (the kernel's pid_max limit); 0 otherwise. Pure. */
pid_t succession_parse_pid(const char *text);

/** Records what pid_file (NULL: none) holds at start: an earlier run's pid
 * there never names a successor. */
void succession_init(struct succession *s, const char *pid_file);

/** The pid --pid-file names, when the file changed since the last call
 * and since start; 0 otherwise. Polled. */
pid_t succession_pid_file_changed(struct succession *s);

/** The pid --pid-file names now, when it was written since start; 0
 * otherwise (the main child exits: read before its exit is acted on). */
pid_t succession_pid_file_now(const struct succession *s);

/** A successor named by sender's sd_notify MAINPID= (sender -1: by
 * --pid-file). Looks pid up in /proc, judges, logs. Returns the pid to
 * supervise now, or 0 (pending, refused, or already the main child). */
pid_t succession_named(struct succession *s, pid_t sender, pid_t pid, pid_t main, pid_t self,
                       const char *role);

/** The main child exits: the pending successor, if it is podvisor's child
 * by now (returned, to supervise), else 0 with a warning. */
pid_t succession_adopt_pending(struct succession *s, pid_t main, pid_t self);

#endif
