/* watch: see watch.h. */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "log.h"

/* How often to look again for a path (or its parent) that is not there:
 * inotify cannot watch what does not exist yet. Slow enough to cost
 * nothing, fast enough for a late volume mount. */
#define RETRY_MS 1000

/* After events, the inotify fd is left alone this long so that a burst is
 * read in one go rather than one wake-up per event (1000 files churning
 * cost 10% of a core read eagerly). Only when the quiet period started is
 * affected, and by at most this much. */
#define BATCH_MS 10

/* How often a plain directory tree is looked at to find out whether
 * inotify reports its changes at all (a bind mount from a VM's host may
 * not): a pass of stats, 3 ms for 1,000 files. */
#define DETECT_MS 10000

/* A source tree deeper than this is a loop (bind mounts), not a tree. */
#define MAX_TREE_DEPTH 64

/* Every watched directory gets the same mask: inotify keeps one watch per
 * inode, and a directory may be one path's parent and another's self. */
#define WATCH_MASK                                                                                 \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY |            \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

struct watched {
    const char *path;
    char *parent, *base;
    int wd_self;   /* the path itself, when it is a directory */
    int wd_parent; /* its parent directory */
    int ever_seen; /* it existed at some point: its absence is a gap */
    dev_t dev;     /* the file system it is on (its volume) */
    int dev_known;
    dev_t host_dev; /* the file system its volume is mounted on: seeing it means the
                     * volume is gone and the directory underneath shows */
    int host_dev_known;
    int gap_logged;
    int add_error_logged;
};

/* A directory under a watched path (recursive watch of a source tree). */
struct subdir {
    int wd;
    size_t owner; /* index of its watched path */
    char *rel;    /* its path from the watched one */
    int seen;     /* found by the last rescan */
};

struct watch {
    struct loop *loop;
    int fd;
    struct loop_watch lw;
    struct loop_timer debounce, retry, resume, poll;
    struct pathfilter filter;
    struct hash_opts hash_opts; /* the content hash: filtered */
    struct subdir *subs;        /* sorted by wd */
    size_t nsubs, capsubs;
    int rescan;                   /* a directory came or went: look for the tree's directories */
    int limit_said;               /* the inotify watch limit was reached (said once) */
    int64_t poll_ms;              /* 0: no polling */
    char poll_sig[HASH_TEXT_LEN]; /* the last pass: identities, sizes and times */
    unsigned events_total;        /* relevant inotify reads, ever */
    unsigned events_at_walk;      /* events_total when the last pass began */
    int silent_said;
    int detecting;         /* polling only to find out whether inotify is silent */
    int64_t poll_asked_ms; /* --watch-poll (0: not given) */
    int paused;            /* the fd is out of the loop until `resume` fires */
    int64_t debounce_ms;
    int64_t last_event_ms;
    int64_t first_event_ms; /* of the burst being debounced; 0: none */
    struct watched *w;
    size_t n;
    char *const *paths;
    char hash[HASH_TEXT_LEN];
    unsigned notes_said; /* what the hash bounds did, said once a kind */
    watch_change_fn on_change;
    void *ctx;
};

/* Once per kind (a watched tree is hashed on every change). */
static void say_notes(struct watch *w, const struct hash_notes *hn)
{
    const unsigned kinds[] = {hn->loops, hn->outside, hn->unreadable, hn->big, hn->truncated};
    unsigned now = 0;
    for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i])
            now |= 1u << i;
    if ((now & ~w->notes_said) == 0)
        return;
    w->notes_said |= now;
    log_warn("--watch: %s (%u symlink loop%s, %u link%s out of the tree, %u unreadable, %u "
             "past the %u MiB content budget, %u entries past %u)",
             hn->first, hn->loops, hn->loops == 1 ? "" : "s", hn->outside,
             hn->outside == 1 ? "" : "s", hn->unreadable, hn->big, HASH_CONTENT_BUDGET >> 20,
             hn->truncated, HASH_MAX_ENTRIES);
}

