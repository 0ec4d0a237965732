/* parse: see parse.h. */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char DURATION_HINT[] = "is not a duration (try 5s, 500ms, 1m)";

#define SIZE_HINT "is not a memory size (try 512Mi, 1Gi, 64M)"

const char *parse_size(const char *s, long long *bytes)
{
    static const struct {
        const char *suffix;
        long long scale;
    } units[] = {{"Ki", 1LL << 10},   {"Mi", 1LL << 20},      {"Gi", 1LL << 30},
                 {"Ti", 1LL << 40},   {"k", 1000LL},          {"M", 1000000LL},
                 {"G", 1000000000LL}, {"T", 1000000000000LL}, {"", 1}};
    if (s == NULL || !isdigit((unsigned char)*s))
        return SIZE_HINT;
    /* Whole and fraction apart, so that "1.5Gi" is exact. */
    long long whole = 0, frac = 0, frac_scale = 1;
    const char *p = s;
    while (isdigit((unsigned char)*p)) {
        if (whole > (1LL << 50))
            return "is too large (at most 1Pi)";
        whole = whole * 10 + (*p++ - '0');
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return SIZE_HINT;
        while (isdigit((unsigned char)*p)) {
            if (frac_scale < 1000000) {
                frac = frac * 10 + (*p - '0');
                frac_scale *= 10;
            }
            p++;
        }
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(p, units[i].suffix) != 0)
            continue;
        if (units[i].scale == 1 && frac_scale > 1)
            return "is not a whole number of bytes (give a unit: 1.5Gi)";
        if (whole > (1LL << 50) / units[i].scale)
            return "is too large (at most 1Pi)";
        *bytes = whole * units[i].scale + frac * units[i].scale / frac_scale;
        if (*bytes > (1LL << 50))
            return "is too large (at most 1Pi)";
        return NULL;
    }
    return SIZE_HINT;
}

const char *parse_duration(const char *s, int64_t *ms)
{
    if (s == NULL || *s == '\0')
        return DURATION_HINT;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return NULL;
    }
    /* Sum of number+unit terms; fractions are kept in microseconds so that
     * "1.5s" and "0.25s" are exact and rounding happens once at the end. */
    int64_t total_us = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p) && *p != '.')
            return DURATION_HINT;
        int64_t whole = 0;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (whole > 1000000000000LL)
                return "is too long (at most 8760h)";
            whole = whole * 10 + (*p - '0');
            p++;
            digits++;
        }
        int64_t frac = 0, frac_scale = 1;
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p)) {
                if (frac_scale < 1000000) {
                    frac = frac * 10 + (*p - '0');
                    frac_scale *= 10;
                }
                p++;
                digits++;
            }
        }
        if (digits == 0)
            return DURATION_HINT;
        int64_t unit_us;
        if (strncmp(p, "ms", 2) == 0) {
            unit_us = 1000;
            p += 2;
        } else if (strncmp(p, "us", 2) == 0) {
            unit_us = 1;
            p += 2;
        } else if (*p == 's') {
            unit_us = 1000000;
            p++;
        } else if (*p == 'm') {
            unit_us = 60LL * 1000000;
            p++;
        } else if (*p == 'h') {
            unit_us = 3600LL * 1000000;
            p++;
        } else {
            return DURATION_HINT;
        }
        if (whole > PARSE_DURATION_MAX_MS * 1000 / unit_us)
            return "is too long (at most 8760h)";
        total_us += whole * unit_us + frac * unit_us / frac_scale;
        if (total_us > PARSE_DURATION_MAX_MS * 1000)
            return "is too long (at most 8760h)";
    }
    *ms = (total_us + 999) / 1000; /* never round a positive duration to 0 */
    return NULL;
}

/* Signal names, as tini keeps them: musl has no sigabbrev_np(), and the
 * numbers come from the C library's own macros. The first name of a number
 * is the one printed; the later ones are accepted aliases. */
