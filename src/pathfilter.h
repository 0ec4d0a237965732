/* pathfilter: which entries under a watched directory count, from
 * --watch-include and --watch-exclude. Owns the glob rules only; the walk
 * (hash.c) and the inotify watches (watch.c) ask it.
 *
 * Rules (docs/reference.md, "Watching a source tree"):
 * - A pattern ending in '/' matches directories only (`vendor/`, `.git/`).
 * - A pattern with a '/' inside is matched against the path relative to
 *   the watched directory (`cmd/main*.go`; '*' does not cross a '/'); one
 *   without is matched against the entry's name at any depth (`*.go`).
 * - An excluded directory is neither entered nor watched. An excluded file
 *   does not count. Exclusion wins.
 * - Include patterns are for files: with any, only a file one of them
 *   matches counts. Directories are always entered unless excluded.
 * A path named by --watch itself is never filtered. */
#ifndef PODVISOR_PATHFILTER_H
#define PODVISOR_PATHFILTER_H

#include <stddef.h>

struct pathfilter {
    char *const *include;
    size_t ninclude;
    char *const *exclude;
    size_t nexclude;
};

/** Whether any pattern is given (NULL: none). */
int pathfilter_active(const struct pathfilter *f);

/** Whether the entry at rel (relative to the watched directory, no leading
 * '/') counts: a directory is entered and watched, a file is hashed. */
int pathfilter_counts(const struct pathfilter *f, const char *rel, int is_dir);

/** Checks one pattern as given on the command line: NULL when usable,
 * otherwise why not. */
const char *pathfilter_check(const char *pattern);

#endif
