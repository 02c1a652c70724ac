"""Server fan-out benchmark: the same load against three servers, side by side.

Servers: the wsbench reference server, its Node twin (official socket.io 4.8), and a small
python-socketio server (bench/server_pysio.py). Load: N websocket clients (raw aiohttp, one
process, uvloop; lean: one reader task per connection, pings answered, one json.loads per
delivery) all in room ``doc:bench`` (``subscribe document``); client 0 emits
``broadcast room`` at a fixed open-loop rate, each payload stamped with its *intended* send
time. Measured per server:

* deliveries per server CPU-second (``/proc/<pid>/stat`` utime+stime over the window) and
  whether every delivery arrived, at the base rate (default 25 broadcasts/s);
* the highest rate (stepping up) at which all deliveries arrive with p99 latency < 50 ms.

Server and load share the machine, so compare ratios within one run. Not a test.

    python bench/server_fanout.py [--clients 1000] [--rate 25] [--seconds 8] [--servers reference,node,pysio]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path

import aiohttp
import uvloop

from wsbench.launch import Server, ServerSpec, node_twin, reference_server

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_spec(kind: str) -> ServerSpec:
    """What to start, for wsbench's one launcher (a free loopback port)."""
    if kind == "reference":
        return reference_server("--app-heartbeat-interval", "0")
    if kind == "node":
        return node_twin("--app-heartbeat-interval", "0")
    # prints the port it was given: a fixed free port, not 0
    return ServerSpec((sys.executable, str(ROOT / "bench/server_pysio.py")), port=free_port(),
                      name="python-socketio")


def context_switches(pid: int) -> tuple[int, int]:
    """The process's (voluntary, involuntary) context switches so far (/proc/<pid>/status)."""
    counts = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.endswith("ctxt_switches"):
                counts[key] = int(value)
    return counts.get("voluntary_ctxt_switches", 0), counts.get("nonvoluntary_ctxt_switches", 0)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


