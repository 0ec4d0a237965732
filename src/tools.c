/* tools: see tools.h. */
#include "tools.h"

/* curl_easy_setopt and _getinfo are macros under its gcc type checks;
 * they are called through pointers here. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <errno.h>
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

#include "lazylib.h"
#include "loop.h"
#include "parse.h"

/* libcurl is loaded only by `podvisor probe` (see lazylib.h). */
#define CURL_FUNCS(X)                                                                       \
    X(curl_global_init) X(curl_global_cleanup) X(curl_easy_init) X(curl_easy_setopt)         \
    X(curl_easy_perform) X(curl_easy_getinfo) X(curl_easy_cleanup) X(curl_easy_strerror)    \
    X(curl_slist_append) X(curl_slist_free_all)
LAZYLIB_DEFINE(curl, CURL_FUNCS);
_Static_assert(sizeof LIBCURL_SONAME > 1, "LIBCURL_SONAME is empty: the Makefile could not "
                                         "find libcurl's soname (is libcurl4-openssl-dev installed?)");

static const char PROBE_USAGE[] =
    "usage: podvisor probe [--timeout D] [--header 'K: V']... TARGET\n"
    "  TARGET: http://HOST:PORT/PATH, https://..., or tcp://HOST:PORT\n"
    "  exit 0 healthy (HTTP 200-399, or TCP connect), 1 not healthy, 2 usage\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "podvisor probe: %s (see podvisor probe --help)\n", msg);
    return 2;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    return size * nmemb; /* the body does not matter, only the status */
}

static int probe_http(const char *url, int64_t timeout_ms, char *const *header_args, int nheaders)
{
    char err[256];
    if (LAZYLIB_LOAD(curl, LIBCURL_SONAME, err, sizeof err) < 0) {
        fprintf(stderr, "podvisor probe: %s\n", err);
        return 1;
    }
    if (curl.curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "podvisor probe: cannot initialise libcurl\n");
        return 1;
    }
    int result = 1;
    CURL *h = NULL;
    struct curl_slist *headers = NULL;
    for (int i = 0; i < nheaders; i++) {
        struct curl_slist *l = curl.curl_slist_append(headers, header_args[i]);
        if (l == NULL) {
            fprintf(stderr, "podvisor probe: out of memory\n");
            goto out;
        }
        headers = l;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    h = curl.curl_easy_init();
    if (h == NULL) {
        fprintf(stderr, "podvisor probe: cannot initialise libcurl\n");
        goto out;
    }
    /* The kubelet's rules (KUBERNETES.md): 200-399 is success, so redirects
     * are not followed (a 3xx already counts); no keep-alive; Accept: any. */
    curl.curl_easy_setopt(h, CURLOPT_URL, url);
    curl.curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl.curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl.curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl.curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    curl.curl_easy_setopt(h, CURLOPT_USERAGENT, "podvisor-probe/" PODVISOR_VERSION);
    curl.curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl.curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl.curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl.curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl.curl_easy_perform(h);
    if (rc != CURLE_OK) {
        fprintf(stderr, "podvisor probe: %s: %s\n", url, errbuf[0] ? errbuf : curl.curl_easy_strerror(rc));
        goto out;
    }
    long status = 0;
    curl.curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 400)
        result = 0;
    else
        fprintf(stderr, "podvisor probe: %s: HTTP status %ld\n", url, status);
out:
    curl.curl_easy_cleanup(h);
    curl.curl_slist_free_all(headers);
    curl.curl_global_cleanup();
    return result;
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
            int n = left > 0 ? poll(&p, 1, (int)left) : 0;
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

int tools_probe_main(int argc, char **argv)
{
    int64_t timeout_ms = 1000; /* the kubelet's default timeoutSeconds */
    char *headers[argc > 0 ? argc : 1]; /* --header values, in order */
    int nheaders = 0;
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(PROBE_USAGE, stdout);
            return 0;
        }
        if (strcmp(a, "--timeout") == 0 || strcmp(a, "--header") == 0) {
            if (i + 1 >= argc) {
                return usage_error("%s needs a value", a);
            }
            const char *v = argv[++i];
            if (strcmp(a, "--timeout") == 0) {
                const char *why = parse_duration(v, &timeout_ms);
                if (why != NULL || timeout_ms == 0) {
                    fprintf(stderr, "podvisor probe: --timeout: \"%s\" %s\n", v,
                            why ? why : "must be more than 0");
                    return 2;
                }
            } else {
                const char *colon = strchr(v, ':');
                if (colon == NULL || colon == v) {
                    return usage_error("--header: \"%s\" is not 'Name: value'", v);
                }
                headers[nheaders++] = argv[i];
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option \"%s\"", a);
        } else if (target != NULL) {
            return usage_error("one TARGET only, got \"%s\" too", a);
        } else {
            target = a;
        }
    }
    if (target == NULL)
        return usage_error("no TARGET given");
    if (strncmp(target, "http://", 7) == 0 || strncmp(target, "https://", 8) == 0)
        return probe_http(target, timeout_ms, headers, nheaders);
    if (strncmp(target, "tcp://", 6) == 0)
        return probe_tcp(target, target + 6, timeout_ms);
    return usage_error("\"%s\" is not a TARGET (http://, https:// or tcp://)", target);
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
