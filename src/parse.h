/* parse: pure parsers for the values podvisor reads from flags, environment
 * and config files: durations, signals, exit codes, counts, listen addresses.
 * Each returns NULL on success or a short reason that the caller puts after
 * the quoted input ("\"5x\" is not a duration (try 5s, 500ms, 1m)"). */
#ifndef PODVISOR_PARSE_H
#define PODVISOR_PARSE_H

#include <stdint.h>

/* The longest duration accepted anywhere: one year, so that sums of a few
 * durations can never overflow int64 milliseconds. */
#define PARSE_DURATION_MAX_MS (365LL * 24 * 3600 * 1000)

/** "500ms", "5s", "1m30s", "1.5s", "2h", or "0" -> milliseconds. */
const char *parse_duration(const char *s, int64_t *ms);

/** "TERM", "SIGTERM", "term", "15", "RTMIN+2" -> 1..SIGRTMAX. */
const char *parse_signal(const char *s, int *sig);

/** Like parse_signal, but also accepts "0" (meaning: drop the signal). */
const char *parse_signal_or_zero(const char *s, int *sig);

/** A memory size as Kubernetes writes one: "512Mi", "1Gi", "64M", "1.5Gi",
 * "1048576" (bytes); Ki Mi Gi Ti are powers of 1024, k M G T of 1000.
 * At most 1 PiB. */
const char *parse_size(const char *s, long long *bytes);

/** A whole number from 0 to 255. */
const char *parse_exit_code(const char *s, int *code);

/** A whole number in [min, max]. */
const char *parse_int_range(const char *s, long min, long max, long *out);

/** Splits a command line into words the way a shell does for a simple
 * command: blanks separate words, '…' keeps everything literally, "…" keeps
 * everything but \" and \\, a backslash outside quotes escapes the next
 * byte. No expansion ($, *, ~) and no operators: podvisor runs the words
 * itself, so --validate and exec: work in images without a shell (wrap in
 * sh -c '…' for pipes). On success *argv is one malloc'd block (free(*argv)
 * frees it all), NULL-terminated, with at least one word. */
const char *parse_command_words(const char *s, char ***argv);

/** Writes "TERM" style name of sig into buf (RTMIN+N for real-time ones). */
const char *signal_name(int sig, char *buf, unsigned size);

/* An http:// or https:// URL: NULL, or why not. */
const char *parse_http_url(const char *url);

/* A --ready-check / --live-check CHECK. */
enum check_kind { CHECK_HTTP, CHECK_TCP, CHECK_FILE, CHECK_EXEC, CHECK_NOTIFY };
struct check_spec {
    enum check_kind kind;
    const char *target; /* http: the URL; tcp: HOST:PORT; file: the path; exec: the
                         * command line (all into the text); notify: "" */
};

/** Parses CHECK: an http:// or https:// URL, tcp://HOST:PORT, file:PATH,
 * exec:CMD (words as parse_command_words splits them) or notify. Returns
 * NULL, or why not. out->target points into text. */
const char *parse_check(const char *text, struct check_spec *out);

/* A listen address: ":8099" (every address, IPv6 and IPv4), "HOST:PORT",
 * "[V6]:PORT", or "off". */
struct listen_addr {
    int off;        /* "off": no listener */
    int any;        /* ":PORT" form: all addresses, dual stack */
    char host[256]; /* literal host for the other forms */
    int port;       /* 0..65535; 0 lets the kernel pick */
};
const char *parse_listen_addr(const char *s, struct listen_addr *out);

/* A --socket podvisor holds for the app: "[NAME=]ADDR[,backlog=N][,mode=M]"
 * with ADDR tcp://HOST:PORT (tcp://:PORT: every address) or unix:PATH
 * (mode: its permissions, octal; unix only). */
#define PARSE_SOCKET_NAME_MAX 256 /* systemd's FileDescriptorName: at most 255 */
struct socket_spec {
    char name[PARSE_SOCKET_NAME_MAX]; /* LISTEN_FDNAMES entry; "unknown" when not given */
    int is_unix;
    struct listen_addr tcp;
    char path[108]; /* sun_path */
    int backlog;    /* 0: the default (SOMAXCONN) */
    int mode;       /* unix: -1 for the default (0666) */
};
const char *parse_socket_spec(const char *s, struct socket_spec *out);

/** Writes addr back in the form parse_listen_addr reads. */
const char *listen_addr_format(const struct listen_addr *addr, char *buf, unsigned size);

#endif
