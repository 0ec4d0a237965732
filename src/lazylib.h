/* lazylib: loads an optional shared library (libmicrohttpd, libcurl) when it
 * is first needed instead of at every start. Linked outright, their
 * dependency trees (GnuTLS, OpenSSL, GSSAPI, LDAP...: 35 libraries) made
 * `podvisor -- /bin/true` 2.8x slower than tini and its RSS 5x larger, for
 * features a run may not use (bench/pid1.py).
 *
 * A user lists its functions once with an X-macro and gets a struct of
 * correctly typed pointers (the library's own header gives the types):
 *
 *   #define MY_FUNCS(X) X(curl_easy_init) X(curl_easy_cleanup)
 *   static struct { MY_FUNCS(LAZYLIB_SLOT) } api;
 *   static const char *const names[] = { MY_FUNCS(LAZYLIB_NAME) };
 *   lazylib_load(LIBCURL_SONAME, names, (void **)&api, N, err, sizeof err);
 *   api.curl_easy_init();
 */
#ifndef PODVISOR_LAZYLIB_H
#define PODVISOR_LAZYLIB_H

#include <stddef.h>

#define LAZYLIB_SLOT(f) __typeof__(f) *f;
#define LAZYLIB_NAME(f) #f,

/** Opens soname once (later calls return at once) and fills slots[i] with
 * the address of names[i]. Returns 0, or -1 with the reason in err. */
int lazylib_load(const char *soname, const char *const *names, void **slots, size_t n,
                 char *err, size_t errlen);

#endif
