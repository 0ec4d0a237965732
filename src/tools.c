/* tools: see tools.h. */
#include "tools.h"

/* curl_easy_setopt and _getinfo are macros under its gcc type checks;
 * they are called through pointers here. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <limits.h>
#include <signal.h>
#include <sys/time.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"
#include "hash.h"
#include "curlloop.h"
#include "lazylib.h"
#include "log.h"
#include "loop.h"
#include "parse.h"

/* Loaded here only to say at once, and in probe's words, that an http
 * probe cannot run without libcurl (see lazylib.h); the checks module
 * makes the request. */
_Static_assert(sizeof LIBCURL_SONAME > 1,
               "LIBCURL_SONAME is empty: the Makefile could not "
               "find libcurl's soname (is libcurl4-openssl-dev installed?)");

static const char PROBE_USAGE[] =
    "usage: podvisor probe [--timeout D] [--header 'K: V']... [--verify-tls] [--] TARGET\n"
    "  TARGET: http://HOST:PORT/PATH, https://..., or tcp://HOST:PORT\n"
    "  as the kubelet probes: healthy on HTTP 200-399 or a TCP connect; no proxy; redirects\n"
    "  followed to the same host only (another host counts as success); at most 10 KiB of\n"
    "  the body read; certificates not verified unless --verify-tls\n"
    "  exit 0 healthy, 1 not healthy, 2 usage\n";

int tools_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_one_line(msg);
    fprintf(stderr, "podvisor %s: %s (see podvisor %s --help)\n", cmd, msg, cmd);
    return 2;
}

#define usage_error(...) tools_usage_error("probe", __VA_ARGS__)

/* The whole probe, name resolution and curl's clean-up included, ends
 * within --timeout: neither getaddrinfo nor the join of curl's resolver
 * thread can be bounded otherwise. The message is made before arming,
 * so that the handler only writes and exits (async-signal-safe). */
static char timeout_line[600];

static void on_probe_timeout(int sig)
{
    ssize_t unused = write(STDERR_FILENO, timeout_line, strlen(timeout_line));
    (void)unused;
    _exit(1);
}

static int arm_watchdog(const char *target, int64_t timeout_ms)
{
    snprintf(timeout_line, sizeof timeout_line, "podvisor probe: %s: timed out after %lldms\n",
             target, (long long)timeout_ms);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_probe_timeout;
    sigemptyset(&sa.sa_mask);
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = (time_t)(timeout_ms / 1000);
    it.it_value.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
    if (sigaction(SIGALRM, &sa, NULL) < 0 || setitimer(ITIMER_REAL, &it, NULL) < 0) {
        fprintf(stderr, "podvisor probe: arming the timeout: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* `probe` runs one check of the checks module (as --ready-check and
 * wait-for do) in a loop of its own, stopped by the result. */
struct probe_run {
    struct loop loop;
    int ok;
    char why[600];
};

static void on_probe_result(void *ctx, int index, int ok, int64_t took_ms, const char *why)
{
    struct probe_run *p = ctx;
    p->ok = ok;
    snprintf(p->why, sizeof p->why, "%s", why ? why : "");
    loop_stop(&p->loop);
}

static int probe_http(const char *target, int64_t timeout_ms, char *const *header_args,
                      int nheaders, int verify_tls)
{
    char err[256];
    if (LAZYLIB_LOAD(curl, LIBCURL_SONAME, err, sizeof err) < 0) {
        fprintf(stderr, "podvisor probe: %s\n", err);
        return 1;
    }
    (void)curl.curl_easy_init; /* loaded to be checked; the static build links it */
    static struct probe_run p; /* static: the loop's fd table and the text stay off the stack */
    memset(&p, 0, sizeof p);
    p.loop.epfd = p.loop.timer_fd = -1;
    int rc = loop_init(&p.loop);
    if (rc < 0) {
        fprintf(stderr, "podvisor probe: setting up the event loop: %s\n", strerror(-rc));
        return 1;
    }
    char *specs[1] = {(char *)target};
    struct checks_params params = {.specs = specs,
                                   .n_ready = 1,
                                   .interval_ms = PARSE_DURATION_MAX_MS, /* one run only */
                                   .timeout_ms = timeout_ms,
                                   .headers = header_args,
                                   .n_headers = nheaders,
                                   .verify_tls = verify_tls,
                                   .user_agent = "podvisor-probe/" PODVISOR_VERSION};
    struct checks *cs = checks_new_list(&params, &p.loop, on_probe_result, &p);
    if (cs == NULL) {
        fprintf(stderr, "podvisor probe: out of memory\n");
        loop_close(&p.loop);
        return 1;
    }
    checks_set_active(cs, 1);
    rc = loop_run(&p.loop);
    checks_free(cs);
    loop_close(&p.loop);
    if (rc < 0) {
        fprintf(stderr, "podvisor probe: epoll_wait: %s\n", strerror(-rc));
        return 1;
    }
    if (p.ok) {
        if (strncmp(p.why, "warning: ", 9) == 0)
            fprintf(stderr, "podvisor probe: warning: %s %s\n", target, p.why + 9);
        return 0;
    }
    if (strncmp(p.why, "HTTP ", 5) == 0)
        fprintf(stderr, "podvisor probe: %s: HTTP status %s\n", target, p.why + 5);
    else if (strstr(p.why, "timed out") != NULL)
        fprintf(stderr, "podvisor probe: %s: timed out after %lldms (%s)\n", target,
                (long long)timeout_ms, p.why);
    else
        fprintf(stderr, "podvisor probe: %s: %s\n", target, p.why);
    return 1;
}

/* Non-blocking connect to each resolved address in turn, all within one
 * deadline. */
static int probe_tcp(const char *target, const char *hostport, int64_t timeout_ms)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    const char *h = hostport;
    size_t hl = colon ? (size_t)(colon - hostport) : 0;
    if (hl > 1 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (colon == NULL || hl == 0 || hl >= sizeof host || colon[1] == '\0')
        return usage_error("\"%s\" is not tcp://HOST:PORT", target);
    memcpy(host, h, hl);
    host[hl] = '\0';
    long port;
    if (parse_int_range(colon + 1, 1, 65535, &port) != NULL)
        return usage_error("\"%s\" has no valid port", target);

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, colon + 1, &hints, &res);
    if (gai != 0) {
        fprintf(stderr, "podvisor probe: %s: cannot resolve %s: %s\n", target, host,
                gai_strerror(gai));
        return 1;
    }
    int64_t deadline = loop_now_ms() + timeout_ms;
    int err = ETIMEDOUT;
    int result = 1;
    for (struct addrinfo *ai = res; ai && result != 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            result = 0;
        } else if (errno != EINPROGRESS) {
            err = errno;
        } else {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int64_t left = deadline - loop_now_ms();
            /* poll takes an int: a longer --timeout waits in steps (the
             * watchdog ends the probe at the deadline anyway). */
            int n = left > 0 ? poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left) : 0;
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (n == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                result = 0;
            else
                err = n == 1 ? soerr : ETIMEDOUT;
        }
        close(fd);
    }
    freeaddrinfo(res);
    if (result != 0)
        fprintf(stderr, "podvisor probe: %s: %s\n", target, strerror(err));
    return result;
}