const char *watch_hash(const struct watch *w)
{
    return w->hash;
}

static void start_polling(struct watch *w, int64_t ms);

/* How often to poll once polling is needed: as --watch-poll says, else
 * every RETRY_MS. */
static int64_t polling_ms(const struct watch *w)
{
    return w->poll_asked_ms > 0 ? w->poll_asked_ms : RETRY_MS;
}

static long read_limit(const char *path)
{
    long v = -1;
    FILE *f = fopen(path, "re");
    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* The node-wide limit is what a big tree runs into: named, with what to
 * do, and polling takes over (once). */
static void watch_limit_reached(struct watch *w, const struct watched *p, const char *dir)
{
    if (w->limit_said)
        return;
    w->limit_said = 1;
    /* The node's limit, or a user namespace's own when it is lower (a
     * rootless runtime's). */
    long node = read_limit("/proc/sys/fs/inotify/max_user_watches");
    long userns = read_limit("/proc/sys/user/max_inotify_watches");
    char lim[128] = "fs.inotify.max_user_watches, shared by the node's user";
    if (userns >= 0 && (node < 0 || userns < node))
        snprintf(lim, sizeof lim, "user.max_inotify_watches = %ld in this user namespace", userns);
    else if (node >= 0)
        snprintf(lim, sizeof lim, "fs.inotify.max_user_watches = %ld, shared by the node's user",
                 node);
    int64_t ms = polling_ms(w);
    log_warn("--watch %s: the inotify watch limit (%s) is used up at %s: polling every %lldms "
             "as well (raise the limit, or leave directories out with --watch-exclude)",
             p->path, lim, dir, (long long)ms);
    start_polling(w, ms);
}

static int add(struct watch *w, struct watched *p, const char *dir)
{
    if (w->fd < 0)
        return -1; /* polling: no inotify instance to be had */
    int wd = inotify_add_watch(w->fd, dir, WATCH_MASK);
    if (wd >= 0)
        return wd;
    if (errno == ENOSPC) {
        watch_limit_reached(w, p, dir);
        return -1;
    }
    if (errno != ENOENT && errno != ENOTDIR && !p->add_error_logged) {
        log_errno(LOG_WARN, errno, "--watch %s: watching %s (retrying every %ds)", p->path, dir,
                  RETRY_MS / 1000);
        p->add_error_logged = 1;
    }
    return -1;
}

static struct subdir *find_sub(struct watch *w, int wd)
{
    size_t lo = 0, hi = w->nsubs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (w->subs[mid].wd == wd)
            return &w->subs[mid];
        if (w->subs[mid].wd < wd)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Records (or finds again) the directory watched as wd. */
static void keep_sub(struct watch *w, int wd, size_t owner, const char *rel)
{
    struct subdir *s = find_sub(w, wd);
    if (s != NULL) {
        if (strcmp(s->rel, rel) != 0) {
            char *r = strdup(rel); /* moved within the tree */
            if (r != NULL) {
                free(s->rel);
                s->rel = r;
            }
        }
        s->owner = owner;
        s->seen = 1;
        return;
    }
    if (w->nsubs == w->capsubs) {
        size_t cap = w->capsubs ? w->capsubs * 2 : 16;
        struct subdir *ns = realloc(w->subs, cap * sizeof *ns);
        if (ns == NULL)
            return; /* its events are missed; the next rescan tries again */
        w->subs = ns;
        w->capsubs = cap;
    }
    char *r = strdup(rel);
    if (r == NULL)
        return;
    size_t at = w->nsubs;
    while (at > 0 && w->subs[at - 1].wd > wd)
        at--;
    memmove(&w->subs[at + 1], &w->subs[at], (w->nsubs - at) * sizeof *w->subs);
    w->subs[at] = (struct subdir){.wd = wd, .owner = owner, .rel = r, .seen = 1};
    w->nsubs++;
}

static void drop_sub(struct watch *w, struct subdir *s)
{
    free(s->rel);
    size_t at = (size_t)(s - w->subs);
    memmove(s, s + 1, (w->nsubs - at - 1) * sizeof *s);
    w->nsubs--;
}

/* Whether wd is also a watched path's own or its parent's watch (inotify
 * has one watch per inode: removing it would remove theirs). */
static int wd_of_a_path(const struct watch *w, int wd)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->w[i].wd_self == wd || w->w[i].wd_parent == wd)
            return 1;
    return 0;
}

