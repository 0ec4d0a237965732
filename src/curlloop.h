/* curlloop: one libcurl multi handle driven by podvisor's event loop (its
 * sockets are loop watches, its timeouts a loop timer), so that no HTTP
 * request ever blocks signals, reaping or probes. Shared by the webhook
 * and the checks: each adds its easy handles and is told when one is done.
 * libcurl is loaded on first use (see lazylib.h). */
#ifndef PODVISOR_CURLLOOP_H
#define PODVISOR_CURLLOOP_H

#ifndef CURL_DISABLE_TYPECHECK
#define CURL_DISABLE_TYPECHECK /* calls go through lazylib's pointers */
#endif
#include <curl/curl.h>
#include <stddef.h>

#include "lazylib.h"
#include "loop.h"

/* libcurl, for every module that uses it (the one table; loaded on first
 * use, see lazylib.h): LAZYLIB_LOAD(curl, LIBCURL_SONAME, ...), then
 * curl.curl_easy_init() and so on. One function a line: clang-format
 * reflows X lists differently on every pass. */
/* clang-format off */
#define CURL_FUNCS(X)            \
    X(curl_global_init)          \
    X(curl_multi_init)           \
    X(curl_multi_cleanup)        \
    X(curl_multi_setopt)         \
    X(curl_multi_add_handle)     \
    X(curl_multi_remove_handle)  \
    X(curl_multi_socket_action)  \
    X(curl_multi_info_read)      \
    X(curl_multi_assign)         \
    X(curl_easy_init)            \
    X(curl_easy_setopt)          \
    X(curl_easy_getinfo)         \
    X(curl_easy_cleanup)         \
    X(curl_easy_strerror)        \
    X(curl_slist_append)         \
    X(curl_slist_free_all)       \
    X(curl_url)                  \
    X(curl_url_set)              \
    X(curl_url_get)              \
    X(curl_url_cleanup)          \
    X(curl_free)                 \
    X(curl_version_info)
/* clang-format on */
LAZYLIB_DECLARE(curl, CURL_FUNCS);

struct curlloop;

/* A transfer ended: its handle (still added; the callee removes it) and
 * libcurl's result. */
typedef void (*curlloop_done_fn)(void *ctx, CURL *easy, CURLcode result);

/** Loads libcurl and makes the multi handle. NULL, with the reason in err,
 * when libcurl cannot be loaded or memory ran out. */
struct curlloop *curlloop_new(struct loop *loop, curlloop_done_fn done, void *ctx, char *err,
                              size_t errlen);

/** Starts a transfer. 0, or -1 when libcurl refused it. */
int curlloop_add(struct curlloop *cl, CURL *easy);

/** Stops a transfer (done is not called for it). */
void curlloop_remove(struct curlloop *cl, CURL *easy);

void curlloop_free(struct curlloop *cl);

#endif
