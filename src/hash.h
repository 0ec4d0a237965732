/* hash: the content hash behind change detection (--watch) and `podvisor
 * hash`: SHA-256 (nettle) over what the watched paths hold, following
 * symlinks, so that the kubelet's `key -> ..data/key` links count by their
 * target's content. Touches, no-op rewrites and the AtomicWriter's own
 * bookkeeping (names starting with "..") change nothing.
 *
 * Bounded, since it runs on the event loop (and before the app starts): a
 * directory already on the path is not entered again (a link to "." or to
 * a parent), a symlink that leaves the watched tree is hashed by its text,
 * at most HASH_CONTENT_BUDGET bytes of content are read per hash (a
 * ConfigMap or Secret holds 1 MiB at most): files past it, and files that
 * cannot be read, are hashed by their identity, size and times, and at
 * most HASH_MAX_ENTRIES entries are hashed. */
#ifndef PODVISOR_HASH_H
#define PODVISOR_HASH_H

#include <stddef.h>

/* "sha256:" + 64 hex digits + NUL */
#define HASH_TEXT_LEN 72

#define HASH_CONTENT_BUDGET (16u << 20)
/* A source tree of 10,000 files and their directories fits (a dev loop's
 * --watch); a walk of this many stats stays in the tens of milliseconds. */
#define HASH_MAX_ENTRIES 100000
#define HASH_STRING_(x) #x
#define HASH_STRING(x) HASH_STRING_(x) /* a bound's digits, for a message */

/* What the bounds above did to one hash: the watcher says so once. */
struct hash_notes {
    unsigned loops;      /* directories met again on their own path */
    unsigned outside;    /* symlinks out of the watched tree */
    unsigned unreadable; /* files hashed by size and times: not readable */
    unsigned big;        /* files hashed by size and times: past the budget */
    unsigned truncated;  /* entries past HASH_MAX_ENTRIES, not hashed */
    char first[320];     /* the first of them: "PATH: why" */
};

/* What one path held when hashed. */
enum hash_found { HASH_MISSING = 0, HASH_FILE, HASH_DIR, HASH_OTHER };

/** Hashes the paths, in order, into out ("sha256:<hex>"). found[i] (when
 * found is not NULL) says what paths[i] was. A path that is missing, or an
 * entry that cannot be read, is hashed as such rather than failing: the
 * hash still changes when it comes back. Returns 0, or -errno when the
 * hash itself could not be made (out of memory). notes (when not NULL)
 * says what the bounds did. */
int hash_paths(char *const *paths, size_t n, char out[HASH_TEXT_LEN], enum hash_found *found,
               struct hash_notes *notes);

struct pathfilter;

/* A watcher's memory of each file's digest, keyed by path, with the stat
 * it was made from: a file whose stat is unchanged (and whose times are
 * more than 2 s old: their clock is coarse) is not read again, so a change
 * in a 10,000-file tree reads what changed, not the tree. Files gone from
 * the tree are dropped after each walk. */
struct hash_cache;
struct hash_cache *hash_cache_new(void);
void hash_cache_free(struct hash_cache *c);
/** How many files it holds. */
size_t hash_cache_size(const struct hash_cache *c);

/* How a watcher hashes (hash_paths: everything, by content). */
struct hash_opts {
    const struct pathfilter *filter; /* NULL: every entry counts */
    struct hash_cache *cache;        /* NULL: every file is read */
    /* Files by identity, size and times, never read: a poll's cheap pass
     * (what it finds changed is then hashed by content). */
    int identity_only;
};

/** hash_paths with opts (NULL: as hash_paths). A filtered hash names each
 * file that counts by its path from the top and nothing else: an empty
 * directory, or a file that does not count, changes nothing. */
int hash_paths_with(char *const *paths, size_t n, const struct hash_opts *opts,
                    char out[HASH_TEXT_LEN], enum hash_found *found, struct hash_notes *notes);

#endif
