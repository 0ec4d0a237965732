"""A small HTTP app that drains properly: on SIGTERM it stops accepting,
finishes every request in flight, then exits 0. Each request takes WORK s.

With LISTEN_FDS=1 and LISTEN_PID its own pid (podvisor --socket, systemd
socket activation) it serves the inherited fd 3 instead of binding PORT.

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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        time.sleep(WORK)
        body = b"ok\n"
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
while not stop.wait(0.05):
    pass
srv.shutdown()       # no new connections are accepted from here on
srv.server_close()   # closes the listener, waits for requests in flight
worker.join()
print("app: drained", flush=True)
