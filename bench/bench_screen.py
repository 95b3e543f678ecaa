"""Screening latency of the real server: ``xpg serve`` on loopback, ``POST /v1/screen``.

Starts ``xpg serve --data DIR`` (the in-memory backend, or ``--backend neo4j`` over a
loaded database; ``--state DIR``: from a stored state) for the old server (another
checkout's ``xpg``, one process, as it serves by default) and the new one (this checkout,
``--workers N``), one after the other in the same run, waits for ``/health``, then drives
``POST /v1/screen`` from 1, 8 and 32 client threads (one keep-alive connection each) with
a mix of applicants: the ``screening`` probes of the data's ``truth.json`` (high,
elevated, clear) and random devices and phones of the data (most of them clear), each
request one applicant of one to three identifiers. Prints, per server and concurrency:
requests, p50/p95/p99 latency (ms), requests/s, the server's CPU seconds (every process
of it) and CPU milliseconds per request (the figure to compare on a shared machine), with
the load average; then the new/old ratios.

One command, 1,000,000 users from the stored state:

    .venv/bin/xpg state build --data /work/perfdata/1m --out /tmp/latency/state-1m
    .venv/bin/python bench/bench_screen.py --data /work/perfdata/1m --state /tmp/latency/state-1m

Options: ``--old PATH`` (default ``/work/main/.venv/bin/xpg``), ``--skip-old``,
``--workers N`` (default 2), ``--requests N`` per concurrency, ``--clients 1,8,32``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import polars as pl

XPG = str(Path(sys.executable).with_name("xpg"))
OLD = "/work/main/.venv/bin/xpg"
KEY = "bench-screen-key-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of the live processes of a process group (Linux /proc):
    the server and its workers."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _applicants(data: Path, n: int, seed: int) -> list[dict]:
    """The probes of truth.json, then random devices and phones of the data."""
    rng = random.Random(seed)
    out: list[dict] = []
    truth = data / "truth.json"
    if truth.is_file():
        out += [p["given"] for p in json.loads(truth.read_text("utf-8")).get("screening", [])]
    devices = pl.read_parquet(data / "devices.parquet", columns=["device_id"]).get_column(
        "device_id").sample(n, with_replacement=True, seed=seed).to_list()
    idents = pl.read_parquet(data / "identifiers.parquet", columns=["kind", "value"])
    phones = idents.filter(pl.col("kind") == "phone").get_column("value").sample(
        n, with_replacement=True, seed=seed + 1).to_list()
    for i in range(n):
        given: dict = {"device_id": devices[i]}
        if rng.random() < 0.7:
            given["phone"] = phones[i]
        if rng.random() < 0.2:
            given["device_id"] = [devices[i], devices[(i * 7919) % n]]
        out.append(given)
    return out


class _Client:
    """One keep-alive HTTP/1.1 connection that sends prepared requests and reads each
    answer by its ``Content-Length``: a few microseconds of Python per request, so that
    the latencies are the server's (``http.client`` parses every answer's headers with
    the email package: about 0.1 ms a request, and 32 client threads contend for the
    interpreter on the same two cores as the server)."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def ask(self, request: bytes) -> tuple[int, bytes]:
        self.sock.sendall(request)
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._more()
        head, self.buf = self.buf[:end].decode("latin-1"), self.buf[end + 4:]
        status = int(head.split(" ", 2)[1])
        length = next((int(line.split(":", 1)[1]) for line in head.split("\r\n")[1:]
                       if line[:15].lower() == "content-length:"), None)
        if length is None:
            raise OSError(f"an answer without Content-Length: {head[:200]!r}")
        while len(self.buf) < length:
            self._more()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, body

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise OSError("the server closed the connection")
        self.buf += chunk

    def close(self) -> None:
        self.sock.close()


