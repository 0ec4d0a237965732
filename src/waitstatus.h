/* waitstatus: pure helpers the lifecycle and the reports share with the
 * I/O modules: a process's wait status decoded (in one place), and the
 * doubling backoff step. No I/O, so the pure code (the lifecycle, report,
 * the HTTP fuzzer) links none of the I/O modules for them. */
#ifndef PODVISOR_WAITSTATUS_H
#define PODVISOR_WAITSTATUS_H

#include <stddef.h>
#include <stdint.h>

/** 128+N for a signal death, the exit code otherwise. */
int waitstatus_code(int status);

/** The signal that killed the process, 0 when it exited. */
int waitstatus_signal(int status);

/** "exited with status N" or "killed by SIGNAME", into buf. */
const char *waitstatus_describe(int status, char *buf, size_t len);

/** The next delay of a doubling backoff: `first` when `last` is 0 (none
 * yet, or reset), else twice `last`, at most `max`. */
int64_t backoff_next(int64_t last, int64_t first, int64_t max);

#endif
