/* memlimit: see memlimit.h. */
#include "memlimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One number from a cgroup file; -1 for "max", a missing file, or v1's
 * "no limit" (a huge number). */
static long long read_number(const char *path)
{
    char buf[64];
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    if (line == NULL || strncmp(buf, "max", 3) == 0 || buf[0] < '0' || buf[0] > '9')
        return -1;
    long long v = strtoll(buf, NULL, 10);
    return v >= (1LL << 60) ? -1 : v;
}

/* The value of `key` in a memory.stat file, or 0. */
static long long stat_value(const char *path, const char *key)
{
    char line[128];
    size_t klen = strlen(key);
    long long v = 0;
    FILE *f = fopen(path, "re");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            v = strtoll(line + klen + 1, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    return v > 0 ? v : 0;
}

void memlimit_read(const char *cgroup_file, const char *cgroup_root, long long *max,
                   long long *working_set)
{
    *max = *working_set = -1;
    char line[512], v2[256] = "", v1[256] = "";
    FILE *f = fopen(cgroup_file, "re");
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *ctrl = strchr(line, ':'), *path = ctrl ? strchr(ctrl + 1, ':') : NULL;
        if (path == NULL)
            continue;
        *path++ = '\0';
        ctrl++;
        if (*ctrl == '\0')
            snprintf(v2, sizeof v2, "%s", path);
        else if (strstr(ctrl, "memory"))
            snprintf(v1, sizeof v1, "%s", path);
    }
    if (f)
        fclose(f);
    const char *files[2][4] = {
        {"", "memory.max", "memory.current", "inactive_file"},
        {"/memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"}};
    const char *paths[2] = {v2, v1};
    char a[600], b[600], st[600];
    for (int k = 0; k < 2 && *max < 0; k++)
        for (int at_root = 0; at_root < 2 && *max < 0; at_root++) {
            const char *p = at_root ? "" : paths[k];
            snprintf(a, sizeof a, "%s%s%s/%s", cgroup_root, files[k][0], p, files[k][1]);
            snprintf(b, sizeof b, "%s%s%s/%s", cgroup_root, files[k][0], p, files[k][2]);
            snprintf(st, sizeof st, "%s%s%s/memory.stat", cgroup_root, files[k][0], p);
            if ((*max = read_number(a)) > 0 && (*working_set = read_number(b)) >= 0) {
                long long inactive = stat_value(st, files[k][3]);
                *working_set = inactive < *working_set ? *working_set - inactive : 0;
            }
        }
}

int memlimit_second_fits(long long max, long long working_set, long long need)
{
    if (max <= 0 || working_set < 0)
        return 1;
    if (need <= 0)
        need = working_set;
    long long left = max > working_set ? max - working_set : 0;
    return left >= need;
}
