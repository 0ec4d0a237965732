/* helper: see helper.h. */
#include "helper.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "child.h"

void helper_init(struct helper *h, struct loop *loop, size_t keep)
{
    memset(h, 0, sizeof *h);
    h->loop = loop;
    h->exec_fd = h->out_fd = -1;
    h->keep = keep < HELPER_OUTPUT_MAX ? keep : HELPER_OUTPUT_MAX - 1;
}

void helper_stream(struct helper *h, helper_line_fn fn, void *ctx)
{
    h->on_line = fn;
    h->line_ctx = ctx;
    h->line_len = 0;
}

static void flush_line(struct helper *h)
{
    h->line[h->line_len] = '\0';
    h->on_line(h->line_ctx, h->line);
    h->line_len = 0;
}

static void lines(struct helper *h, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            flush_line(h);
            continue;
        }
        h->line[h->line_len++] = buf[i];
        if (h->line_len == sizeof h->line - 1)
            flush_line(h);
    }
}

static void keep_tail(struct helper *h, const char *buf, size_t n)
{
    if (n >= h->keep) {
        memcpy(h->out, buf + n - h->keep, h->keep);
        h->out_len = h->keep;
    } else {
        size_t drop = h->out_len + n > h->keep ? h->out_len + n - h->keep : 0;
        memmove(h->out, h->out + drop, h->out_len - drop);
        memcpy(h->out + h->out_len - drop, buf, n);
        h->out_len = h->out_len - drop + n;
    }
    h->out[h->out_len] = '\0';
}

void helper_read_output(struct helper *h)
{
    char buf[4096];
    while (h->out_fd >= 0) {
        ssize_t n = read(h->out_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0) { /* EOF: every writer is gone */
                if (h->on_line != NULL && h->line_len > 0)
                    flush_line(h); /* the last line had no newline */
                loop_del(h->loop, &h->out_watch);
                close(h->out_fd);
                h->out_fd = -1;
            }
            return;
        }
        if (h->on_line != NULL) {
            lines(h, buf, (size_t)n);
            keep_tail(h, buf, (size_t)n);
            continue;
        }
        size_t room = h->keep - h->out_len;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(h->out + h->out_len, buf, take);
        h->out_len += take;
        h->out[h->out_len] = '\0';
    }
}

static void on_output(void *ctx, uint32_t events)
{
    (void)events;
    helper_read_output(ctx);
}

void helper_close(struct helper *h)
{
    if (h->out_fd >= 0) {
        loop_del(h->loop, &h->out_watch);
        close(h->out_fd);
        h->out_fd = -1;
    }
    if (h->exec_fd >= 0) {
        close(h->exec_fd);
        h->exec_fd = -1;
    }
}

int helper_capture(struct helper *h, int fd)
{
    h->out_len = 0;
    h->out[0] = '\0';
    h->line_len = 0;
    h->out_fd = fd;
    int rc = loop_add(h->loop, &h->out_watch, h->out_fd, EPOLLIN, on_output, h);
    if (rc < 0) {
        close(h->out_fd); /* its writes then fail with EPIPE; the exit status still counts */
        h->out_fd = -1;
    }
    return rc;
}

int helper_spawn(struct helper *h, char *const *argv)
{
    int out[2];
    int rc = child_output_pipe(out);
    if (rc < 0)
        return rc;
    struct child_spawn_opts opts = {.output_fd = out[1], .helper = 1};
    rc = child_spawn(argv, &opts, &h->pid, &h->exec_fd);
    close(out[1]);
    if (rc < 0) {
        close(out[0]);
        h->pid = 0;
        h->exec_fd = -1;
        return rc;
    }
    helper_capture(h, out[0]);
    return 0;
}

int helper_exec_errno(struct helper *h)
{
    if (h->exec_fd < 0)
        return 0;
    int err = 0;
    enum child_exec_result r = child_exec_result(h->exec_fd, &err);
    close(h->exec_fd);
    h->exec_fd = -1;
    return r == CHILD_EXEC_FAILED ? err : 0;
}