/* Watches the directories under dir (rel from the watched path) that the
 * filter lets count. Links are not followed (a link to a directory out of
 * the tree would watch the world), nor ".." names (the kubelet's own). */
static void watch_tree(struct watch *w, size_t owner, const char *dir, const char *rel, int depth)
{
    if (depth >= MAX_TREE_DEPTH || w->limit_said)
        return;
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && !w->limit_said) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || e->d_name[1] == '.'))
            continue;
        char path[PATH_MAX], crel[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            snprintf(crel, sizeof crel, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >=
                (int)sizeof crel)
            continue;
        int is_dir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN) {
            struct stat sb;
            is_dir = lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
        }
        if (!is_dir || !pathfilter_counts(&w->filter, crel, 1))
            continue;
        int wd = add(w, &w->w[owner], path);
        if (wd < 0)
            continue;
        keep_sub(w, wd, owner, crel);
        watch_tree(w, owner, path, crel, depth + 1);
    }
    closedir(d);
}

/* Brings the watches on the trees' directories up to date: new ones
 * added, those gone (or moved out) dropped. */
static void rescan(struct watch *w)
{
    w->rescan = 0;
    if (w->fd < 0)
        return;
    for (size_t i = 0; i < w->nsubs; i++)
        w->subs[i].seen = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->w[i].wd_self >= 0)
            watch_tree(w, i, w->w[i].path, "", 0);
    for (size_t i = 0; i < w->nsubs;) {
        struct subdir *s = &w->subs[i];
        if (s->seen) {
            i++;
            continue;
        }
        if (!wd_of_a_path(w, s->wd))
            inotify_rm_watch(w->fd, s->wd);
        drop_sub(w, s);
    }
}

/* Adds whatever watch is missing for p. Returns 1 when it is all in place. */
static int set_up(struct watch *w, struct watched *p)
{
    if (p->wd_parent < 0)
        p->wd_parent = add(w, p, p->parent);
    struct stat sb;
    int is_dir = stat(p->path, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (is_dir) {
        /* Re-added every time: after a replacement the path is a new
         * inode, and inotify answers with its watch (a new or the same wd). */
        p->wd_self = add(w, p, p->path);
    } else {
        p->wd_self = -1;
    }
    return p->wd_parent >= 0 && (!is_dir || p->wd_self >= 0);
}

static void set_up_all(struct watch *w)
{
    int complete = 1;
    for (size_t i = 0; i < w->n; i++)
        complete &= set_up(w, &w->w[i]);
    rescan(w);
    /* Without inotify, polling looks at everything anyway. */
    if (!complete && w->fd >= 0 && !w->retry.armed)
        loop_timer_arm(w->loop, &w->retry, RETRY_MS);
}

/* A file touched more often than the debounce would hold a real change
 * back for ever (every 200 ms held one back 8 s): a burst is acted on at
 * the latest this long after its first event. */
static int64_t debounce_bound(const struct watch *w)
{
    return w->debounce_ms * 4 > 2000 ? w->debounce_ms * 4 : 2000;
}

static void mark(struct watch *w)
{
    w->last_event_ms = loop_now_ms();
    if (w->first_event_ms == 0)
        w->first_event_ms = w->last_event_ms;
    /* Re-armed only when idle: a burst of events costs a clock read each,
     * not a timerfd update each (on_debounce waits out the rest). */
    if (!w->debounce.armed)
        loop_timer_arm(w->loop, &w->debounce, w->debounce_ms);
}

/* What each watched directory's ..data points at now, one string. */
static void data_targets(const struct watch *w, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < w->n && o + 1 < len; i++) {
        char link[PATH_MAX], target[256];
        snprintf(link, sizeof link, "%s/..data", w->paths[i]);
        ssize_t l = readlink(link, target, sizeof target - 1);
        target[l > 0 ? l : 0] = '\0';
        int n = snprintf(out + o, len - o, "%s|", target);
        if (n < 0)
            break;
        o += (size_t)n < len - o ? (size_t)n : len - o - 1;
    }
}

