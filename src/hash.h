/* hash: the content hash behind change detection (--watch) and `podvisor
 * hash`: SHA-256 (nettle) over what the watched paths hold, following
 * symlinks, so that the kubelet's `key -> ..data/key` links count by their
 * target's content. Touches, no-op rewrites and the AtomicWriter's own
 * bookkeeping (names starting with "..") change nothing. */
#ifndef PODVISOR_HASH_H
#define PODVISOR_HASH_H

#include <stddef.h>

/* "sha256:" + 64 hex digits + NUL */
#define HASH_TEXT_LEN 72

/* What one path held when hashed. */
enum hash_found { HASH_MISSING = 0, HASH_FILE, HASH_DIR, HASH_OTHER };

/** Hashes the paths, in order, into out ("sha256:<hex>"). found[i] (when
 * found is not NULL) says what paths[i] was. A path that is missing, or an
 * entry that cannot be read, is hashed as such rather than failing: the
 * hash still changes when it comes back. Returns 0, or -errno when the
 * hash itself could not be made (out of memory). */
int hash_paths(char *const *paths, size_t n, char out[HASH_TEXT_LEN], enum hash_found *found);

#endif
