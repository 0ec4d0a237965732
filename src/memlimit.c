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

void memlimit_read(const char *cgroup_file, const char *cgroup_root, long long *max,
                   long long *used)
{
    *max = *used = -1;
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
    const char *files[2][3] = {{"", "memory.max", "memory.current"},
                               {"/memory", "memory.limit_in_bytes", "memory.usage_in_bytes"}};
    const char *paths[2] = {v2, v1};
    char a[600], b[600];
    for (int k = 0; k < 2 && *max < 0; k++)
        for (int at_root = 0; at_root < 2 && *max < 0; at_root++) {
            const char *p = at_root ? "" : paths[k];
            snprintf(a, sizeof a, "%s%s%s/%s", cgroup_root, files[k][0], p, files[k][1]);
            snprintf(b, sizeof b, "%s%s%s/%s", cgroup_root, files[k][0], p, files[k][2]);
            if ((*max = read_number(a)) > 0)
                *used = read_number(b);
        }
}

enum memlimit_fit memlimit_second_fits(long long max, long long used)
{
    if (max <= 0 || used <= 0)
        return MEMLIMIT_FITS;
    long long left = max > used ? max - used : 0;
    if (left * 2 < used)
        return MEMLIMIT_TOO_LITTLE;
    return left < used ? MEMLIMIT_TIGHT : MEMLIMIT_FITS;
}
