/* helper: the processes podvisor runs for itself (--validate, exec:
 * on-change actions, exec: checks). Owns spawning one with its output
 * captured through a pipe on the loop (the first bytes kept, the rest read
 * and dropped), and the exec's outcome once it is reaped. How that is
 * worded, and the deadline, are the caller's (the supervisor for --validate
 * and exec: actions, checks.c for exec checks), since what a timeout means
 * differs. */
#ifndef PODVISOR_HELPER_H
#define PODVISOR_HELPER_H

#include <stddef.h>
#include <sys/types.h>

#include "loop.h"

/* What is kept of a helper's output: the first bytes say what is wrong. */
#define HELPER_OUTPUT_MAX 2048

/* Called with each line of a streamed helper's output, as it comes. */
typedef void (*helper_line_fn)(void *ctx, const char *line);

struct helper {
    pid_t pid;   /* 0: none running */
    int exec_fd; /* the exec-result pipe (child.h), -1 once read */
    int out_fd;  /* the output pipe, -1 once at EOF or closed */
    struct loop_watch out_watch;
    struct loop *loop;
    char out[HELPER_OUTPUT_MAX];
    size_t out_len, keep; /* keep: at most this much of out is used (< HELPER_OUTPUT_MAX) */
    /* Streamed (helper_stream): each line goes to on_line as it comes, and
     * out keeps the last bytes, not the first (a build's error is at its
     * end). */
    helper_line_fn on_line;
    void *line_ctx;
    char line[512];
    size_t line_len;
};

/** A helper with nothing running; keep: how much output to keep. */
void helper_init(struct helper *h, struct loop *loop, size_t keep);

/** Spawns argv as a helper (child.h: no terminal, fds 0-2 only) with its
 * stdout and stderr captured. Returns 0, or -errno when no process could
 * be made (nothing is left open then). */
int helper_spawn(struct helper *h, char *const *argv);

/** Captures from fd (a child_output_pipe read end, now owned here): its
 * output is read on the loop. Returns 0; -errno when it cannot be watched
 * (fd is closed then: the helper's writes fail with EPIPE). */
int helper_capture(struct helper *h, int fd);

/** Streams the output of the next capture: each line to fn as it comes
 * (a line past 511 bytes in pieces), and the last bytes kept. fn NULL:
 * back to keeping the first bytes. */
void helper_stream(struct helper *h, helper_line_fn fn, void *ctx);

/** Reads what is there of the output (at EOF the pipe is closed). */
void helper_read_output(struct helper *h);

/** Stops watching and closes both pipes. */
void helper_close(struct helper *h);

/** The exec's outcome once the helper is reaped: the errno its exec failed
 * with, or 0 (ran, or not known). Closes the exec pipe. */
int helper_exec_errno(struct helper *h);

#endif
