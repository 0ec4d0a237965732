/* hash: see hash.h. */
#include "hash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pathfilter.h"

/* ConfigMap items may have paths (a/b/key); deeper than this is a symlink
 * loop, not a config. */
#define MAX_DEPTH 16

/* Each record is tagged and length-prefixed, so that no two different
 * trees can feed the same bytes (a file "ab" holding "c" against a file
 * "a" holding "bc"). */
static void put_u64(struct sha256_ctx *c, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    sha256_update(c, sizeof b, b);
}

static void put_tag(struct sha256_ctx *c, char tag, const char *s)
{
    size_t l = strlen(s);
    sha256_update(c, 1, (const uint8_t *)&tag);
    put_u64(c, l);
    sha256_update(c, l, (const uint8_t *)s);
}

static void put_error(struct sha256_ctx *c, int err)
{
    put_tag(c, 'E', "");
    put_u64(c, (uint64_t)err);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One hash_paths call: the budgets and what is on the current path. */
struct walk {
    struct sha256_ctx c;
    struct hash_notes *notes;
    struct hash_notes scratch;
    struct hash_opts opts;
    int64_t now_ns; /* CLOCK_REALTIME at the walk's start: files' times are on it */
    size_t top_len; /* of the top path as given: what follows it is the entry's relative path */
    uint64_t content_left;
    unsigned entries;
    char root[PATH_MAX]; /* the top path, resolved: the watched tree */
    size_t rootlen;
    char path[PATH_MAX]; /* the entry being hashed, for the notes */
    struct {
        dev_t dev;
        ino_t ino;
    } on_path[MAX_DEPTH + 2];
    int depth_dirs;
};

static void note(struct walk *w, unsigned *counter, const char *why)
{
    (*counter)++;
    if (w->notes->first[0] != '\0')
        return;
    /* A long path is cut at its start: its end names the entry. */
    size_t plen = strlen(w->path), room = 160;
    const char *p = plen > room ? w->path + plen - room : w->path;
    int n =
        snprintf(w->notes->first, sizeof w->notes->first, "%s%s: ", plen > room ? "..." : "", p);
    if (n > 0 && (size_t)n < sizeof w->notes->first)
        snprintf(w->notes->first + n, sizeof w->notes->first - (size_t)n, "%.*s",
                 (int)(sizeof w->notes->first - (size_t)n - 1), why);
}

/* Where an open fd really is ("" when unknown). */
static void fd_path(int fd, char *out, size_t len)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    ssize_t l = readlink(proc, out, len - 1);
    out[l > 0 ? l : 0] = '\0';
}

static int inside_root(const struct walk *w, const char *real)
{
    if (w->rootlen == 0)
        return 1; /* unknown: nothing to compare with */
    if (strcmp(w->root, "/") == 0)
        return 1;
    return strncmp(real, w->root, w->rootlen) == 0 &&
           (real[w->rootlen] == '/' || real[w->rootlen] == '\0');
}

/* A file that is not read: who it is, its size and times. A rotation (new
 * inode, size or mtime) still changes the hash. */
static void put_identity(struct sha256_ctx *c, const struct stat *sb)
{
    put_tag(c, 'I', "");
    put_u64(c, (uint64_t)sb->st_dev);
    put_u64(c, (uint64_t)sb->st_ino);
    put_u64(c, (uint64_t)sb->st_size);
    put_u64(c, (uint64_t)sb->st_mtim.tv_sec);
    put_u64(c, (uint64_t)sb->st_mtim.tv_nsec);
    put_u64(c, (uint64_t)sb->st_ctim.tv_sec);
    put_u64(c, (uint64_t)sb->st_ctim.tv_nsec);
}

static int hash_at(struct walk *w, int dirfd, const char *name, int depth, enum hash_found *found);