class Load:
    def __init__(self, url: str, clients: int) -> None:
        self.url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.n = clients
        self.received = 0
        self.latencies: list[int] = []
        self.record = False
        self.conns: list[aiohttp.ClientWebSocketResponse] = []
        self.tasks: list[asyncio.Task] = []

    async def connect_one(self, session: aiohttp.ClientSession) -> None:
        ws = await session.ws_connect(self.url, autoping=True, max_msg_size=0)
        await ws.receive()  # OPEN
        await ws.send_str("40")
        while not (await ws.receive()).data.startswith("40"):
            pass
        await ws.send_str('421["subscribe document","bench"]')
        while True:
            data = (await ws.receive()).data
            if data == "2":
                await ws.send_str("3")
            elif data.startswith("431"):
                break
        self.conns.append(ws)
        self.tasks.append(asyncio.ensure_future(self.reader(ws)))

    async def reader(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        now = time.monotonic_ns
        async for msg in ws:
            data = msg.data
            if data == "2":
                await ws.send_str("3")
            elif data.startswith('42["event"'):
                self.received += 1
                if self.record:  # the stamp, without a full json.loads: {"t":N,"i":M}
                    start = data.index('"t":') + 4
                    self.latencies.append(now() - int(data[start : data.index(",", start)]))

    async def connect(self, session: aiohttp.ClientSession) -> None:
        sem = asyncio.Semaphore(50)

        async def one() -> None:
            async with sem:
                await self.connect_one(session)

        await asyncio.gather(*(one() for _ in range(self.n)))

    async def run_rate(self, rate: float, seconds: float, pid: int) -> dict:
        sender = self.conns[0]
        interval_ns = int(1e9 / rate)
        # warm-up: one second at the rate
        await self._send_for(sender, rate, 1.0)
        await asyncio.sleep(0.3)
        self.received, self.latencies, self.record = 0, [], True
        cpu0, t0, ctx0 = cpu_seconds(pid), time.monotonic(), context_switches(pid)
        sent = await self._send_for(sender, rate, seconds)
        expected = sent * self.n
        deadline = time.monotonic() + 3.0
        while self.received < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        cpu1, t1, ctx1 = cpu_seconds(pid), time.monotonic(), context_switches(pid)
        self.record = False
        lat = sorted(self.latencies)
        p = (
            (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1e6)
            if lat
            else (lambda q: float("nan"))
        )
        return {
            "rate": rate, "sent": sent, "expected": expected, "received": self.received,
            "all_delivered": self.received >= expected, "server_cpu_s": round(cpu1 - cpu0, 3),
            "wall_s": round(t1 - t0, 2),
            "deliveries_per_cpu_s": round(self.received / max(cpu1 - cpu0, 1e-9)),
            "server_us_per_delivery": round((cpu1 - cpu0) / max(self.received, 1) * 1e6, 2),
            # the server sleeping between broadcasts (voluntary) and preempted while writing
            "server_ctx_voluntary": ctx1[0] - ctx0[0], "server_ctx_involuntary": ctx1[1] - ctx0[1],
            "p50_ms": round(p(0.5), 2), "p99_ms": round(p(0.99), 2), "max_ms": round(p(1.0), 2),
            "interval_ns": interval_ns,
        }  # fmt: skip

    async def _send_for(self, sender, rate: float, seconds: float) -> int:
        loop = asyncio.get_running_loop()
        start_ns = time.monotonic_ns()
        count = int(rate * seconds)
        for i in range(count):
            intended = start_ns + int(i * 1e9 / rate)
            delay = (intended - time.monotonic_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            payload = {"room": "doc:bench", "data": {"t": intended, "i": i}}
            await sender.send_str(
                "42" + json.dumps(["broadcast room", payload], separators=(",", ":"))
            )
        _ = loop
        return count

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for ws in self.conns:
            await ws.close()


async def bench_server(kind: str, args: argparse.Namespace) -> dict:
    server = Server(server_spec(kind))
    try:
        url = server.start()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            load = Load(url, args.clients)
            t = time.monotonic()
            await load.connect(session)
            result = {"server": kind, "connect_s": round(time.monotonic() - t, 2)}
            result["base"] = await load.run_rate(args.rate, args.seconds, server.pid)
            steps = []
            if not args.no_steps:
                for rate in args.steps:
                    step = await load.run_rate(rate, args.step_seconds, server.pid)
                    steps.append(step)
                    print(
                        f"  {kind} step {rate}/s: p99 {step['p99_ms']} ms, all={step['all_delivered']}",
                        file=sys.stderr,
                    )
                    if not step["all_delivered"] or step["p99_ms"] >= 50:
                        break
            ok = [s["rate"] for s in steps if s["all_delivered"] and s["p99_ms"] < 50]
            result["steps"] = steps
            result["max_rate_p99_under_50ms"] = max(ok) if ok else None
            await load.close()
        return result
    finally:
        server.stop(grace=5)
        server.close()


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=25)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--servers", default="reference,node,pysio")
    ap.add_argument("--steps", type=lambda s: [float(x) for x in s.split(",")],
                    default=[25, 50, 75, 100, 150, 200, 250, 300])  # fmt: skip
    ap.add_argument("--step-seconds", type=float, default=4)
    ap.add_argument("--no-steps", action="store_true")
    args = ap.parse_args()
    results = []
    for kind in args.servers.split(","):
        r = await bench_server(kind, args)
        results.append(r)
        b = r["base"]
        print(f"{kind}: {b['deliveries_per_cpu_s']} deliveries/server-CPU-s "
              f"({b['server_us_per_delivery']} us each), all={b['all_delivered']} "
              f"({b['received']}/{b['expected']}), p50 {b['p50_ms']} p99 {b['p99_ms']} ms, "
              f"max rate p99<50ms: {r['max_rate_p99_under_50ms']}", file=sys.stderr)  # fmt: skip
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    uvloop.run(main())
