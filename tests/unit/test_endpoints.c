/* Unit tests for src/endpoints.c's slice table: watch events of
 * EndpointSlices (discovery.k8s.io/v1, as the API serves them) in, the
 * judgement out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "endpoints.h"

#define UID "5e0c1a9e-6d1f-4f0e-9d7c-000000000001"

/* A slice named name listing one endpoint: the pod (uid) or another, with
 * its conditions as JSON ("" for none at all). */
static json_t *slice(const char *name, const char *uid, const char *conditions)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"kind\": \"EndpointSlice\", \"apiVersion\": \"discovery.k8s.io/v1\","
             " \"metadata\": {\"name\": \"%s\", \"resourceVersion\": \"7\"},"
             " \"addressType\": \"IPv4\","
             " \"endpoints\": [{\"addresses\": [\"10.0.0.1\"]%s%s,"
             "   \"targetRef\": {\"kind\": \"Pod\", \"name\": \"web-0\", \"uid\": \"%s\"}}]}",
             name, *conditions ? ", \"conditions\": " : "", conditions, uid);
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    assert_non_null(j);
    return j;
}

static void apply(struct ep_slices *s, const char *type, const char *name, const char *uid,
                  const char *conditions)
{
    json_t *j = slice(name, uid, conditions);
    assert_int_equal(ep_slices_apply(s, type, j, UID), 0);
    json_decref(j);
}

#define READY "{\"ready\": true, \"serving\": true, \"terminating\": false}"
#define TERMINATING "{\"ready\": false, \"serving\": true, \"terminating\": true}"
#define PUBLISHING "{\"ready\": true, \"serving\": true, \"terminating\": true}"

/* Dual stack: both families' slices must say not ready. */
static void every_slice_must_say_not_ready(void **state)
{
    (void)state;
    struct ep_slices s = {0};
    assert_int_equal(ep_slices_judge(&s), EP_NONE_LISTS);
    apply(&s, "ADDED", "web-v4", UID, READY);
    apply(&s, "ADDED", "web-v6", UID, READY);
    apply(&s, "ADDED", "other", "another-uid", READY);
    assert_int_equal(s.n, 2);
    assert_int_equal(ep_slices_judge(&s), EP_WAIT);
    apply(&s, "MODIFIED", "web-v4", UID, TERMINATING);
    assert_int_equal(ep_slices_judge(&s), EP_WAIT);
    apply(&s, "MODIFIED", "web-v6", UID, TERMINATING);
    assert_int_equal(ep_slices_judge(&s), EP_NOT_READY);
    /* serving stays true while readiness has not failed yet: not what
     * counts (docs/kubernetes.md). */
    ep_slices_clear(&s);
}

/* A missing condition is ready (the API type says so); a slice that stops
 * listing the pod, or is deleted, no longer counts. */
static void missing_conditions_and_removals(void **state)
{
    (void)state;
    struct ep_slices s = {0};
    apply(&s, "ADDED", "a", UID, "");
    assert_int_equal(ep_slices_judge(&s), EP_WAIT);
    apply(&s, "ADDED", "b", UID, "{\"ready\": null}");
    apply(&s, "DELETED", "a", UID, READY);
    assert_int_equal(s.n, 1);
    assert_int_equal(ep_slices_judge(&s), EP_WAIT);
    apply(&s, "MODIFIED", "b", "someone-else", READY);
    assert_int_equal(s.n, 0);
    /* Listed once, listed no more: no Service sends the pod traffic. */
    assert_int_equal(ep_slices_judge(&s), EP_NOT_READY);
    ep_slices_clear(&s);
}

/* A terminating endpoint kept ready: publishNotReadyAddresses. It never
 * says not ready, so it is not waited for; alone, it cannot tell. */
static void slices_that_publish_not_ready_addresses_are_skipped(void **state)
{
    (void)state;
    struct ep_slices s = {0};
    apply(&s, "ADDED", "headless", UID, PUBLISHING);
    assert_int_equal(ep_slices_judge(&s), EP_ONLY_PUBLISHING);
    apply(&s, "ADDED", "web", UID, READY);
    assert_int_equal(ep_slices_judge(&s), EP_WAIT);
    apply(&s, "MODIFIED", "web", UID, TERMINATING);
    assert_int_equal(ep_slices_judge(&s), EP_NOT_READY);
    ep_slices_clear(&s);
}

static void what_is_not_a_slice_is_refused(void **state)
{
    (void)state;
    struct ep_slices s = {0};
    json_t *j = json_loads("{\"kind\": \"Status\", \"code\": 410}", 0, NULL);
    assert_int_equal(ep_slices_apply(&s, "ADDED", j, UID), -1);
    json_decref(j);
    j = json_loads("[1, 2]", 0, NULL);
    assert_int_equal(ep_slices_apply(&s, "MODIFIED", j, UID), -1);
    json_decref(j);
    /* endpoints of the wrong shape are skipped, not a crash */
    j = json_loads("{\"metadata\": {\"name\": \"x\"}, \"endpoints\": [1, {\"targetRef\": 5}]}", 0,
                   NULL);
    assert_int_equal(ep_slices_apply(&s, "ADDED", j, UID), 0);
    assert_int_equal(s.n, 0);
    json_decref(j);
    /* many slices grow the table */
    char name[32];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "s%d", i);
        apply(&s, "ADDED", name, UID, TERMINATING);
    }
    assert_int_equal(s.n, 40);
    assert_int_equal(ep_slices_judge(&s), EP_NOT_READY);
    ep_slices_clear(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_slice_must_say_not_ready),
        cmocka_unit_test(missing_conditions_and_removals),
        cmocka_unit_test(slices_that_publish_not_ready_addresses_are_skipped),
        cmocka_unit_test(what_is_not_a_slice_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