static int hash_dir(struct walk *w, int fd, int depth)
{
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int err = errno;
        close(fd);
        put_error(&w->c, err);
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        /* "." and "..", and the AtomicWriter's own entries (..data and the
         * timestamped directories): the visible links reach their content. */
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || e->d_name[1] == '.'))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (nn == NULL) {
                rc = -ENOMEM;
                goto out;
            }
            names = nn;
        }
        if ((names[n] = strdup(e->d_name)) == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        n++;
    }
    /* readdir's order is the file system's: sort, so equal trees hash equal. */
    if (n > 1)
        qsort(names, n, sizeof *names, by_name);
    /* Filtered, a directory counts only through the files in it that
     * count: an empty directory, or one of files that do not, is nothing. */
    if (!pathfilter_active(w->opts.filter)) {
        put_tag(&w->c, 'D', "");
        put_u64(&w->c, n);
    }
    size_t plen = strlen(w->path);
    for (size_t i = 0; i < n && rc == 0; i++) {
        snprintf(w->path + plen, sizeof w->path - plen, "/%s", names[i]);
        rc = hash_at(w, dirfd(d), names[i], depth + 1, NULL);
    }
    w->path[plen] = '\0';
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

/* --- the per-file digest cache -------------------------------------- */

/* What one file's record was, and the stat it was made from. */
struct cache_entry {
    char *path; /* NULL: an empty slot */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    uint8_t digest[SHA256_DIGEST_SIZE];
    uint64_t total;
    int identity; /* hashed by identity (past the budget): stays so while unchanged */
    unsigned gen; /* the walk that last saw it */
};

struct hash_cache {
    struct cache_entry *slots;
    size_t cap, n; /* cap: a power of 2, or 0 */
    unsigned gen;
    size_t seen; /* entries seen by the current walk */
};

/* A file changed less than this long ago is read again every time: its
 * times come from a coarse clock, so a second write within one tick can
 * leave size and times as they were (git's "racily clean" entries). */
#define CACHE_SETTLED_NS (2 * 1000000000LL)

struct hash_cache *hash_cache_new(void)
{
    return calloc(1, sizeof(struct hash_cache));
}

void hash_cache_free(struct hash_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->cap; i++)
        free(c->slots[i].path);
    free(c->slots);
    free(c);
}

size_t hash_cache_size(const struct hash_cache *c)
{
    return c ? c->n : 0;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct cache_entry *cache_slot(struct hash_cache *c, const char *path)
{
    if (c->cap == 0)
        return NULL;
    for (size_t i = fnv1a(path) & (c->cap - 1);; i = (i + 1) & (c->cap - 1))
        if (c->slots[i].path == NULL || strcmp(c->slots[i].path, path) == 0)
            return &c->slots[i];
}

/* Rebuilds the table at cap: to grow (prune 0), or after a walk, keeping
 * only what it saw (prune 1). */
static int cache_rebuild(struct hash_cache *c, size_t cap, int prune)
{
    struct cache_entry *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return -ENOMEM;
    struct cache_entry *old = c->slots;
    size_t oldcap = c->cap;
    c->slots = slots;
    c->cap = cap;
    c->n = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].path == NULL)
            continue;
        if (prune && old[i].gen != c->gen) {
            free(old[i].path); /* gone from the tree */
            continue;
        }
        *cache_slot(c, old[i].path) = old[i];
        c->n++;
    }
    free(old);
    return 0;
}

static int same_stat(const struct cache_entry *e, const struct stat *sb)
{
    return e->dev == sb->st_dev && e->ino == sb->st_ino && e->size == sb->st_size &&
           e->mtime.tv_sec == sb->st_mtim.tv_sec && e->mtime.tv_nsec == sb->st_mtim.tv_nsec &&
           e->ctime.tv_sec == sb->st_ctim.tv_sec && e->ctime.tv_nsec == sb->st_ctim.tv_nsec;
}

static int64_t ns_of(struct timespec t)
{
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Keeps a file's record, when its times are settled (out of memory: not
 * kept, read again next time). */
