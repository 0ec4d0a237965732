/* waitfor: `podvisor wait-for`, for init containers: runs one check per
 * TARGET (the checks module, driven by a loop of its own, so that a target
 * that hangs never holds up the others) until every one has answered once,
 * printing progress; exit 0, or 1 at --timeout naming what did not answer,
 * 2 for usage. */
#ifndef PODVISOR_WAITFOR_H
#define PODVISOR_WAITFOR_H

/** argv[0] is "wait-for". Returns the exit code. */
int waitfor_main(int argc, char **argv);

#endif