/* One revision's hash: the kubelet may swap ..data while the tree is
 * walked key by key (with --debounce 0 a POST carried the hash of a mix of
 * two revisions), so the walk is done again when ..data moved meanwhile. */
static int hash_one_revision(struct watch *w, char *hash, enum hash_found *found,
                             struct hash_notes *hn)
{
    char before[1024], after[1024];
    int rc = 0;
    for (int tries = 0; tries < 5; tries++) {
        data_targets(w, before, sizeof before);
        rc = hash_paths_with(w->paths, w->n, &w->hash_opts, hash, found, hn);
        data_targets(w, after, sizeof after);
        if (rc < 0 || strcmp(before, after) == 0)
            break;
    }
    return rc;
}

/* Learns p's volume: its device, and the device of the file system the
 * volume is mounted on (the first ancestor on another device). */
static void learn_volume(struct watched *p, dev_t dev)
{
    p->dev = dev;
    p->dev_known = 1;
    p->host_dev_known = 0;
    char dir[PATH_MAX];
    if (realpath(p->path, dir) == NULL)
        return;
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (slash == NULL)
            return;
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
        struct stat a;
        if (stat(dir, &a) < 0)
            return;
        if (a.st_dev != dev) {
            p->host_dev = a.st_dev;
            p->host_dev_known = 1;
            return;
        }
        if (strcmp(dir, "/") == 0)
            return;
    }
}

/* Whether what shows at p now is the file system underneath its volume
 * (the volume was unmounted). A volume mounted anew has a device number of
 * its own, often not the old one (another mount took it meanwhile): that
 * is the volume back, not a gap for good. */
static int volume_unmounted(struct watched *p)
{
    struct stat sb;
    if (stat(p->path, &sb) < 0)
        return 0;
    if (!p->dev_known || sb.st_dev == p->dev) {
        if (!p->dev_known)
            learn_volume(p, sb.st_dev);
        return 0;
    }
    if (p->host_dev_known && sb.st_dev == p->host_dev)
        return 1;
    learn_volume(p, sb.st_dev); /* mounted anew (or a volume appeared over it) */
    return 0;
}

