/* buildinfo: what this binary is, for --version and bug reports: its
 * version and the commit it was built from, the architecture and C library
 * it was built for, static or dynamic, and the version of every library it
 * links in or loads, as curl -V says (a library that cannot be loaded is
 * said with why). */
#ifndef PODVISOR_BUILDINFO_H
#define PODVISOR_BUILDINFO_H

#include <stdio.h>

/** Prints the three lines of `podvisor --version` to f. Returns 0. */
int buildinfo_print(FILE *f);

/** The architecture podvisor was compiled for: "x86_64 (amd64)", ... */
const char *buildinfo_arch(void);

#endif
