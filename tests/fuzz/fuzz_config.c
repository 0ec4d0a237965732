/* libFuzzer target: the JSON config file path of options_parse, fed through
 * a memfd. Any input must give OPTIONS_RUN or one error line, never a
 * crash or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("config", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    char *argv[] = {"podvisor", "--config", path, "--", "app", NULL};
    char *envp[] = {NULL};
    struct podvisor_config cfg;
    char err[512];
    enum options_result r = options_parse(&cfg, 5, argv, envp, err, sizeof err);
    if (r == OPTIONS_ERROR && (err[0] == '\0' || strchr(err, '\n') != NULL))
        abort(); /* errors are exactly one line */
    if (r == OPTIONS_RUN && (cfg.stop_timeout_ms < 0 || cfg.prestop_delay_ms < 0))
        abort();
    options_free(&cfg); /* what a parse allocated is freed (the leak check sees the rest) */
    close(fd);
    return 0;
}
