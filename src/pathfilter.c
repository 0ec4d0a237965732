/* pathfilter: see pathfilter.h. */
#include "pathfilter.h"

#include <fnmatch.h>
#include <limits.h>
#include <string.h>

int pathfilter_active(const struct pathfilter *f)
{
    return f != NULL && (f->ninclude > 0 || f->nexclude > 0);
}

static int matches(const char *pattern, const char *rel, int is_dir)
{
    size_t len = strlen(pattern);
    int dir_only = len > 0 && pattern[len - 1] == '/';
    if (dir_only && !is_dir)
        return 0;
    char p[PATH_MAX];
    if (len >= sizeof p)
        return 0;
    memcpy(p, pattern, len + 1);
    while (len > 1 && p[len - 1] == '/')
        p[--len] = '\0';
    const char *pat = p;
    if (strchr(pat, '/') != NULL) {
        /* Anchored at the watched directory; a leading '/' says so too. */
        if (*pat == '/')
            pat++;
        return fnmatch(pat, rel, FNM_PATHNAME) == 0;
    }
    const char *name = strrchr(rel, '/');
    return fnmatch(pat, name ? name + 1 : rel, 0) == 0;
}

int pathfilter_counts(const struct pathfilter *f, const char *rel, int is_dir)
{
    if (!pathfilter_active(f))
        return 1;
    for (size_t i = 0; i < f->nexclude; i++)
        if (matches(f->exclude[i], rel, is_dir))
            return 0;
    if (is_dir || f->ninclude == 0)
        return 1;
    for (size_t i = 0; i < f->ninclude; i++)
        if (matches(f->include[i], rel, 0))
            return 1;
    return 0;
}

const char *pathfilter_check(const char *pattern)
{
    size_t len = strlen(pattern);
    if (len == 0)
        return "is empty (try '*.go' or 'vendor/')";
    if (len >= PATH_MAX)
        return "is longer than a path can be";
    if (strspn(pattern, "/") == len)
        return "matches nothing ('/' alone names no entry; try 'vendor/')";
    return NULL;
}