static void on_debounce(void *ctx)
{
    struct watch *w = ctx;
    int64_t now = loop_now_ms();
    int64_t quiet = now - w->last_event_ms;
    int64_t left = w->first_event_ms + debounce_bound(w) - now;
    if (quiet < w->debounce_ms && left > 0) {
        int64_t wait = w->debounce_ms - quiet;
        loop_timer_arm(w->loop, &w->debounce, wait < left ? wait : left);
        return;
    }
    w->first_event_ms = 0;
    set_up_all(w);
    enum hash_found found[w->n];
    char hash[HASH_TEXT_LEN];
    struct hash_notes hn;
    int rc = hash_one_revision(w, hash, found, &hn);
    if (rc >= 0)
        say_notes(w, &hn);
    if (rc < 0) {
        log_errno(LOG_ERROR, -rc, "hashing the watched paths");
        return;
    }
    int gap = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct watched *p = &w->w[i];
        if (found[i] != HASH_MISSING && volume_unmounted(p)) {
            /* Its volume was unmounted: what shows now is the directory
             * underneath, not a config. A gap, as a vanished path. */
            if (!p->gap_logged)
                log_warn("--watch %s shows the file system its volume was mounted on (the "
                         "volume unmounted?); waiting for it to come back before acting",
                         p->path);
            p->gap_logged = 1;
            gap = 1;
            /* Nothing tells when it is mounted again (the watch is on the
             * directory underneath): look again every RETRY_MS. */
            if (!w->retry.armed)
                loop_timer_arm(w->loop, &w->retry, RETRY_MS);
            continue;
        }
        if (found[i] != HASH_MISSING) {
            if (p->gap_logged)
                log_info("--watch %s is back", p->path);
            else if (!p->ever_seen)
                log_info("--watch %s appeared", p->path);
            p->ever_seen = 1;
            p->gap_logged = 0;
        } else if (p->ever_seen) {
            /* A config that vanished is not a config to act on: wait for it
             * (a delete and re-create is one change, or none). */
            if (!p->gap_logged)
                log_warn("--watch %s disappeared; waiting for it to come back before acting",
                         p->path);
            p->gap_logged = 1;
            gap = 1;
        }
    }
    if (gap || strcmp(hash, w->hash) == 0)
        return;
    memcpy(w->hash, hash, sizeof hash);
    w->on_change(w->ctx, w->hash);
}

static void on_retry(void *ctx)
{
    struct watch *w = ctx;
    set_up_all(w);
    /* Whatever appeared meanwhile may hold content already. */
    mark(w);
}

/* Whether a directory came, went or moved: the tree's watches follow. */
static int tree_moved(const struct inotify_event *ev)
{
    return (ev->mask & IN_ISDIR) &&
           (ev->mask & (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO));
}

static int relevant(const struct watch *w, const struct watched *p, const struct inotify_event *ev)
{
    if (ev->wd == p->wd_self) {
        /* In the path itself: what the filter lets count (the AtomicWriter's
         * ".." entries always do). */
        if (ev->len == 0 || strncmp(ev->name, "..", 2) == 0)
            return 1;
        return pathfilter_counts(&w->filter, ev->name, (ev->mask & IN_ISDIR) != 0);
    }
    if (ev->wd != p->wd_parent)
        return 0;
    if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
        return 1;
    /* In the parent only the path itself counts, and the AtomicWriter's
     * entries (..data) when the path is one key of a ConfigMap volume. */
    return ev->len > 0 && (strcmp(ev->name, p->base) == 0 || strncmp(ev->name, "..", 2) == 0);
}

static void on_events(void *ctx, uint32_t events);

/* One pass of stats over what is watched (no content read). */
static void poll_signature(struct watch *w, char out[HASH_TEXT_LEN])
{
    struct hash_opts o = w->hash_opts;
    o.identity_only = 1;
    o.cache = NULL;
    if (hash_paths_with(w->paths, w->n, &o, out, NULL, NULL) < 0)
        out[0] = '\0'; /* out of memory: next time */
}

static void on_poll(void *ctx)
{
    struct watch *w = ctx;
    /* What inotify has to say first, and again after the pass: a change
     * the pass sees was made before its end, so its event (if inotify saw
     * it) is queued by then. */
    if (w->fd >= 0)
        on_events(w, EPOLLIN);
    unsigned at_walk = w->events_total;
    char sig[HASH_TEXT_LEN];
    poll_signature(w, sig);
    if (w->fd >= 0)
        on_events(w, EPOLLIN);
    if (sig[0] != '\0' && strcmp(sig, w->poll_sig) != 0) {
        /* No event since the last pass began: inotify missed it. */
        int missed = w->fd >= 0 && w->events_total == w->events_at_walk && !w->limit_said;
        if (missed && !w->silent_said) {
            w->silent_said = 1;
            int was_detecting = w->detecting;
            if (was_detecting) {
                w->detecting = 0;
                w->poll_ms = polling_ms(w);
            }
            log_warn("--watch: a change under %s%s came with no inotify event (a mount from "
                     "another machine or a VM's file sharing?): polling every %lldms %s",
                     w->paths[0], w->n > 1 ? " (or another watched path)" : "",
                     (long long)w->poll_ms,
                     was_detecting ? "from now on (--watch-poll sets how often)" : "finds them");
        }
        memcpy(w->poll_sig, sig, sizeof sig);
        mark(w);
        if (!missed && w->detecting) {
            /* A change inotify did report: it serves this tree, and the
             * looks stop (an idle dev loop then costs nothing). */
            w->detecting = 0;
            log_debug("--watch: inotify reports the changes under %s: no more looks", w->paths[0]);
            return;
        }
    }
    w->events_at_walk = at_walk;
    loop_timer_arm(w->loop, &w->poll, w->poll_ms);
}

