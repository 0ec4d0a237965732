/* supervisor: the main job. Owns the event loop's wiring: the signalfd, the
 * lifecycle's timers (keyed by event and slot), each child slot's exec pipe,
 * the fds held for the app (--socket, LISTEN_FDS given to podvisor, the sd_notify
 * fd store), where an sd_notify datagram's sender belongs, and the final
 * clean-up that leaves no process behind. Turns I/O into lifecycle events
 * and carries out the actions the lifecycle returns; it reads the lifecycle
 * only through its functions, and decides nothing the lifecycle decides. */
#ifndef PODVISOR_SUPERVISOR_H
#define PODVISOR_SUPERVISOR_H

#include <sys/types.h>

#include "options.h"

/** Runs cfg->command under supervision until it exits and everything left
 * is cleaned up. Returns podvisor's exit code (the child's status, 126/127
 * when it cannot run, 2 for a start-up configuration error, 1 when podvisor
 * itself fails). parent_at_start is getppid() as early as main could ask:
 * a different parent once --pdeathsig is armed means the first one died
 * before it was. */
int supervisor_run(const struct podvisor_config *cfg, pid_t parent_at_start);

#endif
