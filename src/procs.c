/* procs: see procs.h. */
#include "procs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int procs_match(const struct proc_entry *e, const char *name)
{
    if (e->exe[0] && strcmp(e->exe, name) == 0)
        return 1;
    /* comm holds the first 15 bytes of the name: compare as much. */
    size_t nl = strlen(name);
    if (!(e->comm[0] && strlen(e->comm) == (nl < 15 ? nl : 15) && strncmp(e->comm, name, 15) == 0))
        return 0;
    /* Cut, it may be the start of another name: then argv[0] decides (the
     * exe, when readable, was compared above). */
    return nl < 15 || strcmp(e->argv0, name) == 0;
}

static int matches_any(const struct proc_entry *e, char *const *names, size_t nnames)
{
    for (size_t i = 0; i < nnames; i++)
        if (procs_match(e, names[i]))
            return 1;
    return 0;
}

static long find(const struct proc_entry *e, size_t n, pid_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (e[i].pid == pid)
            return (long)i;
    return -1;
}

size_t procs_select(const struct proc_entry *e, size_t n, char *const *names, size_t nnames,
                    pid_t self, size_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].pid == self || e[i].state == 'Z' || e[i].state == 'X' ||
            !matches_any(&e[i], names, nnames))
            continue;
        int keep = 1;
        /* Walk up the ancestors; the bound guards against a table read
         * while pids were being reused (a cycle). */
        pid_t p = e[i].ppid;
        for (size_t hops = 0; p > 0 && hops < n; hops++) {
            if (p == self) {
                keep = 0;
                break;
            }
            long j = find(e, n, p);
            if (j < 0)
                break;
            if (matches_any(&e[j], names, nnames)) {
                keep = 0;
                break;
            }
            p = e[j].ppid;
        }
        if (keep)
            out[k++] = i;
    }
    return k;
}

static int read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, buf, len - 1);
    close(fd);
    if (r < 0)
        return -1;
    buf[r] = '\0';
    return (int)r;
}

/* The parent and the process group from /proc/PID/stat; -1 when gone. */
static int read_stat_ids(pid_t pid, pid_t *ppid, pid_t *pgrp)
{
    char path[64], buf[512];
    int pp, pg;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_small(path, buf, sizeof buf) < 0)
        return -1;
    /* "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses,
     * so the fields start after the last ')'. */
    char *rp = strrchr(buf, ')');
    if (rp == NULL || sscanf(rp + 1, " %*c %d %d", &pp, &pg) != 2)
        return -1;
    *ppid = (pid_t)pp;
    *pgrp = (pid_t)pg;
    return 0;
}

pid_t procs_parent(pid_t pid)
{
    pid_t ppid, pgrp;
    return read_stat_ids(pid, &ppid, &pgrp) < 0 ? -1 : ppid;
}

pid_t procs_group(pid_t pid)
{
    pid_t ppid, pgrp;
    return read_stat_ids(pid, &ppid, &pgrp) < 0 ? -1 : pgrp;
}

int procs_in_tree(pid_t pid, pid_t root)
{
    return pid == root || procs_descends_from(pid, root) || procs_group(pid) == root;
}

int procs_descends_from(pid_t pid, pid_t ancestor)
{
    for (int depth = 0; depth < 256 && pid > 1; depth++) {
        pid_t ppid = procs_parent(pid);
        if (ppid < 0)
            return 0;
        if (ppid == ancestor)
            return 1;
        pid = ppid;
    }
    return 0;
}

static int read_entry(pid_t pid, struct proc_entry *e)
{
    char path[64];
    memset(e, 0, sizeof *e);
    e->pid = pid;
    if ((e->ppid = procs_parent(pid)) < 0)
        return -1;
    char stat[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_small(path, stat, sizeof stat) > 0) {
        char *rp = strrchr(stat, ')');
        if (rp && rp[1] == ' ')
            e->state = rp[2];
    }
    char cmd[256];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    if (read_small(path, cmd, sizeof cmd) > 0) {
        const char *base = strrchr(cmd, '/');
        base = base ? base + 1 : cmd;
        size_t bl = strlen(base);
        if (bl < sizeof e->argv0)
            memcpy(e->argv0, base, bl + 1);
    }
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    if (read_small(path, e->comm, sizeof e->comm) > 0)
        e->comm[strcspn(e->comm, "\n")] = '\0';
    char exe[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    ssize_t l = readlink(path, exe, sizeof exe - 1);
    if (l > 0) {
        exe[l] = '\0';
        /* A replaced binary reads "/usr/sbin/nginx (deleted)". */
        char *del = strstr(exe, " (deleted)");
        if (del && del[10] == '\0')
            *del = '\0';
        const char *base = strrchr(exe, '/');
        base = base ? base + 1 : exe;
        size_t bl = strlen(base);
        if (bl < sizeof e->exe)
            memcpy(e->exe, base, bl + 1);
    }
    return 0;
}

int procs_scan(struct proc_entry **table, size_t *n)
{
    *table = NULL;
    *n = 0;
    DIR *d = opendir("/proc");
    if (d == NULL)
        return -errno;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            struct proc_entry *t = realloc(*table, cap * sizeof *t);
            if (t == NULL) {
                closedir(d);
                free(*table);
                *table = NULL;
                *n = 0;
                return -ENOMEM;
            }
            *table = t;
        }
        /* A process that exited meanwhile is simply not there. */
        if (read_entry((pid_t)atoi(de->d_name), &(*table)[*n]) == 0)
            (*n)++;
    }
    closedir(d);
    return 0;
}

int procs_find(char *const *names, size_t nnames, pid_t self, pid_t *pids, size_t max)
{
    struct proc_entry *table;
    size_t n;
    int rc = procs_scan(&table, &n);
    if (rc < 0)
        return rc;
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    if (idx == NULL) {
        free(table);
        return -ENOMEM;
    }
    size_t k = procs_select(table, n, names, nnames, self, idx);
    size_t found = 0;
    for (size_t i = 0; i < k && found < max; i++)
        pids[found++] = table[idx[i]].pid;
    free(idx);
    free(table);
    return (int)found;
}