/* Polls every ms from now on (never less often than it does already). */
static void start_polling(struct watch *w, int64_t ms)
{
    if (w->poll.armed && !w->detecting && ms >= w->poll_ms)
        return;
    w->poll_ms = ms;
    w->detecting = 0;
    if (w->poll_sig[0] == '\0')
        poll_signature(w, w->poll_sig);
    loop_timer_arm(w->loop, &w->poll, ms);
}

/* A plain directory tree (not a ConfigMap volume, whose kubelet writes are
 * local and seen) is looked at every DETECT_MS until its first change: a
 * change inotify never reported turns polling on; one it did report ends
 * the looks. */
static void start_detecting(struct watch *w)
{
    w->poll_ms = DETECT_MS;
    w->detecting = 1;
    poll_signature(w, w->poll_sig);
    loop_timer_arm(w->loop, &w->poll, DETECT_MS);
}

static int plain_directory(const char *path)
{
    struct stat sb;
    char data[PATH_MAX];
    if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return 0;
    snprintf(data, sizeof data, "%s/..data", path);
    return lstat(data, &sb) < 0;
}

/* File systems whose changes made elsewhere (the server, the host of a VM)
 * never reach inotify here: statfs(2)'s magic numbers. */
static const char *silent_fs(const char *path)
{
    struct statfs sf;
    if (statfs(path, &sf) < 0)
        return NULL;
    switch ((unsigned long)sf.f_type) {
    case 0x6969UL:
        return "NFS";
    case 0x517BUL:
        return "SMB";
    case 0xFF534D42UL:
        return "CIFS";
    case 0xFE534D42UL:
        return "SMB2";
    case 0x01021997UL:
        return "9p";
    case 0x65735546UL:
        return "FUSE (virtiofs, a VM's file sharing)";
    default:
        return NULL;
    }
}

static void on_resume(void *ctx)
{
    struct watch *w = ctx;
    if (loop_add(w->loop, &w->lw, w->fd, EPOLLIN, on_events, w) < 0) {
        loop_timer_arm(w->loop, &w->resume, BATCH_MS); /* out of memory: later */
        return;
    }
    w->paused = 0;
    on_events(w, EPOLLIN);
}