static void cache_store(struct walk *w, const struct stat *sb, const uint8_t *digest,
                        uint64_t total, int identity)
{
    struct hash_cache *c = w->opts.cache;
    if (ns_of(sb->st_mtim) > w->now_ns - CACHE_SETTLED_NS ||
        ns_of(sb->st_ctim) > w->now_ns - CACHE_SETTLED_NS)
        return;
    if ((c->n + 1) * 2 > c->cap && cache_rebuild(c, c->cap ? c->cap * 2 : 64, 0) < 0)
        return;
    struct cache_entry *e = cache_slot(c, w->path);
    if (e->path == NULL) {
        if ((e->path = strdup(w->path)) == NULL)
            return;
        c->n++;
        c->seen++;
    } else if (e->gen != c->gen) {
        c->seen++;
    }
    e->dev = sb->st_dev;
    e->ino = sb->st_ino;
    e->size = sb->st_size;
    e->mtime = sb->st_mtim;
    e->ctime = sb->st_ctim;
    memcpy(e->digest, digest, sizeof e->digest);
    e->total = total;
    e->identity = identity;
    e->gen = c->gen;
}

/* The record of a file the cache knows unchanged. */
static void put_known(struct walk *w, struct cache_entry *e, const struct stat *sb)
{
    if (e->gen != w->opts.cache->gen)
        w->opts.cache->seen++;
    e->gen = w->opts.cache->gen;
    if (e->identity) {
        note(w, &w->notes->big, "past the content budget: hashed by size and times");
        put_identity(&w->c, sb);
    } else {
        put_tag(&w->c, 'F', "");
        sha256_update(&w->c, sizeof e->digest, e->digest);
        put_u64(&w->c, e->total);
    }
}

/* A file's record: its content's digest and length (or its identity past
 * the budget), from the cache while its stat is unchanged and settled. */
static void hash_content(struct walk *w, int fd, const struct stat *sb)
{
    struct cache_entry *e = w->opts.cache ? cache_slot(w->opts.cache, w->path) : NULL;
    if (e != NULL && e->path != NULL && same_stat(e, sb)) {
        put_known(w, e, sb);
        return;
    }
    uint8_t digest[SHA256_DIGEST_SIZE] = {0};
    if ((uint64_t)sb->st_size > w->content_left) {
        note(w, &w->notes->big, "past the content budget: hashed by size and times");
        put_identity(&w->c, sb);
        if (w->opts.cache)
            cache_store(w, sb, digest, 0, 1);
        return;
    }
    struct sha256_ctx fc;
    sha256_init(&fc);
    uint8_t buf[65536];
    uint64_t total = 0;
    int err = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = errno;
            break;
        }
        if (r == 0)
            break;
        /* A file that grows while read is bounded all the same. */
        if ((uint64_t)r > w->content_left) {
            err = EFBIG;
            w->content_left = 0;
            break;
        }
        sha256_update(&fc, (size_t)r, buf);
        total += (uint64_t)r;
        w->content_left -= (uint64_t)r;
    }
    put_tag(&w->c, 'F', "");
    if (err) {
        put_error(&w->c, err); /* not kept: read again next time */
        return;
    }
    sha256_digest(&fc, sizeof digest, digest);
    sha256_update(&w->c, sizeof digest, digest);
    put_u64(&w->c, total);
    if (w->opts.cache)
        cache_store(w, sb, digest, total, 0);
}

/* Filtered, a file counts only if the filter says so, and is then named
 * by its path from the top. Returns 0 when it does not count. */
static int name_file(struct walk *w, int filtered, const char *rel)
{
    if (!filtered)
        return 1;
    if (!pathfilter_counts(w->opts.filter, rel, 0))
        return 0;
    put_tag(&w->c, 'N', rel);
    return 1;
}

