#!/usr/bin/env python3
"""tests/agent/scheduler.py: a scheduler in the seed's style, python3 stdlib only.

Starts N programs on a host with `ssh HOST chaperone agent < program.json`, then learns every
outcome from callbacks alone: it serves http://127.0.0.1:PORT/jobs/<i>/output/<stream> and
.../completed itself and never asks the host again. Exits 0 when every job's output and
outcome arrived exactly as expected, else prints what is wrong and exits 1.

usage: scheduler.py --chaperone PATH --count N -- SSH_ARGV... (ending in user@host)
"""
import argparse
import concurrent.futures
import http.server
import json
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse

lock = threading.Condition()
outputs = {}    # (job, stream) -> bytearray
completed = {}  # job -> [state objects]
problems = []
token = secrets.token_urlsafe(24)


class Callbacks(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *unused):
        pass

    def reply(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Authorization") != "Bearer " + token:
            self.reply(401)
            return
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")  # jobs/<i>/output/<stream> | jobs/<i>/completed
        job = int(parts[1])
        with lock:
            if parts[2] == "output":
                offset = int(urllib.parse.parse_qs(url.query)["offset"][0])
                have = outputs.setdefault((job, parts[3]), bytearray())
                if offset > len(have):
                    problems.append(f"job {job} {parts[3]}: gap at {offset}, have {len(have)}")
                    self.reply(409)
                    return
                have += body[len(have) - offset:]
            else:
                completed.setdefault(job, []).append(json.loads(body))
                lock.notify_all()
        self.reply(200)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chaperone", required=True)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--deadline", type=float, default=120)
    parser.add_argument("ssh", nargs="+")
    args = parser.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Callbacks)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    def start(job):
        program = {
            "program": {
                "argv": ["sh", "-c", 'echo "job $1"; echo "err $1" >&2; exit $(($1 % 7))', "sh", str(job)],
                "cwd": "/tmp",
                "env": {"JOB": str(job)},
                "stdin": None,
            },
            "callback": {"url": f"http://127.0.0.1:{port}/jobs/{job}", "method": "POST", "token": token},
            "config": {"retry_frequency": 0.5, "timeout": 600, "output_buffer": 65536, "output_latency": 0.2},
        }
        done = subprocess.run(args.ssh + [args.chaperone, "agent"], input=json.dumps(program).encode(),
                              capture_output=True, timeout=60)
        if done.returncode != 0:
            return job, None, f"exit {done.returncode}: {done.stderr.decode(errors='replace')}"
        return job, json.loads(done.stdout), None

    started = time.monotonic()
    states = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for job, state, error in pool.map(start, range(args.count)):
            if error:
                problems.append(f"job {job}: agent failed: {error}")
            elif state.get("state") not in ("running", "exited") or not state.get("proc_id"):
                problems.append(f"job {job}: unexpected first state {state}")
            else:
                states[job] = state
    launched = time.monotonic()

    with lock:
        lock.wait_for(lambda: len(completed) == args.count,
                      timeout=max(0, args.deadline - (time.monotonic() - started)))
    collected = time.monotonic()

    with lock:
        for job in range(args.count):
            got = completed.get(job, [])
            if len(got) != 1:
                problems.append(f"job {job}: {len(got)} completed callbacks")
                continue
            outcome = got[0]
            if job in states and outcome.get("proc_id") != states[job]["proc_id"]:
                problems.append(f"job {job}: proc_id {outcome.get('proc_id')} != {states[job]['proc_id']}")
            if outcome.get("return_code") != job % 7 or outcome.get("state") != "exited":
                problems.append(f"job {job}: outcome {outcome.get('state')} {outcome.get('return_code')}")
            if bytes(outputs.get((job, "stdout"), b"")) != f"job {job}\n".encode():
                problems.append(f"job {job}: stdout {bytes(outputs.get((job, 'stdout'), b''))!r}")
            if bytes(outputs.get((job, "stderr"), b"")) != f"err {job}\n".encode():
                problems.append(f"job {job}: stderr {bytes(outputs.get((job, 'stderr'), b''))!r}")
    print(json.dumps({"jobs": args.count, "launch_seconds": round(launched - started, 3),
                      "all_outcomes_seconds": round(collected - started, 3),
                      "problems": len(problems)}))
    for problem in problems[:20]:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
