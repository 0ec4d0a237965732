"""A small HTTP app that drains properly: on SIGTERM it stops accepting,
finishes every request in flight, then exits 0. Each request takes WORK s.

With LISTEN_FDS=1 and LISTEN_PID its own pid (podvisor --socket, systemd
socket activation) it serves the inherited fd 3 instead of binding PORT.

With NOTIFY_SOCKET it sends READY=1 once it serves (after STARTUP_DELAY
seconds in the environment, default 0). With APP_CONFIG=PATH it answers
with that file's content (read once, at start), and the content decides
how this generation starts: "crash..." exits 3 before serving, "hang..."
serves but never says READY=1.

usage: graceful_app.py PORT [WORK_SECONDS]"""
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
WORK = float(sys.argv[2]) if len(sys.argv) > 2 else 0.02


# BALLAST_MB: memory this app holds (a generation's footprint, for tests of
# the container's memory limit)
BALLAST = bytearray(int(os.environ.get("BALLAST_MB", "0")) << 20)
for i in range(0, len(BALLAST), 4096):
    BALLAST[i] = 1  # touched: resident, counted by the cgroup
CONFIG = None
if os.environ.get("APP_CONFIG"):
    with open(os.environ["APP_CONFIG"], "rb") as f:
        CONFIG = f.read()
    if CONFIG.startswith(b"crash"):
        time.sleep(0.3)
        sys.exit(3)
    if CONFIG.startswith(b"slow"):
        os.environ["STARTUP_DELAY"] = "1.5"


def notify(text):
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(text.encode(), addr)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        time.sleep(WORK)
        body = CONFIG if CONFIG is not None else b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = False   # server_close() waits for requests in flight
    block_on_close = True
    request_queue_size = 256


stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
if os.environ.get("LISTEN_PID") == str(os.getpid()) and os.environ.get("LISTEN_FDS") == "1":
    srv = Server(("127.0.0.1", PORT), Handler, bind_and_activate=False)
    srv.socket.close()
    srv.socket = socket.socket(fileno=3)
else:
    srv = Server(("127.0.0.1", PORT), Handler)
worker = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02})
worker.start()
print("app: listening", flush=True)
time.sleep(float(os.environ.get("STARTUP_DELAY", "0")))
if CONFIG is None or not CONFIG.startswith(b"hang"):
    notify("READY=1")
while not stop.wait(0.05):
    pass
if CONFIG is not None and CONFIG.startswith(b"stubborn"):
    time.sleep(1.5)  # a generation that takes its time to stop
srv.shutdown()       # no new connections are accepted from here on
srv.server_close()   # closes the listener, waits for requests in flight
worker.join()
print("app: drained", flush=True)
