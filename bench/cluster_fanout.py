"""Cluster fan-out benchmark: reference-server clusters against Node twin clusters (not a test).

For each size in ``--nodes`` (default 1, 2, 3), an embedded cluster of that many Python
reference nodes and one of as many Node twin nodes (official socket.io on
``@socket.io/redis-adapter``), each started ONLY through :class:`wsbench.launch.cluster.Cluster`
(Debian's redis-server + the nodes; no balancer: clients connect to the node URLs). The kinds
alternate (python, node, python, node, ...) ``--rounds`` times per size, so that the noise of
a shared machine falls on both.

Load, in this process (uvloop): ``--clients`` wsbench clients (:class:`ClientPool`, websocket)
spread round-robin over the nodes, all in ``/``; a sender, client 0 (on node 0), emits
``broadcast all`` at ``--rate``/s open-loop, each payload stamped with its intended send time
(``io.emit``: every socket of every node receives one copy, so the Redis adapter carries every
broadcast to the other nodes). Each payload also carries its phase (warm-up or window), so
a late warm-up copy is never counted in the window; the window starts once every copy of the
1 s warm-up arrived (or 3 s x ``WSBENCH_TIMEOUT_FACTOR`` passed). Measured per run, over a
``--seconds`` window:

* deliveries per server CPU-second: the deliveries counted by the clients over the CPU
  (user + system, psutil) summed over the node processes; Redis CPU is reported separately
  and not in the denominator;
* whether every delivery arrived (waits for the missing ones up to 3 s x
  ``WSBENCH_TIMEOUT_FACTOR`` after the last send);
* delivery latency p50/p99 of same-node recipients (on node 0, the sender's) and other-node
  recipients, and the adapter lag = other-node minus same-node p50/p99. One load process
  reads every socket, so the lag includes its own queueing: copies for node 0's sockets
  arrive first and are read first (an upper bound on the adapter's own lag);
* copies beyond one per socket per broadcast (``extra``: duplicates).

The table ends with the median over rounds of python / node per size. Not a test.

    python bench/cluster_fanout.py [--nodes 1,2,3] [--rounds 2] [--clients 1000] [--rate 25]
                                   [--seconds 8] [--kinds python,node] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time

import psutil

from wsbench.client import ClientPool
from wsbench.client.loop import run
from wsbench.launch.cluster import Cluster, ClusterSpec

KINDS = ("python", "node")
DRAIN_S = 3.0
NODE_ARGS = ("--app-heartbeat-interval", "0")  # no application traffic but the broadcasts


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def percentile(sorted_ns: list[int], q: float) -> float:
    """The ``q`` quantile of sorted nanoseconds, in ms (NaN when empty)."""
    if not sorted_ns:
        return float("nan")
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1e6


class Load:
    """The clients of one run: per-node pools, counters and the two latency lists."""

    def __init__(self, urls: list[str], clients: int) -> None:
        self.urls = urls
        self.n = clients
        self.received = 0
        self.same: list[int] = []  # ns, recipients on node 0 (the sender's)
        self.other: list[int] = []  # ns, recipients on other nodes
        self.record = False
        self.phase = 0  # stamped on every broadcast: 1 = warm-up, 2 = the window
        self.pools = [ClientPool(url, reconnection=False) for url in urls]
        self.sender = None

    def handler(self, node: int):
        now = time.monotonic_ns
        lats = self.same if node == 0 else self.other

        def on_event(data, *_rest) -> None:
            if data["p"] == self.phase:  # a late warm-up copy is not the window's
                self.received += 1
                if self.record:
                    lats.append(now() - data["t"])

        return on_event

    async def connect(self) -> None:
        counts = [
            self.n // len(self.urls) + (i < self.n % len(self.urls)) for i in range(len(self.urls))
        ]  # fmt: skip (round robin: node i gets these)
        for node, (pool, count) in enumerate(zip(self.pools, counts, strict=True)):
            await pool.__aenter__()
            opened = await pool.connect_many(count, concurrency=50)
            on_event = self.handler(node)
            for client in opened:
                client.socket().on("event", on_event)
        self.sender = self.pools[0].clients[0].socket()

    async def send_for(self, rate: float, seconds: float) -> int:
        start = time.monotonic_ns()
        count = int(rate * seconds)
        for i in range(count):
            intended = start + int(i * 1e9 / rate)
            delay = (intended - time.monotonic_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            self.sender.emit("broadcast all", {"data": {"t": intended, "i": i, "p": self.phase}})
        return count

    async def window(self, rate: float, seconds: float, cluster: Cluster) -> dict:
        factor = float(os.environ.get("WSBENCH_TIMEOUT_FACTOR", "1") or 1)
        self.phase, self.received = 1, 0
        warm = await self.send_for(rate, 1.0) * self.n  # warm-up, until every copy is in
        await self.drain(warm, DRAIN_S * factor)
        self.phase, self.received, self.record = 2, 0, True
        self.same.clear()
        self.other.clear()
        pids = cluster.pids
        redis_pid = cluster.redis.pid if cluster.redis is not None else None
        cpu0 = [cpu_s(pid) for pid in pids]
        redis0 = cpu_s(redis_pid) if redis_pid else 0.0
        t0 = time.monotonic()
        sent = await self.send_for(rate, seconds)
        expected = sent * self.n
        await self.drain(expected, DRAIN_S * factor)
        cpu1 = [cpu_s(pid) for pid in pids]
        redis1 = cpu_s(redis_pid) if redis_pid else 0.0
        wall = time.monotonic() - t0
        self.record = False
        per_node = [round(b - a, 3) for a, b in zip(cpu0, cpu1, strict=True)]
        server_cpu = sum(per_node)
        same, other = sorted(self.same), sorted(self.other)
        row = {
            "sent": sent, "expected": expected, "received": self.received,
            "all_delivered": self.received >= expected,
            "extra": max(0, self.received - expected),  # duplicates: io.emit sends one each
            "server_cpu_s": round(server_cpu, 3), "node_cpu_s": per_node,
            "redis_cpu_s": round(redis1 - redis0, 3), "wall_s": round(wall, 2),
            "deliveries_per_cpu_s": round(self.received / max(server_cpu, 1e-9)),
            "same_p50_ms": round(percentile(same, 0.5), 2),
            "same_p99_ms": round(percentile(same, 0.99), 2),
            "other_p50_ms": round(percentile(other, 0.5), 2),
            "other_p99_ms": round(percentile(other, 0.99), 2),
        }  # fmt: skip
        if other:
            row["lag_p50_ms"] = round(row["other_p50_ms"] - row["same_p50_ms"], 2)
            row["lag_p99_ms"] = round(row["other_p99_ms"] - row["same_p99_ms"], 2)
        return row

    async def drain(self, expected: int, seconds: float) -> None:
        """Until ``expected`` copies of this phase arrived, at most ``seconds``."""
        deadline = time.monotonic() + seconds
        while self.received < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        for pool in self.pools:
            await pool.close()


async def bench_cluster(kind: str, nodes: int, args: argparse.Namespace) -> dict:
    spec = ClusterSpec.of(nodes, kind, args=NODE_ARGS, balancer=False)
    cluster = Cluster(spec)
    try:
        await asyncio.to_thread(cluster.start)
        load = Load(cluster.node_urls, args.clients)
        try:
            t = time.monotonic()
            await load.connect()
            connect_s = round(time.monotonic() - t, 2)
            row = await load.window(args.rate, args.seconds, cluster)
        finally:
            await load.close()
        return {"kind": kind, "nodes": nodes, "connect_s": connect_s, **row}
    finally:
        await asyncio.to_thread(cluster.close)


def fmt_lag(row: dict) -> str:
    if "lag_p50_ms" not in row:
        return "-"
    return f"{row['lag_p50_ms']} / {row['lag_p99_ms']}"


def table(rows: list[dict], args: argparse.Namespace) -> str:
    out = [
        f"{args.clients} clients round-robin over the nodes, `broadcast all` from node 0 at "
        f"{args.rate:g}/s, {args.seconds:g} s window; server CPU = sum over the nodes",
        "",
        "| nodes | round | kind | delivered / expected | server CPU s (per node) | Redis CPU s "
        "| deliveries per server CPU-s | same-node p50/p99 ms | other-node p50/p99 ms "
        "| adapter lag p50/p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        nodes_cpu = ", ".join(f"{c:.2f}" for c in r["node_cpu_s"])
        other = "-" if r["nodes"] == 1 else f"{r['other_p50_ms']} / {r['other_p99_ms']}"
        out.append(
            f"| {r['nodes']} | {r['round']} | {r['kind']} | {r['received']:,} / {r['expected']:,} "
            f"| {r['server_cpu_s']:.2f} ({nodes_cpu}) | {r['redis_cpu_s']:.2f} "
            f"| {r['deliveries_per_cpu_s']:,} | {r['same_p50_ms']} / {r['same_p99_ms']} "
            f"| {other} | {fmt_lag(r)} |"
        )
    out.append("")
    for nodes in sorted({r["nodes"] for r in rows}):
        ratios = []
        for rnd in sorted({r["round"] for r in rows if r["nodes"] == nodes}):
            by = {r["kind"]: r for r in rows if r["nodes"] == nodes and r["round"] == rnd}
            if "python" in by and "node" in by:
                ratios.append(
                    by["python"]["deliveries_per_cpu_s"] / by["node"]["deliveries_per_cpu_s"]
                )
        if ratios:
            shown = ", ".join(f"{x:.2f}" for x in ratios)
            out.append(f"{nodes} node(s): python / node per round {shown}; "
                       f"median {statistics.median(ratios):.2f}x")  # fmt: skip
    return "\n".join(out)


async def main(args: argparse.Namespace) -> None:
    rows = []
    for nodes in args.nodes:
        for rnd in range(1, args.rounds + 1):
            for kind in args.kinds:
                row = await bench_cluster(kind, nodes, args)
                row["round"] = rnd
                rows.append(row)
                print(f"{nodes} node(s), round {rnd}, {kind}: {row['deliveries_per_cpu_s']:,} "
                      f"deliveries/server-CPU-s ({row['received']}/{row['expected']}), "
                      f"lag p50/p99 {fmt_lag(row)} ms", file=sys.stderr, flush=True)  # fmt: skip
    print(table(rows, args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )

    def sizes(text: str) -> list[int]:
        values = [int(x) for x in text.split(",") if x.strip()]
        if not values or min(values) < 1:
            raise argparse.ArgumentTypeError(f"node counts >= 1, comma-separated, not {text!r}")
        return values

    def kinds(text: str) -> list[str]:
        values = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in values if x not in KINDS]
        if not values or bad:
            raise argparse.ArgumentTypeError(f"kinds are {', '.join(KINDS)}, not {text!r}")
        return values

    ap.add_argument("--nodes", type=sizes, default=[1, 2, 3], help="cluster sizes (1,2,3)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per size (2)")
    ap.add_argument("--kinds", type=kinds, default=list(KINDS), help="python,node")
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=25, help="broadcasts per second (25)")
    ap.add_argument("--seconds", "--duration", dest="seconds", type=float, default=8,
                    help="measured window in seconds (8)")  # fmt: skip
    ap.add_argument("--json", help="also write the rows as JSON to this file")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.clients < 1 or args.rate <= 0 or args.seconds <= 0:
        ap.error("--rounds, --clients, --rate and --seconds must be positive")
    return args


if __name__ == "__main__":
    run(main(parse_args()))