/* CR or LF in a header would let a value inject headers of its own. */
static int valid_header(const char *v)
{
    const char *colon = strchr(v, ':');
    return colon != NULL && colon != v && strpbrk(v, "\r\n") == NULL;
}

int tools_probe_main(int argc, char **argv)
{
    int64_t timeout_ms = 1000;          /* the kubelet's default timeoutSeconds */
    char *headers[argc > 0 ? argc : 1]; /* --header values, in order */
    int nheaders = 0, verify_tls = 0, options_done = 0;
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && strcmp(a, "--") == 0) {
            options_done = 1;
            continue;
        }
        if (!options_done && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            fputs(PROBE_USAGE, stdout);
            return 0;
        }
        if (!options_done && strcmp(a, "--verify-tls") == 0) {
            verify_tls = 1;
        } else if (!options_done && (strcmp(a, "--timeout") == 0 || strcmp(a, "--header") == 0)) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--timeout") == 0) {
                const char *why = parse_duration(v, &timeout_ms);
                if (why != NULL || timeout_ms == 0)
                    return usage_error("--timeout: \"%s\" %s", v,
                                       why ? why : "must be more than 0");
            } else {
                if (!valid_header(v))
                    return usage_error("--header: \"%s\" is not 'Name: value' on one line", v);
                headers[nheaders++] = argv[i];
            }
        } else if (!options_done && a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option \"%s\"", a);
        } else if (target != NULL) {
            return usage_error("one TARGET only, got \"%s\" too", a);
        } else {
            target = a;
        }
    }
    if (target == NULL)
        return usage_error("no TARGET given");
    int http = strncmp(target, "http://", 7) == 0 || strncmp(target, "https://", 8) == 0;
    if (!http && strncmp(target, "tcp://", 6) != 0)
        return usage_error("\"%s\" is not a TARGET (http://, https:// or tcp://)", target);
    const char *why = http ? parse_http_url(target) : NULL;
    if (why)
        return usage_error("\"%s\" %s", target, why);
    if (arm_watchdog(target, timeout_ms) < 0)
        return 1;
    if (http)
        return probe_http(target, timeout_ms, headers, nheaders, verify_tls);
    return probe_tcp(target, target + 6, timeout_ms);
}

