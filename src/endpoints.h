/* endpoints: --drain-endpoints. Once SIGTERM came, asks the Kubernetes API
 * whether the pod is being deleted, then follows the namespace's
 * EndpointSlices that list the pod (by targetRef.uid), a list and then a
 * watch, until every one shows the pod not ready; says so once (the
 * verdict) and asks nothing more. Anything the API cannot tell (no
 * access, no answer, no slice listing the pod, only Services that publish
 * not-ready addresses) is a verdict too: LC_ENDPOINTS_UNKNOWN, with why,
 * and the fixed --prestop-delay stays.
 *
 * In-cluster access as every client does it (docs/kubernetes.md): the
 * API at https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, the
 * service account's token and CA from its directory; the token is read
 * again for every request (it is rotated), so a 401 is retried once with
 * the file as it is then. The pod is $POD_NAME in $POD_NAMESPACE (the
 * downward API; else the hostname and the service account's namespace),
 * $POD_UID when set. On the event loop through curlloop; the watch
 * stream is parsed a line (one event) at a time with jansson. The slice
 * table and its judgement are pure, for the unit tests. */
#ifndef PODVISOR_ENDPOINTS_H
#define PODVISOR_ENDPOINTS_H

#include <jansson.h>
#include <stddef.h>

#include "lifecycle.h"
#include "loop.h"

#define ENDPOINTS_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
/* How long a GET of the pod or a LIST may take before the API counts as
 * not answering (the watch itself is bounded by --prestop-delay). */
#define ENDPOINTS_ANSWER_MS 5000

/* The slices that list the pod, by name, and what each says of it. */
struct ep_slice {
    char name[254];
    int ready;         /* the pod's endpoint is ready (a missing condition counts as ready) */
    int publishes_all; /* ready while terminating: its Service has
                        * publishNotReadyAddresses, and it will never say not ready */
};
struct ep_slices {
    struct ep_slice *v;
    size_t n, cap;
    int ever_listed; /* a slice listed the pod at some point */
};

enum ep_judgement {
    EP_WAIT = 0,        /* a slice still shows the pod ready */
    EP_NOT_READY,       /* every slice listing the pod shows it not ready (or none lists it
                         * any more) */
    EP_NONE_LISTS,      /* no slice ever listed the pod: no Service sends it traffic */
    EP_ONLY_PUBLISHING, /* every slice listing it publishes not-ready addresses */
};

/** Takes one watch event (type "ADDED", "MODIFIED", "DELETED"; a listed
 * item is "ADDED") of an EndpointSlice. Returns 0, or -1 when it is not
 * one (no metadata.name) or memory ran out. */
int ep_slices_apply(struct ep_slices *s, const char *type, const json_t *slice,
                    const char *pod_uid);
enum ep_judgement ep_slices_judge(const struct ep_slices *s);
void ep_slices_clear(struct ep_slices *s);

/* The verdict, once: what it is, and a line saying why. */
typedef void (*endpoints_verdict_fn)(void *ctx, enum lc_endpoints verdict, const char *why);

/** What in-cluster access lacks here (no KUBERNETES_SERVICE_HOST, no token
 * file...), said in buf; 0 when nothing is missing. For a warning at
 * start, long before SIGTERM. */
int endpoints_missing(const char *sa_dir, char *buf, size_t len);

struct endpoints;

/** Starts asking (the first request goes out on the next loop turn); the
 * verdict comes through fn, exactly once unless freed first. NULL when out
 * of memory. */
struct endpoints *endpoints_start(struct loop *loop, const char *sa_dir, endpoints_verdict_fn fn,
                                  void *ctx);

/** Ends every request; no verdict comes after. */
void endpoints_free(struct endpoints *ep);

#endif