static void on_events(void *ctx, uint32_t events)
{
    struct watch *w = ctx;
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t len = read(w->fd, buf, sizeof buf);
        if (len < 0 && errno == EINTR)
            continue;
        if (len < 0) {
            if (errno != EAGAIN)
                log_errno(LOG_ERROR, errno, "reading inotify events");
            return;
        }
        int any = 0;
        for (char *p = buf; p < buf + len;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                /* Events were lost: what changed is unknown, so look at all
                 * of it again (the hash decides). */
                log_warn("inotify queue overflowed: rescanning the watched paths");
                any = 1;
                w->rescan = 1;
                continue;
            }
            if (tree_moved(ev))
                w->rescan = 1;
            struct subdir *sub = find_sub(w, ev->wd);
            if (sub != NULL && !wd_of_a_path(w, ev->wd)) {
                if (ev->mask & IN_IGNORED) {
                    drop_sub(w, sub); /* its directory is gone: the parent said so */
                    continue;
                }
                if (ev->len == 0)
                    continue;
                char rel[PATH_MAX];
                if (snprintf(rel, sizeof rel, "%s/%s", sub->rel, ev->name) >= (int)sizeof rel ||
                    pathfilter_counts(&w->filter, rel, (ev->mask & IN_ISDIR) != 0))
                    any = 1;
                continue;
            }
            for (size_t i = 0; i < w->n; i++) {
                struct watched *q = &w->w[i];
                if (!relevant(w, q, ev))
                    continue;
                any = 1;
                /* The directory is gone (deleted, unmounted, renamed away):
                 * its watch is dead; set_up re-adds it when it is back. */
                if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
                    if (ev->wd == q->wd_self)
                        q->wd_self = -1;
                    if (ev->wd == q->wd_parent)
                        q->wd_parent = -1;
                }
            }
        }
        if (w->rescan)
            rescan(w);
        if (any) {
            w->events_total++;
            mark(w);
            for (size_t i = 0; i < w->n; i++)
                if (w->w[i].wd_parent < 0 && !w->retry.armed)
                    loop_timer_arm(w->loop, &w->retry, RETRY_MS);
        }
        if (len > 0 && !w->paused && loop_del(w->loop, &w->lw) == 0) {
            w->paused = 1;
            loop_timer_arm(w->loop, &w->resume, BATCH_MS);
        }
    }
}

/* Whether a directory on the way to path is a symlink: a ConfigMap item
 * with a nested path (a/b/key) is a plain file under the link a ->
 * ..data/a, and updated like any key. */
static int through_symlink(const char *path)
{
    char prefix[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof prefix)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if (path[i] != '/')
            continue;
        memcpy(prefix, path, i);
        prefix[i] = '\0';
        struct stat sb;
        if (lstat(prefix, &sb) == 0 && S_ISLNK(sb.st_mode))
            return 1;
    }
    return 0;
}

static void warn_at_start(const struct watched *p)
{
    struct stat sb;
    if (lstat(p->path, &sb) < 0) {
        log_warn("--watch %s does not exist (yet): watching for it to appear", p->path);
        return;
    }
    /* docs/kubernetes.md: a ConfigMap key mounted whole is a symlink into
     * ..data; a subPath mount is a plain file the kubelet never updates. */
    if (S_ISREG(sb.st_mode) && !through_symlink(p->path))
        log_warn("--watch %s is a plain file, not a symlink into a ConfigMap's ..data: if it "
                 "is a subPath mount, Kubernetes never updates it (mount the ConfigMap as a "
                 "directory and watch that)",
                 p->path);
}

