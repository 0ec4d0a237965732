/* watch: turns file-system activity under --watch paths into "the content
 * changed" (with its hash), once per burst. Owns the inotify fd, the
 * debounce and the recovery from what inotify cannot say: queue overflow,
 * a watched directory deleted and recreated, a path that appears late.
 *
 * Directories are watched, never only files (docs/kubernetes.md: the kubelet's
 * AtomicWriter renames `..data_tmp` over `..data`, which a watch on the
 * file itself never sees). For every path podvisor watches the path (when
 * it is a directory), the directories under it (a source tree; a
 * ConfigMap volume has none but its own ".." ones, which are not entered),
 * and its parent directory (for the path itself being created, replaced or
 * removed). Any event that --watch-include/--watch-exclude let count only
 * re-arms the debounce; what counts is whether the content hash differs
 * when it fires. Polling (--watch-poll, or where inotify cannot serve) is a
 * pass of stats on a timer; what it finds changed goes through the same
 * debounce and content hash. */
#ifndef PODVISOR_WATCH_H
#define PODVISOR_WATCH_H

#include <stdint.h>

#include "hash.h"
#include "loop.h"
#include "options.h"
#include "pathfilter.h"

struct watch;

/* Called with the new hash once the content differs after a quiet period. */
typedef void (*watch_change_fn)(void *ctx, const char *hash);

/* What to watch and how. */
struct watch_settings {
    const struct strlist *paths;
    int64_t debounce_ms;
    /* Also look every poll_ms (0: only where inotify cannot serve: no
     * instance, the watch limit reached, a network or FUSE mount). */
    int64_t poll_ms;
    const struct pathfilter *filter; /* NULL: everything under a directory counts */
};

/** Starts watching ws->paths; a plain directory is watched with all the
 * directories under it that ws->filter does not exclude, new ones as they
 * appear. Logs a warning for each path that is missing (it is watched for
 * when it appears) or that is a plain file (a subPath mount never
 * updates). Returns NULL with the reason in err when inotify itself cannot
 * be used. */
struct watch *watch_start(const struct watch_settings *ws, struct loop *loop,
                          watch_change_fn on_change, void *ctx, char *err, size_t errlen);

/** The hash of the content as last seen (at start, or at the last change). */
const char *watch_hash(const struct watch *w);

/** Hashes the watched paths now (one ..data revision), into out. Returns
 * 0 or -errno. */
int watch_hash_now(struct watch *w, char out[HASH_TEXT_LEN]);

void watch_stop(struct watch *w);

#endif