static int hash_at(struct walk *w, int dirfd, const char *name, int depth, enum hash_found *found)
{
    /* Filtered, an entry is named by its path from the top (directories
     * add nothing of their own), and only once it is known to count. */
    const struct pathfilter *filter = w->opts.filter;
    int filtered = depth > 0 && pathfilter_active(filter);
    const char *rel = strlen(w->path) > w->top_len ? w->path + w->top_len + 1 : name;
    /* A top-level path is hashed by content only: the same tree gives the
     * same hash wherever it is mounted. */
    if (!filtered)
        put_tag(&w->c, 'N', depth > 0 ? name : "");
    if (found)
        *found = HASH_MISSING;
    if (depth > MAX_DEPTH) {
        put_error(&w->c, ELOOP);
        return 0;
    }
    if (++w->entries > HASH_MAX_ENTRIES) {
        if (w->entries == HASH_MAX_ENTRIES + 1)
            note(w, &w->notes->truncated,
                 "more than " HASH_STRING(HASH_MAX_ENTRIES) " entries: the rest is not hashed");
        put_error(&w->c, E2BIG);
        return 0;
    }
    if (w->opts.identity_only) {
        /* A poll's pass: who each file is, its size and times; no open, no
         * read (a 10,000-file tree is one stat each). */
        struct stat isb;
        /* A symlink goes the content way (few in a tree): one out of the
         * tree counts by its text there, and its target's moves, which
         * no watch sees, must not look like a change inotify missed. */
        if (fstatat(dirfd, name, &isb, depth > 0 ? AT_SYMLINK_NOFOLLOW : 0) == 0 &&
            !S_ISDIR(isb.st_mode) && !S_ISLNK(isb.st_mode)) {
            if (!name_file(w, filtered, rel))
                return 0;
            if (found)
                *found = S_ISREG(isb.st_mode) ? HASH_FILE : HASH_OTHER;
            put_identity(&w->c, &isb);
            return 0;
        }
    }
    struct stat lsb;
    int lstat_ok = depth > 0 && fstatat(dirfd, name, &lsb, AT_SYMLINK_NOFOLLOW) == 0;
    int is_link = lstat_ok && S_ISLNK(lsb.st_mode);
    /* A plain file the cache knows, unchanged: its record without opening
     * it (the open, not the read, is most of a small file's cost). */
    struct cache_entry *known = lstat_ok && !is_link && S_ISREG(lsb.st_mode) && w->opts.cache
                                    ? cache_slot(w->opts.cache, w->path)
                                    : NULL;
    if (known != NULL && known->path != NULL && same_stat(known, &lsb)) {
        if (!name_file(w, filtered, rel))
            return 0;
        if (found)
            *found = HASH_FILE;
        put_known(w, known, &lsb);
        return 0;
    }
    /* O_NONBLOCK: a FIFO in a watched directory must not hang podvisor;
     * the type is checked on the open fd, so nothing can swap it between. */
    int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int err = errno;
        struct stat sb;
        /* There but not readable (a 0400 Secret, podvisor not root): its
         * identity, size and times, so that a rotation is still seen. */
        if (err != ENOENT && fstatat(dirfd, name, &sb, 0) == 0 && S_ISREG(sb.st_mode)) {
            if (!name_file(w, filtered, rel))
                return 0;
            if (found)
                *found = HASH_FILE;
            char why[128];
            snprintf(why, sizeof why, "%s: hashed by size and times", strerror(err));
            note(w, &w->notes->unreadable, why);
            put_identity(&w->c, &sb);
            return 0;
        }
        /* Gone since the directory was read, or not to be opened: as a
         * file, for the filter (a directory would be watched anyway). */
        if (!name_file(w, filtered, rel))
            return 0;
        put_error(&w->c, err == ENOENT ? 0 : err);
        return 0;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        int err = errno;
        if (filtered)
            put_tag(&w->c, 'N', rel);
        put_error(&w->c, err);
        close(fd);
        return 0;
    }
    if (filtered) {
        if (!pathfilter_counts(filter, rel, S_ISDIR(sb.st_mode))) {
            close(fd);
            return 0;
        }
        if (!S_ISDIR(sb.st_mode) || is_link)
            put_tag(&w->c, 'N', rel);
    }
    if (depth == 0) {
        /* The watched tree: where the top path really is. */
        fd_path(fd, w->root, sizeof w->root);
        w->rootlen = strlen(w->root);
    } else if (is_link) {
        char real[PATH_MAX];
        fd_path(fd, real, sizeof real);
        if (!inside_root(w, real)) {
            /* Out of the watched tree (a link to / would walk the whole
             * file system): its text counts, not what it points at. */
            char text[PATH_MAX];
            ssize_t l = readlinkat(dirfd, name, text, sizeof text - 1);
            text[l > 0 ? l : 0] = '\0';
            note(w, &w->notes->outside, "a symlink out of the watched tree: hashed by its text");
            put_tag(&w->c, 'L', text);
            close(fd);
            return 0;
        }
    }
    if (S_ISDIR(sb.st_mode)) {
        if (found)
            *found = HASH_DIR;
        for (int i = 0; i < w->depth_dirs; i++) {
            if (w->on_path[i].dev == sb.st_dev && w->on_path[i].ino == sb.st_ino) {
                note(w, &w->notes->loops,
                     "a directory already on its own path (a symlink "
                     "loop): not entered again");
                put_error(&w->c, ELOOP);
                close(fd);
                return 0;
            }
        }
        w->on_path[w->depth_dirs].dev = sb.st_dev;
        w->on_path[w->depth_dirs].ino = sb.st_ino;
        w->depth_dirs++;
        int rc = hash_dir(w, fd, depth);
        w->depth_dirs--;
        return rc;
    }
    if (!S_ISREG(sb.st_mode)) {
        if (found)
            *found = HASH_OTHER;
        put_tag(&w->c, 'O', "");
        put_u64(&w->c, (uint64_t)(sb.st_mode & S_IFMT));
        close(fd);
        return 0;
    }
    if (found)
        *found = HASH_FILE;
    hash_content(w, fd, &sb);
    close(fd);
    return 0;
}