struct watch *watch_start(const struct watch_settings *ws, struct loop *loop,
                          watch_change_fn on_change, void *ctx, char *err, size_t errlen)
{
    const struct strlist *paths = ws->paths;
    int64_t debounce_ms = ws->debounce_ms;
    struct watch *w = calloc(1, sizeof *w);
    if (w == NULL || (w->w = calloc(paths->n, sizeof *w->w)) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(w);
        return NULL;
    }
    w->loop = loop;
    w->n = paths->n;
    w->paths = paths->v;
    w->debounce_ms = debounce_ms;
    w->on_change = on_change;
    w->ctx = ctx;
    loop_timer_init(&w->debounce, on_debounce, w);
    loop_timer_init(&w->retry, on_retry, w);
    loop_timer_init(&w->resume, on_resume, w);
    loop_timer_init(&w->poll, on_poll, w);
    w->poll_asked_ms = ws->poll_ms;
    if (ws->filter != NULL)
        w->filter = *ws->filter;
    w->hash_opts.filter = pathfilter_active(&w->filter) ? &w->filter : NULL;
    w->hash_opts.cache = hash_cache_new(); /* NULL (out of memory): every file is read */
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        /* Out of inotify instances (shared by every container of the
         * node's user): poll, as when out of watches, rather than never
         * start the app. The hash decides, every RETRY_MS. */
        if (errno != EMFILE && errno != ENFILE && errno != ENOMEM) {
            snprintf(err, errlen, "inotify: %s", strerror(errno));
            free(w->w);
            free(w);
            return NULL;
        }
        log_errno(LOG_WARN, errno,
                  "--watch: no inotify instance%s; polling the watched paths "
                  "every %ds instead",
                  errno == EMFILE ? " (fs.inotify.max_user_instances is used up)" : "",
                  RETRY_MS / 1000);
    }
    for (size_t i = 0; i < w->n; i++) {
        struct watched *p = &w->w[i];
        p->path = paths->v[i];
        p->wd_self = p->wd_parent = -1;
        char *a = strdup(p->path), *b = strdup(p->path);
        p->parent = a ? strdup(dirname(a)) : NULL;
        p->base = b ? strdup(basename(b)) : NULL;
        free(a);
        free(b);
        if (p->parent == NULL || p->base == NULL) {
            snprintf(err, errlen, "out of memory");
            watch_stop(w);
            return NULL;
        }
        warn_at_start(p);
    }
    int rc = w->fd >= 0 ? loop_add(loop, &w->lw, w->fd, EPOLLIN, on_events, w) : 0;
    if (rc < 0) {
        snprintf(err, errlen, "%s", strerror(-rc));
        watch_stop(w);
        return NULL;
    }
    /* Watches first, then the hash: a change between the two is then seen
     * as an event, never lost. */
    set_up_all(w);
    enum hash_found found[w->n];
    struct hash_notes hn;
    rc = hash_one_revision(w, w->hash, found, &hn);
    if (rc >= 0)
        say_notes(w, &hn);
    if (rc < 0) {
        snprintf(err, errlen, "hashing: %s", strerror(-rc));
        watch_stop(w);
        return NULL;
    }
    for (size_t i = 0; i < w->n; i++) {
        w->w[i].ever_seen = found[i] != HASH_MISSING;
        if (w->w[i].ever_seen)
            volume_unmounted(&w->w[i]); /* learns its volume */
    }
    int64_t poll_ms = w->fd < 0 ? polling_ms(w) : ws->poll_ms;
    for (size_t i = 0; i < w->n && w->fd >= 0; i++) {
        const char *fs = silent_fs(w->w[i].path);
        if (fs == NULL)
            continue;
        poll_ms = polling_ms(w);
        log_info("--watch %s is on %s, where changes made elsewhere reach no inotify: "
                 "polling every %lldms as well",
                 w->w[i].path, fs, (long long)poll_ms);
        break;
    }
    if (poll_ms > 0) {
        start_polling(w, poll_ms);
    } else if (!w->poll.armed) { /* (the watch limit may have started it) */
        for (size_t i = 0; i < w->n; i++) {
            if (plain_directory(w->w[i].path)) {
                start_detecting(w);
                break;
            }
        }
    }
    return w;
}

int watch_hash_now(struct watch *w, char out[HASH_TEXT_LEN])
{
    enum hash_found found[w->n];
    struct hash_notes hn;
    return hash_one_revision(w, out, found, &hn);
}

void watch_stop(struct watch *w)
{
    if (w == NULL)
        return;
    loop_timer_disarm(w->loop, &w->debounce);
    loop_timer_disarm(w->loop, &w->retry);
    loop_timer_disarm(w->loop, &w->resume);
    loop_timer_disarm(w->loop, &w->poll);
    for (size_t i = 0; i < w->nsubs; i++)
        free(w->subs[i].rel);
    free(w->subs);
    hash_cache_free(w->hash_opts.cache);
    if (w->fd >= 0) {
        if (!w->paused)
            loop_del(w->loop, &w->lw);
        close(w->fd);
    }
    for (size_t i = 0; i < w->n; i++) {
        free(w->w[i].parent);
        free(w->w[i].base);
    }
    free(w->w);
    free(w);
}