class _HttpLib:
    """The same over ``http.client`` (``BENCH_CLIENT=http.client``: the client this
    bench used before, to compare)."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def ask(self, request: bytes) -> tuple[int, bytes]:
        body = request.split(b"\r\n\r\n", 1)[1]
        self.conn.request("POST", "/v1/screen", body=body, headers={
            "Content-Type": "application/json", "X-API-Key": KEY})
        r = self.conn.getresponse()
        return r.status, r.read()

    def close(self) -> None:
        self.conn.close()


def _request(body: bytes) -> bytes:
    return (b"POST /v1/screen HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nX-API-Key: " + KEY.encode() +
            b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def _drive(port: int, bodies: list[bytes], clients: int) -> tuple[list[float], float, int]:
    """Latencies (s) of every request, the wall time, and the non-200 answers."""
    latencies: list[float] = []
    errors = [0]
    first: list[str] = []
    lock = threading.Lock()
    per = [[_request(b) for b in bodies[i::clients]] for i in range(clients)]
    connect = _HttpLib if os.environ.get("BENCH_CLIENT") == "http.client" else _Client

    def run(mine: list[bytes]) -> None:
        conn = connect(port)
        local = []
        bad = 0
        for request in mine:
            t = time.perf_counter()
            try:
                status, text = conn.ask(request)
            except OSError as e:
                bad += 1
                first.append(repr(e))
                conn.close()
                conn = connect(port)
                continue
            local.append(time.perf_counter() - t)
            if status != 200:
                bad += 1
                first.append(f"{status} {text[:200]!r}")
        conn.close()
        with lock:
            latencies.extend(local)
            errors[0] += bad

    threads = [threading.Thread(target=run, args=(m,)) for m in per]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if first:
        print(f"first error: {first[0]}", file=sys.stderr)
    return latencies, time.perf_counter() - start, errors[0]


def _wait(port: int, proc: subprocess.Popen, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"xpg serve exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit("xpg serve did not answer /health in time")


def _serve(name: str, exe: str, args: argparse.Namespace, extra: list[str],
           bodies_of: list) -> list[dict]:
    """Start one server, drive it at each concurrency, stop it: the rows."""
    port = _free_port()
    cmd = [exe, "serve", "--port", str(port), "--rate-limit", str(10**9), *extra]
    if args.backend:
        cmd += ["--backend", args.backend]
    if args.backend != "neo4j":
        cmd += ["--data", str(args.data)]
    if args.state:
        cmd += ["--state", str(args.state)]
    env = {**os.environ, "XPG_API_KEY": KEY}
    started = time.perf_counter()
    # its stderr (an access-log line per request) to a file: a pipe nobody reads fills
    # after some thousand lines and then blocks the server's workers mid-request
    log = tempfile.TemporaryFile()  # noqa: SIM115 (open while the server runs)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log,
                            start_new_session=True)
    rows = []
    try:
        _wait(port, proc, args.start_timeout)
        ready = time.perf_counter() - started
        if not bodies_of:
            bodies_of.append([json.dumps(a).encode() for a in _applicants(
                args.data, args.requests, args.seed)])
        bodies = bodies_of[0]
        # warm-up: every code path once
        _drive(port, bodies[:50], 1)
        print(f"# {name}: {' '.join(cmd[1:2] + extra)} ready in {ready:.1f} s; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        print(f"{'server':>6} {'clients':>7} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} "
              f"{'p99 ms':>8} {'req/s':>8} {'server CPU s':>12} {'CPU ms/req':>10} "
              f"{'load1':>5} {'errors':>6}", flush=True)
        for clients in (int(c) for c in args.clients.split(",")):
            cpu = _cpu_seconds(proc.pid)
            lat, wall, errors = _drive(port, bodies[: args.requests], clients)
            cpu = _cpu_seconds(proc.pid) - cpu
            q = statistics.quantiles([x * 1000 for x in lat], n=100)
            row = {"server": name, "clients": clients, "requests": len(lat),
                   "p50_ms": round(q[49], 2), "p95_ms": round(q[94], 2),
                   "p99_ms": round(q[98], 2), "rps": round(len(lat) / wall, 1),
                   "server_cpu_s": round(cpu, 2),
                   "cpu_ms_per_request": round(cpu / max(len(lat), 1) * 1000, 2),
                   "wall_s": round(wall, 2), "errors": errors,
                   "load1": round(os.getloadavg()[0], 2)}
            rows.append(row)
            print(f"{name:>6} {clients:>7} {row['requests']:>8} {row['p50_ms']:>8} "
                  f"{row['p95_ms']:>8} {row['p99_ms']:>8} {row['rps']:>8} "
                  f"{row['server_cpu_s']:>12} {row['cpu_ms_per_request']:>10} "
                  f"{row['load1']:>5} {errors:>6}", flush=True)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--state", type=Path, default=None, help="a stored state to answer from")
    ap.add_argument("--backend", default=None)
    ap.add_argument("--old", default=OLD, help="the old xpg (another checkout's venv)")
    ap.add_argument("--new", default=XPG, help="the new xpg (this checkout's venv)")
    ap.add_argument("--skip-old", action="store_true")
    ap.add_argument("--workers", type=int, default=2, help="workers of the new server")
    ap.add_argument("--requests", type=int, default=2000, help="per concurrency level")
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start-timeout", type=float, default=1800)
    ap.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    args = ap.parse_args()
    print(f"# data {args.data}; {os.cpu_count()} cores; load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    bodies: list = []
    old = [] if args.skip_old else _serve("old", args.old, args, [], bodies)
    new = _serve("new", args.new, args, ["--workers", str(args.workers)], bodies)
    for o, n in zip(old, new, strict=False):
        print(f"ratio new/old at {n['clients']:2d} clients: throughput "
              f"x{n['rps'] / max(o['rps'], 1e-9):.1f}, p99 {o['p99_ms']:.0f} -> "
              f"{n['p99_ms']:.0f} ms, server CPU per request {o['cpu_ms_per_request']:.1f} -> "
              f"{n['cpu_ms_per_request']:.1f} ms")
    print(f"# load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.out:
        args.out.write_text(json.dumps({"data": str(args.data), "rows": old + new,
                                        "load": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    main()
