/* supervisor: the main job. Owns the event loop's wiring: the signalfd, the
 * lifecycle's timers, the main child's pid, and the final clean-up that
 * leaves no process behind. Turns I/O into lifecycle events and carries out
 * the actions the lifecycle returns. */
#ifndef PODVISOR_SUPERVISOR_H
#define PODVISOR_SUPERVISOR_H

#include "options.h"

/** Runs cfg->command under supervision until it exits and everything left
 * is cleaned up. Returns podvisor's exit code (the child's status, 126/127
 * when it cannot run, 2 for a start-up configuration error, 1 when podvisor
 * itself fails). */
int supervisor_run(const struct podvisor_config *cfg);

#endif
