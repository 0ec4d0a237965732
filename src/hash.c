/* hash: see hash.h. */
#include "hash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static int hash_at(struct sha256_ctx *c, int dirfd, const char *name, int depth,
                   enum hash_found *found);

static int hash_dir(struct sha256_ctx *c, int fd, int depth)
{
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int err = errno;
        close(fd);
        put_error(c, err);
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
    put_tag(c, 'D', "");
    put_u64(c, n);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = hash_at(c, dirfd(d), names[i], depth + 1, NULL);
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

static int hash_at(struct sha256_ctx *c, int dirfd, const char *name, int depth,
                   enum hash_found *found)
{
    /* A top-level path is hashed by content only: the same tree gives the
     * same hash wherever it is mounted. */
    put_tag(c, 'N', depth > 0 ? name : "");
    if (found)
        *found = HASH_MISSING;
    if (depth > MAX_DEPTH) {
        put_error(c, ELOOP);
        return 0;
    }
    /* O_NONBLOCK: a FIFO in a watched directory must not hang podvisor;
     * the type is checked on the open fd, so nothing can swap it between. */
    int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int err = errno;
        put_error(c, err == ENOENT ? 0 : err);
        return 0;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        put_error(c, errno);
        close(fd);
        return 0;
    }
    if (S_ISDIR(sb.st_mode)) {
        if (found)
            *found = HASH_DIR;
        return hash_dir(c, fd, depth);
    }
    if (!S_ISREG(sb.st_mode)) {
        if (found)
            *found = HASH_OTHER;
        put_tag(c, 'O', "");
        put_u64(c, (uint64_t)(sb.st_mode & S_IFMT));
        close(fd);
        return 0;
    }
    if (found)
        *found = HASH_FILE;
    put_tag(c, 'F', "");
    uint8_t buf[65536];
    uint64_t total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            put_error(c, errno);
            break;
        }
        if (r == 0)
            break;
        sha256_update(c, (size_t)r, buf);
        total += (uint64_t)r;
    }
    put_u64(c, total);
    close(fd);
    return 0;
}

int hash_paths(char *const *paths, size_t n, char out[HASH_TEXT_LEN], enum hash_found *found)
{
    struct sha256_ctx c;
    sha256_init(&c);
    put_u64(&c, n);
    for (size_t i = 0; i < n; i++) {
        int rc = hash_at(&c, AT_FDCWD, paths[i], 0, found ? &found[i] : NULL);
        if (rc < 0)
            return rc;
    }
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_digest(&c, sizeof digest, digest);
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", digest[i]);
    return 0;
}