static const struct {
    int sig;
    const char *name;
} signal_names[] = {
    {SIGHUP, "HUP"},   {SIGINT, "INT"},       {SIGQUIT, "QUIT"}, {SIGILL, "ILL"},
    {SIGTRAP, "TRAP"}, {SIGABRT, "ABRT"},     {SIGBUS, "BUS"},   {SIGFPE, "FPE"},
    {SIGKILL, "KILL"}, {SIGUSR1, "USR1"},     {SIGSEGV, "SEGV"}, {SIGUSR2, "USR2"},
    {SIGPIPE, "PIPE"}, {SIGALRM, "ALRM"},     {SIGTERM, "TERM"}, {SIGSTKFLT, "STKFLT"},
    {SIGCHLD, "CHLD"}, {SIGCONT, "CONT"},     {SIGSTOP, "STOP"}, {SIGTSTP, "TSTP"},
    {SIGTTIN, "TTIN"}, {SIGTTOU, "TTOU"},     {SIGURG, "URG"},   {SIGXCPU, "XCPU"},
    {SIGXFSZ, "XFSZ"}, {SIGVTALRM, "VTALRM"}, {SIGPROF, "PROF"}, {SIGWINCH, "WINCH"},
    {SIGPOLL, "POLL"}, {SIGPWR, "PWR"},       {SIGSYS, "SYS"},   {SIGIOT, "IOT"},
    {SIGIO, "IO"},     {SIGCHLD, "CLD"},
};

static const char *signal_abbrev(int sig)
{
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
        if (signal_names[i].sig == sig)
            return signal_names[i].name;
    return NULL;
}

const char *signal_name(int sig, char *buf, unsigned size)
{
    if (sig >= SIGRTMIN && sig <= SIGRTMAX)
        snprintf(buf, size, "RTMIN+%d", sig - SIGRTMIN);
    else {
        const char *abbrev = sig > 0 ? signal_abbrev(sig) : NULL;
        if (abbrev)
            snprintf(buf, size, "%s", abbrev);
        else
            snprintf(buf, size, "%d", sig);
    }
    return buf;
}

static const char *parse_signal_any(const char *s, int *sig, int allow_zero)
{
    static const char hint[] = "is not a signal (try TERM, SIGTERM or 15)";
    if (s == NULL || *s == '\0')
        return hint;
    if (isdigit((unsigned char)*s)) {
        long n;
        if (parse_int_range(s, 0, 1000, &n) != NULL)
            return hint;
        if (n == 0 && allow_zero) {
            *sig = 0;
            return NULL;
        }
        if (n < 1 || n > SIGRTMAX)
            return "is not a signal number (1 to 64)";
        *sig = (int)n;
        return NULL;
    }
    const char *name = s;
    if (strncasecmp(name, "SIG", 3) == 0)
        name += 3;
    if (strncasecmp(name, "RTMIN", 5) == 0 || strncasecmp(name, "RTMAX", 5) == 0) {
        int base = strncasecmp(name, "RTMIN", 5) == 0 ? SIGRTMIN : SIGRTMAX;
        const char *rest = name + 5;
        long off = 0;
        if (*rest == '+' || *rest == '-') {
            if (parse_int_range(rest + 1, 0, 64, &off) != NULL)
                return hint;
            if (*rest == '-')
                off = -off;
        } else if (*rest != '\0') {
            return hint;
        }
        long n = base + off;
        if (n < SIGRTMIN || n > SIGRTMAX)
            return "is out of the real-time signal range";
        *sig = (int)n;
        return NULL;
    }
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++) {
        if (strcasecmp(signal_names[i].name, name) == 0) {
            *sig = signal_names[i].sig;
            return NULL;
        }
    }
    return hint;
}

const char *parse_signal(const char *s, int *sig)
{
    return parse_signal_any(s, sig, 0);
}

const char *parse_signal_or_zero(const char *s, int *sig)
{
    return parse_signal_any(s, sig, 1);
}

const char *parse_int_range(const char *s, long min, long max, long *out)
{
    /* Digits only (a '-' first where negatives are allowed): strtol would
     * also take "+1", " 1", which made "RTMIN++1" and ":+1" parse. */
    if (s == NULL || !(isdigit((unsigned char)*s) || (*s == '-' && min < 0)))
        return "is not a whole number";
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (*end != '\0')
        return "is not a whole number";
    if (errno == ERANGE || n < min || n > max)
        return "is out of range";
    *out = n;
    return NULL;
}

const char *parse_exit_code(const char *s, int *code)
{
    long n;
    const char *why = parse_int_range(s, 0, 255, &n);
    if (why != NULL)
        return strcmp(why, "is out of range") == 0 ? "is not an exit code (0 to 255)" : why;
    *code = (int)n;
    return NULL;
}

