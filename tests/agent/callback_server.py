#!/usr/bin/env python3
"""tests/agent/callback_server.py: a scheduler's callback endpoint for the agent tests.

Serves POST/PUT <prefix>/output/stdout|stderr?offset=N and <prefix>/completed on 127.0.0.1
over HTTP or HTTPS (python3 stdlib only). Output is reassembled with append semantics:
bytes before the current length are recognised as repeats and dropped, a gap is refused
(409). Results go to DIR: <key>.stdout, <key>.stderr (the reassembled bytes), <key>.completed
(one line per accepted completed request), <key>.gaps, and requests.log (one line per
request). <key> is the path prefix with '/' replaced by '_'.

Faults: --fail-first N (500 to the first N requests), --fail-seconds S (500 for S seconds),
--hang-first N (never answer the first N requests), --down-seconds S (the port is bound at
once but refuses connections for S seconds). --port-file F gets the port once it is known.
"""
import argparse
import http.server
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse

args = None
lock = threading.Lock()
started = time.monotonic()
counts = {"requests": 0}


def key_of(prefix):
    return prefix.strip("/").replace("/", "_") or "root"


def log(line):
    with open(os.path.join(args.dir, "requests.log"), "a") as f:
        f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *unused):
        pass

    def answer(self, code, text=""):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_request(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        with lock:
            counts["requests"] += 1
            n = counts["requests"]
        if n <= args.hang_first:
            log(f"{n} {self.command} {self.path} {len(body)} hang")
            time.sleep(3600)
            return
        if n <= args.fail_first or time.monotonic() - started < args.fail_seconds:
            log(f"{n} {self.command} {self.path} {len(body)} 500")
            self.answer(500, "failing on purpose\n")
            return
        if args.token is not None and self.headers.get("Authorization") != "Bearer " + args.token:
            log(f"{n} {self.command} {self.path} {len(body)} 401")
            self.answer(401, "bad token\n")
            return
        path = url.path
        if "/output/" in path:
            prefix, stream = path.rsplit("/output/", 1)
            if stream not in ("stdout", "stderr"):
                self.answer(404)
                return
            query = urllib.parse.parse_qs(url.query)
            offset = int(query["offset"][0])
            if self.headers.get("X-Chaperone-Offset") != str(offset):
                self.answer(400, "offset header and query differ\n")
                return
            name = os.path.join(args.dir, key_of(prefix) + "." + stream)
            with lock:
                have = os.path.getsize(name) if os.path.exists(name) else 0
                if offset > have:
                    with open(os.path.join(args.dir, key_of(prefix) + ".gaps"), "a") as f:
                        f.write(f"{stream} offset {offset} but have {have}\n")
                    log(f"{n} {self.command} {self.path} {len(body)} 409")
                    self.answer(409, f"have {have}\n")
                    return
                new = body[have - offset:]
                with open(name, "ab") as f:
                    f.write(new)
            log(f"{n} {self.command} {self.path} {len(body)} 200 new={len(new)}")
            self.answer(200)
            return
        if path.endswith("/completed"):
            prefix = path[: -len("/completed")]
            with lock:
                with open(os.path.join(args.dir, key_of(prefix) + ".completed"), "ab") as f:
                    f.write(body.replace(b"\n", b" ") + b"\n")
            log(f"{n} {self.command} {self.path} {len(body)} 200")
            self.answer(200)
            return
        self.answer(404)

    do_POST = handle_request
    do_PUT = handle_request


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def server_activate(self):
        # Bound now (the port is known), listening only after --down-seconds: until then a
        # connection is refused, as with a scheduler that is down.
        if args.down_seconds > 0:
            threading.Timer(args.down_seconds, lambda: self.socket.listen(64)).start()
        else:
            self.socket.listen(64)


def main():
    global args
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--token")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--fail-seconds", type=float, default=0)
    parser.add_argument("--hang-first", type=int, default=0)
    parser.add_argument("--down-seconds", type=float, default=0)
    args = parser.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls[0], args.tls[1])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    temp = args.port_file + ".tmp"
    with open(temp, "w") as f:
        f.write(f"{port}\n")
    os.rename(temp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
