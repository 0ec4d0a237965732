/* log: podvisor's own log lines on stderr, as text ("podvisor: level: msg")
 * or one JSON object per line. Owns the current level and format; the child's
 * output never passes through here. */
#ifndef PODVISOR_LOG_H
#define PODVISOR_LOG_H

#include <stddef.h>
#include <string.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_TEXT = 0, LOG_JSON };

/** Sets the level and format used from now on (defaults: info, text). */
void log_setup(enum log_level level, enum log_format format);

/** Returns whether a line at `level` would be written; the macros check this
 * first so that arguments of filtered lines are never formatted. */
int log_enabled(enum log_level level);

/** Writes one line. `err` is an errno value appended as ": strerror" when
 * non-zero. Use the macros below rather than calling this directly. */
void log_write(enum log_level level, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Replaces control bytes in s with '?', so that a message quoting user
 * input (a command name, a config key) stays one line. */
void log_one_line(char *s);

/* Arguments for "%.*s%s": at most max bytes of s, then "..." when cut, so
 * that a long quoted value never pushes the reason out of its line. */
#define LOG_CUT(s, max)                                                                            \
    (int)(strlen(s) > (max) ? (size_t)(max) : strlen(s)), (s), (strlen(s) > (max) ? "..." : "")

/** Copies in to out (outlen bytes, NUL included), each byte that is not
 * part of valid UTF-8 replaced by U+FFFD, never cutting a character. */
void log_valid_utf8(const char *in, char *out, size_t outlen);

/** Parses "error", "warn", "info" or "debug"; -1 when unknown. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level level);

#define log_at(lvl, err, ...)                                                                      \
    do {                                                                                           \
        if (log_enabled(lvl))                                                                      \
            log_write((lvl), (err), __VA_ARGS__);                                                  \
    } while (0)
#define log_error(...) log_at(LOG_ERROR, 0, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, 0, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, 0, __VA_ARGS__)
/* Same, with errno (or another error number) appended as its description. */
#define log_errno(lvl, err, ...) log_at((lvl), (err), __VA_ARGS__)

#endif
