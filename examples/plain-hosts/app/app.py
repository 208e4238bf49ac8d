#!/usr/bin/env python3
# A tiny web app for the ssh driver's example and tests: answers every path
# with the contents of VERSION (and its release id), /health with "ok".
# Listens where cairn says: LISTEN=unix:/path (a socket) or LISTEN=host:port.
import http.server
import os
import signal
import socketserver
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "VERSION")) as f:
    VERSION = f.read().strip()
BODY = ("%s %s\n" % (VERSION, os.environ.get("CAIRN_RELEASE", "-"))).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"ok\n" if self.path == "/health" else BODY
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    # socketserver's default backlog is 5: on a unix socket a full backlog
    # refuses at once (nginx answers 502), so a busy moment would fail requests.
    request_queue_size = 128

    def get_request(self):
        conn, _ = self.socket.accept()
        return conn, ("unix", 0)


class TCPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    listen = os.environ.get("LISTEN", "127.0.0.1:8080")
    if listen.startswith("unix:"):
        path = listen[5:]
        if os.path.exists(path):
            os.unlink(path)
        server = UnixServer(path, Handler)
        os.chmod(path, 0o666)
    else:
        host, port = listen.rsplit(":", 1)
        server = TCPServer((host, int(port)), Handler)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("serving %s on %s" % (VERSION, listen), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
