/* buildinfo: see buildinfo.h. */
#include "buildinfo.h"

#include <jansson.h>
#include <nettle/version.h>
#include <stdio.h>

#include "commit.h" /* PODVISOR_COMMIT, written by scripts/buildinfo.sh */
#include "curlloop.h"
#include "http.h"

#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

const char *buildinfo_arch(void)
{
#if defined(__x86_64__)
    return "x86_64 (amd64)";
#elif defined(__aarch64__)
    return "aarch64 (arm64)";
#elif defined(__arm__) && defined(__ARM_PCS_VFP)
    return "arm (armhf)";
#elif defined(__arm__)
    return "arm (armel)";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return "ppc64le";
#elif defined(__s390x__)
    return "s390x";
#elif defined(__i386__)
    return "i386";
#elif defined(__riscv) && __riscv_xlen == 64
    return "riscv64";
#else
    return "unknown";
#endif
}

static void libc_name(char *buf, size_t len)
{
#if defined(__GLIBC__)
    snprintf(buf, len, "glibc %s", gnu_get_libc_version());
#elif defined(PODVISOR_LIBC)
    snprintf(buf, len, "%s", PODVISOR_LIBC); /* musl has no call that says it */
#else
    snprintf(buf, len, "musl");
#endif
}

/* A dynamic build names the shared object it loaded beside a version. */
#ifdef PODVISOR_STATIC
#define LINKAGE "static"
#define LOADED(soname) ""
#define LOADED_FROM(soname) ""
#else
#define LINKAGE "dynamic"
#define LOADED(soname) " (" soname ")"
#define LOADED_FROM(soname) soname ", "
#endif

int buildinfo_print(FILE *f)
{
    char libc[64], err[256];
    libc_name(libc, sizeof libc);
    fprintf(f, "podvisor %s (commit %s)\n", PODVISOR_VERSION, PODVISOR_COMMIT);
    fprintf(f, "built for %s, %s, %s\n", buildinfo_arch(), LINKAGE, libc);
    /* Loaded only here, as the probe server and the checks would load them:
     * a library missing from the image is what a bug report must show. */
    const char *mhd = http_library_version(err, sizeof err);
    if (mhd != NULL)
        fprintf(f, "libmicrohttpd %s%s, ", mhd, LOADED(MHD_SONAME));
    else
        fprintf(f, "libmicrohttpd: %s (the probe server needs it), ", err);
    if (LAZYLIB_LOAD(curl, LIBCURL_SONAME, err, sizeof err) == 0) {
        const curl_version_info_data *v = curl.curl_version_info(CURLVERSION_NOW);
        fprintf(f, "libcurl %s (%s%s), ", v->version, LOADED_FROM(LIBCURL_SONAME),
                v->ssl_version ? v->ssl_version : "no TLS");
    } else {
        fprintf(f, "libcurl: %s (checks, webhooks and `probe` need it), ", err);
    }
    fprintf(f, "jansson %s, nettle %d.%d\n", jansson_version_str(), nettle_version_major(),
            nettle_version_minor());
    return 0;
}
