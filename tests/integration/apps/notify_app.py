"""An app that speaks sd_notify as a script tells it, for podvisor's tests.

Usage: notify_app.py STEP...   where STEP is
  send:TEXT        one datagram (\\n in TEXT becomes a newline)
  sleep:SECONDS
  watchdog:N:SECS  N datagrams WATCHDOG=1, SECS apart
  env              print NOTIFY_SOCKET and WATCHDOG_USEC (one line each)
  daemon:SECS      fork a child that stays SECS (TERM ends it with 0), send
                   MAINPID=<child> and exit 0 at once, as a daemonizing app does
  await:PATH       wait until PATH exists
  helper:TEXT      a helper process sends TEXT and exits, reaped here at once
                   (what `systemd-notify --no-block` does)
  barriers:N       N helper processes in turn each send BARRIER=1 with a pipe's
                   write end and wait for it to close, then exit (systemd's
                   sd_notify_barrier), reaped here at once
  touch:PATH       create PATH
  grandchild:SECS  fork a child that forks a grandchild; both stay SECS; send
                   MAINPID=<grandchild> and print its pid (a pid podvisor
                   cannot reap: its parent lives on)
Then it sleeps until killed (SIGTERM: exits 0).
"""
import os
import signal
import socket
import sys
import time


def send(text):
    addr = os.environ["NOTIFY_SOCKET"]
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(text.encode(errors="surrogateescape"), addr)


def barrier():
    r, w = os.pipe()
    addr = os.environ["NOTIFY_SOCKET"]
    addr = "\0" + addr[1:] if addr.startswith("@") else addr
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        socket.send_fds(s, [b"BARRIER=1"], [w], address=addr)
    os.close(w)
    os.read(r, 1)   # EOF once podvisor closed its copy
    os._exit(0)


def in_helper(fn, *args):
    pid = os.fork()
    if pid == 0:
        try:
            fn(*args)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def main():
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    for step in sys.argv[1:]:
        kind, _, arg = step.partition(":")
        if kind == "send":
            send(arg.replace("\\n", "\n"))
        elif kind == "sleep":
            time.sleep(float(arg))
        elif kind == "watchdog":
            n, secs = arg.split(":")
            for _ in range(int(n)):
                send("WATCHDOG=1")
                time.sleep(float(secs))
        elif kind == "env":
            print("NOTIFY_SOCKET=" + os.environ.get("NOTIFY_SOCKET", ""), flush=True)
            print("WATCHDOG_USEC=" + os.environ.get("WATCHDOG_USEC", ""), flush=True)
        elif kind == "await":
            while not os.path.exists(arg):
                time.sleep(0.01)
        elif kind == "touch":
            open(arg, "w").close()
        elif kind == "helper":
            in_helper(send, arg.replace("\\n", "\n"))
        elif kind == "barriers":
            for _ in range(int(arg)):
                in_helper(barrier)
        elif kind == "grandchild":
            r, w = os.pipe()
            if os.fork() == 0:
                gc = os.fork()
                if gc == 0:
                    time.sleep(float(arg))
                    os._exit(0)
                os.write(w, str(gc).encode())
                time.sleep(float(arg))
                os._exit(0)
            gc = int(os.read(r, 32))
            send(f"MAINPID={gc}")
            print(f"grandchild {gc}", flush=True)
        elif kind == "daemon":
            pid = os.fork()
            if pid == 0:
                os.setsid()
                signal.signal(signal.SIGTERM, lambda *_: (print("daemon got TERM", flush=True),
                                                          os._exit(0)))
                time.sleep(float(arg))
                os._exit(3)
            send(f"MAINPID={pid}\nSTATUS=daemonized")
            os._exit(0)
    while True:
        time.sleep(60)


main()
