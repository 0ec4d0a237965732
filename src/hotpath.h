/* hotpath: marks the code a signal runs through, from the loop's wake-up to
 * the kill() that forwards it (and the lifecycle step that decides it).
 *
 * podvisor sleeps in epoll_wait for most of its life; when SIGTERM comes,
 * little of it is in the CPU's caches or TLB any more, and each page and
 * line the path touches is a miss. Kept in one section, these functions sit
 * together instead of among the code that only starts, probes or restarts
 * (bench/sigterm.py measures it; docs/design.md, "SIGTERM forwarding").
 * Placement only: the functions are optimised as the build says (-Os for
 * the static binary), which keeps the section small. */
#ifndef PODVISOR_HOTPATH_H
#define PODVISOR_HOTPATH_H

/* GNU ld's and lld's default scripts put .text.hot.* ahead of .text, in
 * one run. */
#define HOT_PATH __attribute__((section(".text.hot.signal_path")))

#endif