int hash_paths(char *const *paths, size_t n, char out[HASH_TEXT_LEN], enum hash_found *found,
               struct hash_notes *notes)
{
    return hash_paths_with(paths, n, NULL, out, found, notes);
}

int hash_paths_with(char *const *paths, size_t n, const struct hash_opts *opts,
                    char out[HASH_TEXT_LEN], enum hash_found *found, struct hash_notes *notes)
{
    struct walk *w = calloc(1, sizeof *w);
    if (w == NULL)
        return -ENOMEM;
    if (opts != NULL)
        w->opts = *opts;
    if (w->opts.identity_only)
        w->opts.cache = NULL; /* reads nothing: keeps the cache as it is */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    w->now_ns = ns_of(now);
    if (w->opts.cache != NULL) {
        w->opts.cache->gen++;
        w->opts.cache->seen = 0;
    }
    w->notes = notes ? notes : &w->scratch;
    memset(w->notes, 0, sizeof *w->notes);
    w->content_left = HASH_CONTENT_BUDGET;
    sha256_init(&w->c);
    put_u64(&w->c, n);
    for (size_t i = 0; i < n; i++) {
        snprintf(w->path, sizeof w->path, "%s", paths[i]);
        w->top_len = strlen(w->path);
        w->rootlen = 0;
        w->depth_dirs = 0;
        int rc = hash_at(w, AT_FDCWD, paths[i], 0, found ? &found[i] : NULL);
        if (rc < 0) {
            free(w);
            return rc;
        }
    }
    /* Files no longer in the tree leave the cache (a failed rebuild keeps
     * them until the next one). */
    struct hash_cache *cache = w->opts.cache;
    if (cache != NULL && cache->seen < cache->n) {
        size_t cap = 64;
        while (cap < cache->seen * 2 + 2)
            cap *= 2;
        cache_rebuild(cache, cap, 1);
    }
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_digest(&w->c, sizeof digest, digest);
    free(w);
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", digest[i]);
    return 0;
}
