/* libFuzzer target: every value parser on arbitrary bytes. Each must return
 * NULL or a reason, never crash, and what it accepts must be in range. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t ms;
    if (parse_duration(s, &ms) == NULL && (ms < 0 || ms > PARSE_DURATION_MAX_MS))
        abort();
    int sig;
    if (parse_signal(s, &sig) == NULL && (sig < 1 || sig > SIGRTMAX))
        abort();
    if (parse_signal_or_zero(s, &sig) == NULL && (sig < 0 || sig > SIGRTMAX))
        abort();
    int code;
    if (parse_exit_code(s, &code) == NULL && (code < 0 || code > 255))
        abort();
    struct listen_addr a;
    if (parse_listen_addr(s, &a) == NULL && (a.port < 0 || a.port > 65535))
        abort();
    char buf[300];
    if (parse_listen_addr(s, &a) == NULL) {
        struct listen_addr back;
        /* what we print parses back to the same address */
        if (parse_listen_addr(listen_addr_format(&a, buf, sizeof buf), &back) != NULL ||
            back.port != a.port || back.any != a.any || strcmp(back.host, a.host) != 0)
            abort();
    }
    free(s);
    return 0;
}
