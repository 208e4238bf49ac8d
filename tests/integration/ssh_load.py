#!/usr/bin/env python3
"""A bounded request loop for the ssh driver's test and benchmark: THREADS
clients send GET requests (a new connection each, so nothing hides behind a
kept-alive connection) round-robin to the given addresses with a Host header,
until --requests are done or the --until file exists (or --seconds pass).
Prints one JSON line: requests, failed, the first errors, and counts by the
first word of the body (the app's version) and by body."""
import argparse
import http.client
import json
import os
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addresses", required=True, help="comma-separated IPs")
    ap.add_argument("--host", default="web.test")
    ap.add_argument("--path", default="/")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--requests", type=int, default=0)
    ap.add_argument("--until", default="")
    ap.add_argument("--seconds", type=float, default=120)
    a = ap.parse_args()
    addrs = a.addresses.split(",")
    lock = threading.Lock()
    st = {"requests": 0, "failed": 0, "errors": [], "versions": {}, "bodies": {}}
    deadline = time.time() + a.seconds
    counter = [0]

    def take():
        with lock:
            if a.requests and counter[0] >= a.requests:
                return None
            counter[0] += 1
            return counter[0]

    def worker():
        while time.time() < deadline:
            if a.until and os.path.exists(a.until):
                return
            n = take()
            if n is None:
                return
            addr = addrs[n % len(addrs)]
            try:
                c = http.client.HTTPConnection(addr, 80, timeout=10)
                c.request("GET", a.path, headers={"Host": a.host, "Connection": "close"})
                r = c.getresponse()
                body = r.read().decode(errors="replace").strip()
                c.close()
                ok = r.status == 200
                err = None if ok else "%s: HTTP %d %s" % (addr, r.status, body[:80])
            except Exception as e:  # every failure counts
                ok, body, err = False, "", "%s: %s" % (addr, e)
            with lock:
                st["requests"] += 1
                if ok:
                    v = body.split(" ")[0]
                    st["versions"][v] = st["versions"].get(v, 0) + 1
                    st["bodies"][body] = st["bodies"].get(body, 0) + 1
                else:
                    st["failed"] += 1
                    if len(st["errors"]) < 5:
                        st["errors"].append(err)

    ts = [threading.Thread(target=worker) for _ in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(json.dumps(st, sort_keys=True))


if __name__ == "__main__":
    main()
