"""An HTTP/1.1 app for bench/drain.py's stop -> exit measure. It serves
keep-alive connections; on SIGTERM it stops accepting and then, as MODE
says, keeps its open connections (holds) or closes them (closes); either
way it lingers without exiting, as an app whose shutdown waits on
something (a flush, a thread that never ends), until SIGKILL.

usage: drain_app.py holds|closes PORT"""
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE, PORT = sys.argv[1], int(sys.argv[2])
open_conns = set()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with lock:
            open_conns.add(self.connection)

    def finish(self):
        super().finish()
        with lock:
            open_conns.discard(self.connection)

    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


srv = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
srv.daemon_threads = True


def on_term(sig, frame):
    threading.Thread(target=stop, daemon=True).start()


def stop():
    srv.shutdown()
    srv.server_close()
    if MODE == "closes":
        with lock:
            for c in list(open_conns):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


signal.signal(signal.SIGTERM, on_term)
threading.Thread(target=srv.serve_forever, daemon=True).start()
while True:  # lingers: only SIGKILL ends it
    time.sleep(3600)
