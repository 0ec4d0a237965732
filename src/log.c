/* log: see log.h. */
#include "log.h"
#include "hotpath.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level current_level = LOG_INFO;
static enum log_format current_format = LOG_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_setup(enum log_level level, enum log_format format)
{
    current_level = level;
    current_format = format;
}

HOT_PATH int log_enabled(enum log_level level)
{
    return level <= current_level;
}

void log_one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

/* The length of the valid UTF-8 sequence at s (1-4), or 0 when s does not
 * start one (overlong forms, surrogates and values past U+10FFFF count as
 * invalid, as jansson decides). */
static size_t utf8_seq(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (n == 0 || s[0] > 0xf4 || s[0] == 0xc0 || s[0] == 0xc1)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    unsigned cp = s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++)
        cp = cp << 6 | (s[i] & 0x3f);
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void log_valid_utf8(const char *in, char *out, size_t outlen)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    while (*s && outlen > 0) {
        size_t n = utf8_seq(s);
        const char *put = (const char *)s;
        size_t len = n;
        if (n == 0) {
            put = "\xef\xbf\xbd"; /* U+FFFD for each byte that is not UTF-8 */
            len = 3;
            n = 1;
        }
        if (o + len >= outlen)
            break; /* never cut inside a character */
        memcpy(out + o, put, len);
        o += len;
        s += n;
    }
    if (outlen > 0)
        out[o] = '\0';
}

const char *log_level_name(enum log_level level)
{
    return (unsigned)level < 4 ? level_names[level] : "?";
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    if (strcmp(s, "warning") == 0)
        return LOG_WARN;
    return -1;
}

/* One write(2) per line so that lines from podvisor and the child sharing
 * stderr never interleave mid-line (writes under PIPE_BUF are atomic). */
static void emit(const char *line, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, line, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere left to report a failing stderr */
        line += n;
        len -= (size_t)n;
    }
}

void log_write(enum log_level level, int err, const char *fmt, ...)
{
    int saved_errno = errno;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    size_t used = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    if (err != 0)
        snprintf(msg + used, sizeof msg - used, ": %s", strerror(err));

    if (current_format == LOG_JSON) {
        struct timeval tv;
        struct tm tm;
        char ts[40], clean[sizeof msg * 3];
        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", (long)(tv.tv_usec / 1000));
        /* jansson refuses strings that are not UTF-8, and the line would
         * vanish (a failed exec of a non-UTF-8 command name said nothing). */
        log_valid_utf8(msg, clean, sizeof clean);
        json_t *obj = json_pack("{s:s, s:s, s:s, s:i}", "ts", ts, "level", log_level_name(level),
                                "msg", clean, "pid", (int)getpid());
        char *line = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        size_t ll = line ? strlen(line) : 0;
        char *nl = line ? realloc(line, ll + 2) : NULL;
        if (nl != NULL) {
            nl[ll] = '\n'; /* one write per line, however long */
            emit(nl, ll + 1);
            line = nl;
        } else {
            static const char oom[] = "{\"level\":\"error\",\"msg\":\"out of memory\"}\n";
            emit(oom, sizeof oom - 1);
        }
        free(line);
        json_decref(obj);
    } else {
        log_one_line(msg); /* JSON escapes control bytes itself */
        char line[2200];
        int ll = snprintf(line, sizeof line, "podvisor: %s: %s\n", log_level_name(level), msg);
        if (ll > 0)
            emit(line, (size_t)ll < sizeof line ? (size_t)ll : sizeof line - 1);
    }
    errno = saved_errno;
}
