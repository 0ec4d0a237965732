/* lazylib: see lazylib.h. */
#include "lazylib.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

int lazylib_load(const char *soname, const char *const *names, void **slots, size_t n, char *err,
                 size_t errlen)
{
    if (n > 0 && slots[0] != NULL)
        return 0; /* loaded before */
    /* RTLD_NOW: a missing symbol is an error here, not a crash later. Once
     * loaded, the handle is kept for the life of the process, on purpose. */
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(err, errlen, "cannot load %s: %s", soname, dlerror());
        /* dlopen's errno is that of its last path tried, not the cause:
         * whether fds ran out is asked directly. Out of fds is the
         * machine's failure, not a missing library. */
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return errno == EMFILE || errno == ENFILE ? -2 : -1;
        close(fd);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        void *sym = dlsym(h, names[i]);
        if (sym == NULL) {
            snprintf(err, errlen, "%s has no %s", soname, names[i]);
            memset(slots, 0, n * sizeof *slots);
            dlclose(h); /* a later call may try again; nothing of it is used */
            return -1;
        }
        slots[i] = sym;
    }
    return 0;
}
