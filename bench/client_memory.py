"""Resident memory per idle wsbench client connection (not a test).

Opens N websocket clients (default 10,000) from ONE process to the Node twin running in
its own process, so the 20,000-descriptor limit splits N here and N there. Idle means
connected to ``/``, heartbeats answered, no application traffic. Prints RSS before and
after, and the difference per connection.

    python bench/client_memory.py [--clients 10000] [--settle 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from dataclasses import replace
from pathlib import Path

from wsbench.launch import Server, node_twin

ROOT = Path(__file__).resolve().parent.parent


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def main(args: argparse.Namespace) -> None:
    from wsbench.client import ClientPool

    twin = node_twin("--app-heartbeat-interval", "0", "--ping-interval", str(args.ping_interval))
    # the Node heap limit: 10,000 sockets need more than node's default
    server = Server(replace(twin, command=("node", "--max-old-space-size=4096", *twin.command[1:])))
    url = server.start()
    try:
        async with ClientPool(url, reconnection=False, timeout=60) as pool:
            # warm up imports, the HTTP session and the loop with a few clients
            await pool.connect_many(10)
            gc.collect()
            before = rss()
            t0 = time.monotonic()
            await pool.connect_many(args.clients - 10, concurrency=100)
            took = time.monotonic() - t0
            await asyncio.sleep(args.settle)  # heartbeats go by
            gc.collect()
            after = rss()
            alive = sum(1 for c in pool.clients if c.connected)
            n = args.clients - 10
            print(
                f"{args.clients} clients connected in {took:.1f} s, {alive} alive after "
                f"{args.settle:g} s of heartbeats (pingInterval {args.ping_interval} ms)"
            )
            print(
                f"RSS before {before / 1e6:.1f} MB, after {after / 1e6:.1f} MB: "
                f"{(after - before) / n / 1024:.1f} KB per idle connection",
                flush=True,
            )
            server.stop(grace=0)  # the twin waits for open sockets on SIGTERM: kill it first
            os._exit(0)  # skip closing 10,000 sockets one by one
    finally:
        server.stop(grace=0)
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--settle", type=float, default=5)
    parser.add_argument("--ping-interval", type=int, default=2000)
    from wsbench.client.loop import run

    run(main(parser.parse_args()))
