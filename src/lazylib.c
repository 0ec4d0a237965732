/* lazylib: see lazylib.h. */
#include "lazylib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int lazylib_load(const char *soname, const char *const *names, void **slots, size_t n,
                 char *err, size_t errlen)
{
    if (n > 0 && slots[0] != NULL)
        return 0; /* loaded before */
    /* RTLD_NOW: a missing symbol is an error here, not a crash later. Once
     * loaded, the handle is kept for the life of the process, on purpose. */
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(err, errlen, "cannot load %s: %s", soname, dlerror());
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