const char *parse_listen_addr(const char *s, struct listen_addr *out)
{
    static const char hint[] =
        "is not a listen address (try :8099, 127.0.0.1:8099, [::1]:8099 or off)";
    memset(out, 0, sizeof *out);
    if (s == NULL || *s == '\0')
        return hint;
    if (strcmp(s, "off") == 0) {
        out->off = 1;
        return NULL;
    }
    const char *port;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':' || close == s + 1)
            return hint;
        size_t hl = (size_t)(close - s - 1);
        /* Brackets hold an IPv6 literal: it has a colon and no bracket. */
        if (hl >= sizeof out->host || memchr(s + 1, ':', hl) == NULL ||
            memchr(s + 1, '[', hl) != NULL)
            return hint;
        memcpy(out->host, s + 1, hl);
        port = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL)
            return hint;
        size_t hl = (size_t)(colon - s);
        if (hl >= sizeof out->host || memchr(s, ':', hl) != NULL || memchr(s, '[', hl) != NULL ||
            memchr(s, ']', hl) != NULL)
            return hint; /* a bare IPv6 address needs brackets */
        memcpy(out->host, s, hl);
        out->any = hl == 0;
        port = colon + 1;
    }
    long p;
    if (parse_int_range(port, 0, 65535, &p) != NULL)
        return "has no valid port (0 to 65535)";
    out->port = (int)p;
    return NULL;
}

/* sd_listen_fds_with_names splits LISTEN_FDNAMES at ':', and systemd
 * takes printable ASCII names only. */
static int valid_fd_name(const char *s, size_t n)
{
    if (n == 0 || n >= PARSE_SOCKET_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == ':')
            return 0;
    return 1;
}

const char *parse_socket_spec(const char *s, struct socket_spec *out)
{
    static const char hint[] =
        "is not a socket (try tcp://:8080, tcp://127.0.0.1:8080, http=tcp://[::]:8080 or "
        "unix:/run/app.sock, then ,backlog=N or ,mode=0660)";
    memset(out, 0, sizeof *out);
    out->mode = -1;
    snprintf(out->name, sizeof out->name, "unknown");
    if (s == NULL)
        return hint;
    const char *addr = s;
    const char *eq = strchr(s, '=');
    const char *scheme = strstr(s, "tcp://") == s || strstr(s, "unix:") == s ? s : NULL;
    if (scheme == NULL && eq != NULL) {
        if (!valid_fd_name(s, (size_t)(eq - s)))
            return "has a bad NAME (1 to 255 printable characters, no ':' or blank)";
        memcpy(out->name, s, (size_t)(eq - s));
        out->name[eq - s] = '\0';
        addr = eq + 1;
    }
    const char *comma = strchr(addr, ',');
    size_t alen = comma ? (size_t)(comma - addr) : strlen(addr);
    char a[300];
    if (alen >= sizeof a)
        return hint;
    memcpy(a, addr, alen);
    a[alen] = '\0';
    if (strncmp(a, "tcp://", 6) == 0) {
        if (parse_listen_addr(a + 6, &out->tcp) != NULL || out->tcp.off)
            return hint;
        if (out->tcp.port == 0)
            return "needs a port (the app's clients must know it; 0 would pick one at random)";
    } else if (strncmp(a, "unix:", 5) == 0) {
        out->is_unix = 1;
        if (a[5] == '\0')
            return "has no path after unix:";
        size_t n = strlen(a + 5);
        if (n >= sizeof out->path)
            return "has a unix path longer than 107 bytes (the kernel's sun_path)";
        memcpy(out->path, a + 5, n + 1);
    } else {
        return hint;
    }
    while (comma != NULL) {
        const char *opt = comma + 1;
        comma = strchr(opt, ',');
        size_t olen = comma ? (size_t)(comma - opt) : strlen(opt);
        char v[32];
        long n;
        if (olen > 8 && strncmp(opt, "backlog=", 8) == 0 && olen - 8 < sizeof v) {
            memcpy(v, opt + 8, olen - 8);
            v[olen - 8] = '\0';
            if (parse_int_range(v, 1, 65535, &n) != NULL)
                return "has a bad backlog (1 to 65535)";
            out->backlog = (int)n;
        } else if (olen > 5 && strncmp(opt, "mode=", 5) == 0 && olen - 5 < sizeof v) {
            memcpy(v, opt + 5, olen - 5);
            v[olen - 5] = '\0';
            char *end;
            n = strtol(v, &end, 8);
            if (!out->is_unix)
                return "has mode=, which only a unix: socket takes";
            if (*end != '\0' || n < 0 || n > 0777 || v[0] == '\0')
                return "has a bad mode (octal, such as 0660)";
            out->mode = (int)n;
        } else {
            return "has an unknown setting after ',' (backlog=N or mode=M)";
        }
    }
    return NULL;
}

