/* notify: the receiving end of sd_notify (docs/kubernetes.md, "Protocols podvisor
 * speaks to the app"). Owns the datagram socket in the abstract namespace
 * (nothing to create on a read-only root filesystem), the check that a
 * sender belongs to the child's tree (its SCM_CREDENTIALS pid descends from
 * podvisor, procs_descends_from), and the parsing of a datagram's KEY=VALUE lines. What a message
 * means (ready, watchdog, main pid) is decided by its receivers. */
#ifndef PODVISOR_NOTIFY_H
#define PODVISOR_NOTIFY_H

#include <stddef.h>
#include <sys/types.h>

#include "loop.h"

/* A datagram larger than this is malformed (systemd takes 4 KiB too). */
#define NOTIFY_MAX 4096
/* File descriptors read with one datagram (FDSTORE=1, BARRIER=1), as many
 * as systemd reads (NOTIFY_FD_MAX); more are closed by the kernel (the
 * control data is cut), and the datagram is refused, said so. */
#define NOTIFY_MAX_FDS 768
/* FDNAME=: at most 255 bytes, as systemd allows. */
#define NOTIFY_FDNAME_MAX 256

/* What one datagram says; 0 / empty where it says nothing. */
struct notify_msg {
    int ready;            /* READY=1 */
    int reloading;        /* RELOADING=1 */
    int stopping;         /* STOPPING=1 */
    int watchdog;         /* WATCHDOG=1 */
    int watchdog_trigger; /* WATCHDOG=trigger: fail now, as systemd does */
    int has_status;
    char status[256];               /* STATUS=, cut to fit */
    pid_t mainpid;                  /* MAINPID= */
    int fdstore;                    /* FDSTORE=1: keep the datagram's fds for the next child */
    int fdstore_remove;             /* FDSTOREREMOVE=1: drop the stored fds named FDNAME= */
    char fdname[NOTIFY_FDNAME_MAX]; /* FDNAME= ("stored", systemd's default, when absent) */
    int fdname_invalid;             /* FDNAME= was given but not valid: ignored, as systemd
                                     * does, and the rest of the datagram taken */
    /* The datagram's fds (SCM_RIGHTS, close-on-exec). A receiver that keeps
     * one sets its entry to -1; the rest are closed when it returns. */
    int *fds;
    size_t nfds;
};

/** Parses one datagram of newline-separated KEY=VALUE lines. Unknown keys
 * are ignored (the protocol grows); a datagram that is empty, has a NUL
 * byte, a line without KEY=, or a bad value for a key podvisor reads
 * (READY=2, MAINPID=x) is malformed: returns why, and nothing of it is to
 * be applied. Returns NULL when it is fine. */
const char *notify_parse(const char *buf, size_t len, struct notify_msg *out);

enum notify_reject { NOTIFY_MALFORMED = 0, NOTIFY_FOREIGN };
#define NOTIFY_N_REJECTS 2

struct notify;
typedef void (*notify_msg_fn)(void *ctx, pid_t sender, struct notify_msg *m);
typedef void (*notify_reject_fn)(void *ctx, enum notify_reject why, pid_t sender,
                                 const char *detail);

/** Binds a fresh abstract socket ("@podvisor-notify-<random>"). Returns
 * NULL with the cause in err. */
struct notify *notify_open(struct loop *loop, notify_msg_fn on_msg, notify_reject_fn on_reject,
                           void *ctx, char *err, size_t errlen);

/** The NOTIFY_SOCKET value for the child ("@..."). */
const char *notify_socket_name(const struct notify *n);

/** Reads and hands over every datagram queued now (before a main child's
 * exit is acted on, so a MAINPID= it sent is not lost to the race). */
void notify_drain(struct notify *n);

void notify_close(struct notify *n);

#endif