int tools_sleep_main(int argc, char **argv)
{
    int64_t ms;
    if (argc != 2) {
        fprintf(stderr, "usage: podvisor sleep DURATION (e.g. 5s, 500ms, 1m)\n");
        return 2;
    }
    const char *why = parse_duration(argv[1], &ms);
    if (why != NULL) {
        fprintf(stderr, "podvisor sleep: \"%s\" %s\n", argv[1], why);
        return 2;
    }
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    /* Absolute deadline on the monotonic clock: signals that interrupt the
     * sleep (and are ignored) neither shorten nor stretch it. */
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ts.tv_sec;
    deadline.tv_nsec += ts.tv_nsec;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) == EINTR)
        ;
    return 0;
}

/* The hash --watch keeps for the same paths, in the same order (/status
 * shows it as config.hash): to check by hand what podvisor saw. A path that
 * does not exist is an error here; --watch waits for it instead. */
int tools_hash_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fprintf(stderr, "usage: podvisor hash PATH...\n"
                        "  prints the content hash --watch uses for these paths (sha256:<hex>)\n");
        return argc < 2 ? 2 : 0;
    }
    int first = strcmp(argv[1], "--") == 0 ? 2 : 1;
    if (first >= argc) {
        fprintf(stderr, "usage: podvisor hash PATH...\n");
        return 2;
    }
    size_t n = (size_t)(argc - first);
    enum hash_found found[n];
    char out[HASH_TEXT_LEN];
    struct hash_notes hn;
    int rc = hash_paths(argv + first, n, out, found, &hn);
    if (rc < 0) {
        fprintf(stderr, "podvisor hash: %s\n", strerror(-rc));
        return 1;
    }
    int missing = 0;
    for (size_t i = 0; i < n; i++)
        if (found[i] == HASH_MISSING) {
            /* The cause as the system gives it (EACCES on a directory on
             * the way is not "No such file"). */
            struct stat sb;
            int err = stat(argv[first + (int)i], &sb) < 0 ? errno : ENOENT;
            fprintf(stderr, "podvisor hash: %s: %s\n", argv[first + (int)i], strerror(err));
            missing = 1;
        }
    if (hn.first[0])
        fprintf(stderr, "podvisor hash: warning: %s\n", hn.first);
    if (missing)
        return 1;
    printf("%s\n", out);
    return 0;
}

/* Whether this binary needs a dynamic loader (and so shared libraries in
 * whatever image it is copied into). */
static int dynamically_linked(void)
{
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    unsigned long n = getauxval(AT_PHNUM);
    for (unsigned long i = 0; ph != NULL && i < n; i++)
        if (ph[i].p_type == PT_INTERP)
            return 1;
    return 0;
}

/* Copies this binary to DEST (a file, or a directory to put `podvisor` in),
 * mode 0755, through a temporary file renamed into place: an app container
 * starting at the same moment never runs a half-written binary. For the
 * injection pattern: an init container copies podvisor into an emptyDir
 * that the app container runs it from. */
int tools_install_main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '\0' || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: podvisor install DEST\n"
                        "  copies this binary to DEST (a file path, or a directory to hold "
                        "podvisor), mode 0755\n");
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    char dest[PATH_MAX];
    struct stat sb;
    if (stat(argv[1], &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(dest, sizeof dest, "%s/podvisor", argv[1]);
    else
        snprintf(dest, sizeof dest, "%s", argv[1]);
    if (dynamically_linked())
        fprintf(stderr, "podvisor install: warning: this podvisor is dynamically linked; the "
                        "image it runs in needs its shared libraries (libjansson, libnettle): "
                        "inject the static build (make static) instead\n");
    int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        fprintf(stderr, "podvisor install: reading /proc/self/exe: %s\n", strerror(errno));
        return 1;
    }
    /* A name of its own each time: as PID 1 the pid is always 1, and a
     * DEST.tmp1 left by an install killed midway made every later one fail
     * with "File exists". */
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", dest);
    int out = mkostemp(tmp, O_CLOEXEC);
    if (out < 0) {
        fprintf(stderr, "podvisor install: %s: %s\n", dest, strerror(errno));
        close(in);
        return 1;
    }
    int rc = 0;
    char buf[65536];
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? errno : 0;
            break;
        }
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = errno;
                break;
            }
            off += w;
        }
        if (rc)
            break;
    }
    /* The umask must not take the execute bits away. */
    if (rc == 0 && fchmod(out, 0755) < 0)
        rc = errno;
    if (rc == 0 && fsync(out) < 0)
        rc = errno;
    if (close(out) < 0 && rc == 0)
        rc = errno;
    close(in);
    if (rc == 0 && rename(tmp, dest) < 0)
        rc = errno;
    if (rc != 0) {
        unlink(tmp);
        fprintf(stderr, "podvisor install: %s: %s\n", dest, strerror(rc));
        return 1;
    }
    return 0;
}
