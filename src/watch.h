/* watch: turns file-system activity under --watch paths into "the content
 * changed" (with its hash), once per burst. Owns the inotify fd, the
 * debounce and the recovery from what inotify cannot say: queue overflow,
 * a watched directory deleted and recreated, a path that appears late.
 *
 * Directories are watched, never only files (docs/kubernetes.md: the kubelet's
 * AtomicWriter renames `..data_tmp` over `..data`, which a watch on the
 * file itself never sees). For every path podvisor watches the path (when
 * it is a directory) and its parent directory (for the path itself being
 * created, replaced or removed). Any event only re-arms the debounce; what
 * counts is whether the content hash differs when it fires. */
#ifndef PODVISOR_WATCH_H
#define PODVISOR_WATCH_H

#include <stdint.h>

#include "hash.h"
#include "loop.h"
#include "options.h"

struct watch;

/* Called with the new hash once the content differs after a quiet period. */
typedef void (*watch_change_fn)(void *ctx, const char *hash);

/** Starts watching cfg->watch. Logs a warning for each path that is
 * missing (it is watched for when it appears) or that is a plain file (a
 * subPath mount never updates). Returns NULL with the reason in err when
 * inotify itself cannot be used. */
struct watch *watch_start(const struct strlist *paths, int64_t debounce_ms, struct loop *loop,
                          watch_change_fn on_change, void *ctx, char *err, size_t errlen);

/** The hash of the content as last seen (at start, or at the last change). */
const char *watch_hash(const struct watch *w);

/** Hashes the watched paths now (one ..data revision), into out. Returns
 * 0 or -errno. */
int watch_hash_now(struct watch *w, char out[HASH_TEXT_LEN]);

void watch_stop(struct watch *w);

#endif
