/* lazylib: loads an optional shared library (libmicrohttpd, libcurl) when it
 * is first needed instead of at every start. Linked outright, their
 * dependency trees (GnuTLS, OpenSSL, GSSAPI, LDAP...: 35 libraries) made
 * `podvisor -- /bin/true` 2.8x slower than tini and its RSS 5x larger, for
 * features a run may not use (bench/pid1.py).
 *
 * A user lists its functions once with an X-macro and gets a struct of
 * correctly typed pointers (the library's own header gives the types):
 *
 *   #define CURL_FUNCS(X) X(curl_easy_init) X(curl_easy_cleanup)
 *   LAZYLIB_DEFINE(curl, CURL_FUNCS);
 *   if (LAZYLIB_LOAD(curl, LIBCURL_SONAME, err, sizeof err) < 0) ...
 *   curl.curl_easy_init();
 */
#ifndef PODVISOR_LAZYLIB_H
#define PODVISOR_LAZYLIB_H

#include <stddef.h>

#define LAZYLIB_SLOT(f) __typeof__(f) *f;
#define LAZYLIB_NAME(f) #f,

#ifdef PODVISOR_STATIC
/* The static (musl) build links both libraries in: musl's static dlopen()
 * always fails, and a static binary has no loading cost to save. The same
 * struct is filled at compile time, so callers do not change. */
#define LAZYLIB_ADDR(f) f,
#define LAZYLIB_DEFINE(api, FUNCS)                                                                 \
    static const struct {                                                                          \
        FUNCS(LAZYLIB_SLOT)                                                                        \
    } api = {FUNCS(LAZYLIB_ADDR)}
#define LAZYLIB_LOAD(api, soname, err, errlen) ((void)(soname), (void)(err), (void)(errlen), 0)
#else
/* Defines `api` (the pointers) and `api_names`; the assert holds while every
 * member is one pointer, which lazylib_load relies on. */
#define LAZYLIB_DEFINE(api, FUNCS)                                                                 \
    static struct {                                                                                \
        FUNCS(LAZYLIB_SLOT)                                                                        \
    } api;                                                                                         \
    static const char *const api##_names[] = {FUNCS(LAZYLIB_NAME)};                                \
    _Static_assert(sizeof api == sizeof api##_names / sizeof api##_names[0] * sizeof(void *),      \
                   "one pointer per function")

#define LAZYLIB_LOAD(api, soname, err, errlen)                                                     \
    lazylib_load((soname), api##_names, (void **)&api, sizeof api / sizeof(void *), (err), (errlen))
#endif

/* One table shared by several files (libcurl: the checks, the webhook,
 * the multi loop, `probe`): LAZYLIB_DECLARE in a header, LAZYLIB_SHARED in
 * one .c file, LAZYLIB_LOAD anywhere. */
#define LAZYLIB_DECLARE(api, FUNCS)                                                                \
    struct api##_table {                                                                           \
        FUNCS(LAZYLIB_SLOT)                                                                        \
    };                                                                                             \
    extern LAZYLIB_CONST struct api##_table api;                                                   \
    extern const char *const api##_names[]
#ifdef PODVISOR_STATIC
#define LAZYLIB_CONST const
#define LAZYLIB_SHARED(api, FUNCS)                                                                 \
    const struct api##_table api = {FUNCS(LAZYLIB_ADDR)};                                          \
    const char *const api##_names[] = {FUNCS(LAZYLIB_NAME)}
#else
#define LAZYLIB_CONST
#define LAZYLIB_SHARED(api, FUNCS)                                                                 \
    struct api##_table api;                                                                        \
    const char *const api##_names[] = {FUNCS(LAZYLIB_NAME)};                                       \
    _Static_assert(sizeof api / sizeof(void *) == sizeof api##_names / sizeof api##_names[0],      \
                   "one pointer per function")
#endif

/** Opens soname once (later calls return at once) and fills slots[i] with
 * the address of names[i]. Returns 0, or with the reason in err: -1 when
 * the library or a symbol is missing, -2 when the machine ran out of fds
 * loading it. */
int lazylib_load(const char *soname, const char *const *names, void **slots, size_t n, char *err,
                 size_t errlen);

#endif