const char *listen_addr_format(const struct listen_addr *addr, char *buf, unsigned size)
{
    if (addr->off)
        snprintf(buf, size, "off");
    else if (addr->any)
        snprintf(buf, size, ":%d", addr->port);
    else if (strchr(addr->host, ':'))
        snprintf(buf, size, "[%s]:%d", addr->host, addr->port);
    else
        snprintf(buf, size, "%s:%d", addr->host, addr->port);
    return buf;
}

const char *parse_command_words(const char *s, char ***argv_out)
{
    *argv_out = NULL;
    size_t len = strlen(s);
    /* Words never outgrow the input: len+1 bytes hold them all with their
     * NULs, and there are at most len/2+1 of them. */
    size_t maxwords = len / 2 + 2;
    char **argv = malloc(maxwords * sizeof *argv + len + 1);
    if (argv == NULL)
        return "cannot be split: out of memory";
    char *out = (char *)(argv + maxwords);
    size_t n = 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (*p == '\0')
            break;
        argv[n++] = out;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
            if (*p == '\'') {
                const char *end = strchr(p + 1, '\'');
                if (end == NULL) {
                    free(argv);
                    return "has an unterminated ' quote";
                }
                memcpy(out, p + 1, (size_t)(end - p - 1));
                out += end - p - 1;
                p = end + 1;
            } else if (*p == '"') {
                for (p++; *p != '"'; p++) {
                    if (*p == '\0') {
                        free(argv);
                        return "has an unterminated \" quote";
                    }
                    if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                        p++;
                    *out++ = *p;
                }
                p++;
            } else if (*p == '\\') {
                if (p[1] == '\0') {
                    free(argv);
                    return "ends with a lone backslash";
                }
                *out++ = p[1];
                p += 2;
            } else {
                *out++ = *p++;
            }
        }
        *out++ = '\0';
    }
    if (n == 0) {
        free(argv);
        return "is an empty command";
    }
    argv[n] = NULL;
    *argv_out = argv;
    return NULL;
}

const char *parse_http_url(const char *url)
{
    if (strncmp(url, "https://", 8) == 0)
        return url[8] ? NULL : "has no host after https://";
    if (strncmp(url, "http://", 7) != 0)
        return "is not an http:// or https:// URL";
    return url[7] ? NULL : "has no host after http://";
}

const char *parse_check(const char *text, struct check_spec *out)
{
    if (strncmp(text, "http://", 7) == 0 || strncmp(text, "https://", 8) == 0) {
        out->kind = CHECK_HTTP;
        out->target = text;
        return parse_http_url(text);
    }
    if (strncmp(text, "tcp://", 6) == 0) {
        const char *hp = text + 6;
        const char *colon = strrchr(hp, ':');
        long port;
        if (colon == NULL || colon == hp || parse_int_range(colon + 1, 1, 65535, &port) != NULL)
            return "is not tcp://HOST:PORT (port 1 to 65535)";
        if (hp[0] == '[' && colon[-1] != ']')
            return "is not tcp://HOST:PORT (an IPv6 address goes in brackets)";
        out->kind = CHECK_TCP;
        out->target = hp;
        return NULL;
    }
    if (strncmp(text, "file:", 5) == 0) {
        if (text[5] != '/')
            return "is not file:PATH with an absolute path";
        out->kind = CHECK_FILE;
        out->target = text + 5;
        return NULL;
    }
    if (strncmp(text, "exec:", 5) == 0) {
        char **argv;
        const char *why = parse_command_words(text + 5, &argv);
        if (why)
            return why;
        free(argv);
        out->kind = CHECK_EXEC;
        out->target = text + 5;
        return NULL;
    }
    if (strcmp(text, "notify") == 0) {
        out->kind = CHECK_NOTIFY;
        out->target = text + 6;
        return NULL;
    }
    return "is not a check (http://..., https://..., tcp://HOST:PORT, file:PATH, exec:CMD or "
           "notify)";
}
