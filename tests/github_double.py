#!/usr/bin/env python3
"""A stand-in for GitHub's REST API, for cairn's preview tests: deployments,
deployment statuses, commit statuses and pull requests, answered in GitHub's
format (ids, 201 on create), every call recorded as a line of JSON in a file. Control
calls under /_control switch it to answer 500 or to be down (close the
connection without an answer), and set the state of pull requests.

usage: github_double.py --record FILE --port-file FILE [--token T] [--port N]
"""
import argparse
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
state = {"mode": "ok", "pulls": {}, "next_id": 1000}
args = None


def record(entry):
    # One JSON object per line: appending stays cheap however many calls come.
    with open(args.record, "a") as f:
        f.write(json.dumps(entry) + "\n")


def next_id():
    state["next_id"] += 1
    return state["next_id"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):  # quiet: the record file is the log
        pass

    def handle(self):
        # A client that gave up (timeout) is not an error of the double.
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def answer(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return {"_unparsed": raw.decode(errors="replace")}

    def handle_any(self, method):
        body = self.body()
        path = self.path.split("?")[0]
        with lock:
            if path.startswith("/_control"):
                return self.control(path, body)
            mode = state["mode"]
            if mode == "down":
                # No answer at all: the client sees the connection closed.
                self.close_connection = True
                return
            auth = self.headers.get("Authorization") or ""
            record({"method": method, "path": path, "body": body,
                    "authorized": auth == "Bearer " + args.token if args.token else True,
                    "mode": mode})
            if mode == "500":
                return self.answer(500, {"message": "Server Error"})
            if args.token and auth != "Bearer " + args.token:
                return self.answer(401, {"message": "Bad credentials",
                                         "documentation_url": "https://docs.github.com/rest"})
            return self.api(method, path, body or {})

    def control(self, path, body):
        if path == "/_control/mode":
            state["mode"] = body["mode"]
        elif path == "/_control/pull":
            state["pulls"]["%s#%d" % (body["repo"], body["number"])] = body["state"]
        elif path == "/_control/reset":
            with open(args.record, "w"):
                pass
        return self.answer(200, {"mode": state["mode"]})

    def api(self, method, path, body):
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/deployments", path)
        if m and method == "POST":
            for k in ("ref", "environment"):
                if k not in body:
                    return self.answer(422, {"message": "Invalid request: %s missing" % k})
            i = next_id()
            return self.answer(201, {
                "id": i, "node_id": "DE_%d" % i, "sha": body["ref"], "ref": body["ref"],
                "task": "deploy", "environment": body["environment"],
                "transient_environment": body.get("transient_environment", False),
                "url": "https://api.github.com/repos/%s/%s/deployments/%d" % (m[1], m[2], i),
                "payload": body.get("payload", {}), "description": body.get("description")})
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/deployments/(\d+)/statuses", path)
        if m and method == "POST":
            if body.get("state") not in ("error", "failure", "inactive", "in_progress",
                                         "queued", "pending", "success"):
                return self.answer(422, {"message": "Invalid state"})
            i = next_id()
            return self.answer(201, {"id": i, "state": body["state"],
                                     "environment_url": body.get("environment_url", ""),
                                     "log_url": body.get("log_url", ""),
                                     "description": body.get("description", "")})
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/statuses/([0-9a-f]{7,64})", path)
        if m and method == "POST":
            if body.get("state") not in ("error", "failure", "pending", "success"):
                return self.answer(422, {"message": "Invalid state"})
            i = next_id()
            return self.answer(201, {"id": i, "state": body["state"],
                                     "target_url": body.get("target_url"),
                                     "description": body.get("description"),
                                     "context": body.get("context", "default")})
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/pulls/(\d+)", path)
        if m and method == "GET":
            key = "%s/%s#%s" % (m[1], m[2], m[3])
            st = state["pulls"].get(key, "open")
            if st == "missing":
                return self.answer(404, {"message": "Not Found"})
            return self.answer(200, {"number": int(m[3]), "state": st,
                                     "merged": False, "head": {"sha": "0" * 40}})
        return self.answer(404, {"message": "Not Found",
                                 "documentation_url": "https://docs.github.com/rest"})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--record", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token", default="")
    args = p.parse_args()
    with open(args.record, "w"):
        pass
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
