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

#include "loop.h"

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
