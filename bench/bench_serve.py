"""Load bench of ``xpg serve``: the old server and the new one, driven the same way in one run.

Bounded and loopback only: each server is started as ``xpg serve`` in a subprocess on
127.0.0.1 (its own process group, stopped at the end), then driven for ``--seconds`` at
each client count with the mix 40% user (``hops=1``), 30% ring, 30% finding requests on
real ids (users drawn from every user of the data, rings and findings from the server's
own findings), after ``--warmup`` requests that are not measured. Each client is one
keep-alive HTTP/1.1 connection sending its next request as soon as the last answer arrived.
Prints requests/s, p50/p95/p99/max latency, the answers that were not 200, the CPU
seconds the server's processes used and the CPU milliseconds per request (the figure to
compare on a shared machine), and the load average, per server and client count, then
the new/old ratios.

One command (old = the one-process server of another checkout, new = this checkout with
``--workers 2``):

    .venv/bin/xpg generate --users 100000 --seed 3 --shape mixed --out /tmp/latency/100k
    .venv/bin/python bench/bench_serve.py --data /tmp/latency/100k

Options: ``--old /path/to/other/.venv/bin/xpg`` (default ``/work/main/.venv/bin/xpg``),
``--workers N`` (the new server's), ``--old-workers N`` (the old server's, default 1: an
old xpg may not know the flag; give 2 to compare two servers of the same shape),
``--seconds S`` per client count, ``--clients 1,8,32``, ``--skip-old``,
``--state DIR`` (both servers answer from a stored state, ``xpg state build``). Without
``--data`` it generates the same 100,000 users into a temporary folder first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

KEY = "bench-key-0123456789abcdef"
HERE = Path(__file__).resolve().parent.parent
NEW = HERE / ".venv" / "bin" / "xpg"
OLD = Path("/work/main/.venv/bin/xpg")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_pids(pgid: int) -> list[int]:
    """The live processes of a process group."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[2]) == pgid:  # field 5 (pgrp), after the name
            pids.append(int(pid))
    return pids


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) of the live processes of a process group."""
    total = 0
    for pid in group_pids(pgid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(stat[11]) + int(stat[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def group_pss_mb(pgid: int) -> float:
    """Proportional set size (MB) of a process group: shared pages counted once."""
    total = 0
    for pid in group_pids(pgid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total / 1024


class Server:
    def __init__(self, name: str, exe: Path, data: Path, extra: list[str]):
        self.name, self.port = name, free_port()
        env = {**os.environ, "XPG_API_KEY": KEY}
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (open while the server runs)
        self.proc = subprocess.Popen(
            [str(exe), "serve", "--data", str(data), "--port", str(self.port),
             "--rate-limit", "1000000000", *extra],
            env=env, stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True)

    def wait(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                sys.exit(f"{self.name} server exited: {self.log.read()[-2000:].decode()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    if s.recv(100).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        sys.exit(f"{self.name} server did not start in {timeout} s")

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


async def request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
                  ) -> tuple[int, bytes]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {KEY}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    body = await reader.readexactly(length)
    return status, body


async def fetch(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**24)
    try:
        return await request(reader, writer, path)
    finally:
        writer.close()


@dataclass
class Ids:
    users: list[str]
    rings: list[str]
    findings: list[str]

    def mix(self, rng: random.Random) -> str:
        x = rng.random()
        if x < 0.4:
            return f"/v1/users/{rng.choice(self.users)}?hops=1"
        if x < 0.7:
            return f"/v1/rings/{rng.choice(self.rings)}"
        return f"/v1/findings/{rng.choice(self.findings)}"


async def real_ids(port: int, data: Path, seed: int) -> Ids:
    import polars as pl

    found, offset = [], 0
    while True:
        status, body = await fetch(port, f"/v1/findings?limit=1000&offset={offset}")
        assert status == 200, body[:300]
        page = json.loads(body)
        found += page["findings"]
        offset += 1000
        if offset >= page["page"]["total"]:
            break
    users_file = data / "users.parquet"
    users = (pl.read_parquet(users_file, columns=["user_id"]) if users_file.exists()
             else pl.read_csv(data / "users.csv", columns=["user_id"],
                              schema_overrides={"user_id": pl.String}))
    return Ids(users=users.get_column("user_id").to_list(),
               rings=[f["id"] for f in found if f["type"] == "ring"],
               findings=[f["id"] for f in found])


@dataclass
class Level:
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    cpu: float = 0.0
    load: float = 0.0

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else float("nan")

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds


async def drive(port: int, ids: Ids, clients: int, seconds: float, seed: int,
                max_requests: int) -> Level:
    level = Level(clients, seconds)
    stop = time.perf_counter() + seconds

    async def client(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**24)
        try:
            while time.perf_counter() < stop and len(level.latencies) < max_requests:
                path = ids.mix(rng)
                t = time.perf_counter()
                status, _ = await request(reader, writer, path)
                level.latencies.append(time.perf_counter() - t)
                level.statuses[status] = level.statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    level.seconds = time.perf_counter() - started
    return level


def run_server(name: str, exe: Path, data: Path, extra: list[str], args: argparse.Namespace
               ) -> list[Level]:
    t = time.perf_counter()
    server = Server(name, exe, data, extra)
    try:
        server.wait()
        print(f"# {name}: {exe} serve {' '.join(extra)} started in "
              f"{time.perf_counter() - t:.1f} s", flush=True)
        ids = asyncio.run(real_ids(server.port, data, args.seed))
        # not measured: whatever a server builds on its first requests
        asyncio.run(drive(server.port, ids, 1, 3600, args.seed + 1, args.warmup))
        levels = []
        for clients in args.clients:
            cpu0 = group_cpu(server.proc.pid)
            level = asyncio.run(drive(server.port, ids, clients, args.seconds, args.seed,
                                      args.max_requests))
            level.cpu = group_cpu(server.proc.pid) - cpu0
            level.load = os.getloadavg()[0]
            levels.append(level)
            bad = {s: n for s, n in level.statuses.items() if s != 200}
            print(f"{name:4} clients={clients:3d} requests={len(level.latencies):6d} "
                  f"req/s={level.rate:7.1f} p50={level.pct(0.5):7.1f}ms "
                  f"p95={level.pct(0.95):7.1f}ms p99={level.pct(0.99):7.1f}ms "
                  f"max={level.pct(1.0):7.1f}ms server_cpu={level.cpu:5.1f}s "
                  f"cpu/req={level.cpu / max(len(level.latencies), 1) * 1000:5.1f}ms "
                  f"wall={level.seconds:4.1f}s load1={level.load:4.1f} not200={bad or 0}",
                  flush=True)
        print(f"# {name}: server memory (PSS, shared pages once): "
              f"{group_pss_mb(server.proc.pid):.0f} MB", flush=True)
        return levels
    finally:
        server.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, help="data folder (default: generate 100,000 users)")
    p.add_argument("--old", type=Path, default=OLD, help="the old xpg (main's venv)")
    p.add_argument("--new", type=Path, default=NEW, help="the new xpg (this checkout's venv)")
    p.add_argument("--workers", type=int, default=2, help="workers of the new server")
    p.add_argument("--old-workers", type=int, default=1,
                   help="workers of the old server (1: the flag is not passed)")
    p.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")],
                   default=[1, 8, 32])
    p.add_argument("--seconds", type=float, default=10.0, help="per client count")
    p.add_argument("--max-requests", type=int, default=50_000, help="per client count")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--warmup", type=int, default=30, help="requests before measuring")
    p.add_argument("--skip-old", action="store_true")
    p.add_argument("--state", type=Path, help="a stored state both servers answer from")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "data"
            subprocess.run([str(args.new), "generate", "--users", "100000", "--seed", "3",
                            "--shape", "mixed", "--out", str(data)], check=True,
                           stdout=subprocess.DEVNULL)
        print(f"# data {data}; {os.cpu_count()} cores; load average at start "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        both = [] if args.state is None else ["--state", str(args.state)]
        old_extra = [*both, "--workers", str(args.old_workers)] if args.old_workers > 1 else both
        old = [] if args.skip_old else run_server("old", args.old, data, old_extra, args)
        new = run_server("new", args.new, data, [*both, "--workers", str(args.workers)], args)
    for o, n in zip(old, new, strict=False):
        print(f"ratio new/old at {n.clients:2d} clients: throughput x{n.rate / o.rate:.1f}, "
              f"p99 {o.pct(0.99):.0f} -> {n.pct(0.99):.0f} ms, "
              f"server CPU per request {o.cpu / max(len(o.latencies), 1) * 1000:.1f} -> "
              f"{n.cpu / max(len(n.latencies), 1) * 1000:.1f} ms")
    print(f"# load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
