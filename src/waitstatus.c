/* waitstatus: see waitstatus.h. */
#include "waitstatus.h"

#include <stdio.h>
#include <sys/wait.h>

#include "parse.h"

int waitstatus_code(int status)
{
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

int waitstatus_signal(int status)
{
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

const char *waitstatus_describe(int status, char *buf, size_t len)
{
    char name[16];
    if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by SIG%s", signal_name(WTERMSIG(status), name, sizeof name));
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    return buf;
}

int64_t backoff_next(int64_t last, int64_t first, int64_t max)
{
    if (last <= 0)
        return first;
    return last > max - last ? max : last * 2;
}
