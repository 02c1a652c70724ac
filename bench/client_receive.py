"""Receive efficiency: broadcast deliveries per client-process CPU-second (not a test).

One Node socket.io 4.8 twin (websocket), N receiving clients in ONE process per
implementation, one sender emitting ``broadcast all`` R times a second for D
seconds. Each receiver process prints JSON lines (the protocol of
tests/interop/node_tools/bench_receiver.js): ``{"ready":...}`` once connected,
then ``{"done":..., "deliveries", "cpu_user_ms", "cpu_sys_ms", "rss"}`` after
the window. Implementations run one after another against the same server in
one run, and the table shows ratios.

    python bench/client_receive.py [--clients 1000] [--rate 50] [--duration 20]
                                   [--only wsbench,node,python-socketio]

Kinds: ``wsbench`` (the default transport, wsbench.client.wsprotocol),
``wsbench-aiohttp`` (``websocket_impl="aiohttp"``), ``wsbench-websockets``
(websockets' sans-I/O ClientProtocol, bench/ws_sansio.py; needs websockets),
``wsbench-picows`` (picows' Cython WebSocket, bench/ws_picows.py; needs picows),
``node`` (socket.io-client 4.8), ``python-socketio`` (AsyncClient).
``KIND@DIR`` runs a wsbench kind from another checkout (``PYTHONPATH=DIR``), e.g.
a ``git worktree`` of the commit before a change, to compare them side by side:
``--only wsbench@/tmp/base,wsbench,wsbench@/tmp/base,wsbench``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path

from wsbench.launch import Server, node_twin

ROOT = Path(__file__).resolve().parent.parent
NODE_RECEIVER = ROOT / "tests" / "interop" / "node_tools" / "bench_receiver.js"


def cpu_ms() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime * 1000, r.ru_stime * 1000


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def emit_line(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def window(duration: float, count: list[int], connected: int) -> None:
    """Print cumulative samples every second since ready, like bench_receiver.js."""
    emit_line({"ready": True, "connected": connected})
    count[0] = 0
    u0, s0 = cpu_ms()
    t0 = time.monotonic()

    def sample() -> dict:
        u1, s1 = cpu_ms()
        return {
            "t": time.monotonic() - t0,
            "deliveries": count[0],
            "cpu_user_ms": u1 - u0,
            "cpu_sys_ms": s1 - s0,
            "rss": rss(),
            "connected": connected,
        }

    for _ in range(int(duration)):
        await asyncio.sleep(t0 + _ + 1 - time.monotonic())
        emit_line(sample())
    emit_line({"done": True, **sample()})


async def receive_wsbench(url: str, clients: int, duration: float, impl: str = "asyncio") -> None:
    from wsbench.client import ClientPool

    count = [0]

    def on_event(*_args: object) -> None:
        count[0] += 1

    if impl in ("websockets", "picows"):
        sys.path.insert(0, str(ROOT / "bench"))
        if impl == "websockets":
            from ws_sansio import install
        else:
            from ws_picows import install

        install()
        impl = "asyncio"
    async with ClientPool(url, reconnection=False, websocket_impl=impl) as pool:
        opened = await pool.connect_many(clients, concurrency=50)
        for c in opened:
            c.socket().on("event", on_event)
        await window(duration, count, len(opened))
        os._exit(0)  # the window is what we measure; skip the orderly teardown


async def receive_python_socketio(url: str, clients: int, duration: float) -> None:
    import socketio

    count = [0]

    def on_event(*_args: object) -> None:
        count[0] += 1

    sios = []

    async def one() -> None:
        sio = socketio.AsyncClient(reconnection=False)
        sio.on("event", on_event)
        await sio.connect(url, transports=["websocket"], wait_timeout=30)
        sios.append(sio)

    for i in range(0, clients, 50):
        await asyncio.gather(*(one() for _ in range(min(50, clients - i))))
    await window(duration, count, len(sios))
    os._exit(0)


def start_twin() -> tuple[Server, str]:
    """The Node twin on a free loopback port, through wsbench's one launcher."""
    twin = Server(node_twin("--app-heartbeat-interval", "0"))
    return twin, twin.start()


async def send(url: str, rate: float, duration: float) -> int:
    from wsbench.client import connect

    sent = 0
    async with connect(url, timeout=30) as c:
        sock = c.socket()
        loop = asyncio.get_running_loop()
        start = loop.time()
        while (now := loop.time()) < start + duration:
            due = int((now - start) * rate) + 1
            while sent < due:
                sock.emit("broadcast all", {"data": {"seq": sent, "t": time.time()}})
                sent += 1
            await asyncio.sleep(1 / rate)
    return sent


async def measure(kind: str, url: str, args: argparse.Namespace) -> dict:
    """Run one receiver process; the window is [warmup, warmup + duration] s after ready."""
    total = args.duration + args.warmup + 1
    role, _, checkout = kind.partition("@")  # wsbench@/tmp/base: that checkout's wsbench
    env = None
    if checkout:
        env = {**os.environ, "PYTHONPATH": str(Path(checkout).resolve())}
    if kind == "node":
        cmd = ["node", str(NODE_RECEIVER), "--url", url, "--clients", str(args.clients)]
        cmd += ["--duration", str(total)]
    else:
        cmd = [sys.executable, __file__, "--role", role, "--url", url]
        cmd += ["--clients", str(args.clients), "--duration", str(total)]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, env=env)
    assert proc.stdout is not None
    ready = json.loads(await proc.stdout.readline())
    sending = asyncio.ensure_future(send(url, args.rate, total))
    samples = []
    while True:
        line = await proc.stdout.readline()
        if not line:
            break
        obj = json.loads(line)
        samples.append(obj)
        if obj.get("done"):
            break
    await sending
    await proc.wait()

    def at(t: float) -> dict:
        return min(samples, key=lambda s: abs(s["t"] - t))

    a, b = at(args.warmup), at(args.warmup + args.duration)
    user = (b["cpu_user_ms"] - a["cpu_user_ms"]) / 1000
    cpu = user + (b["cpu_sys_ms"] - a["cpu_sys_ms"]) / 1000
    deliveries = b["deliveries"] - a["deliveries"]
    seconds = b["t"] - a["t"]
    return {
        "kind": kind,
        "connected": ready.get("connected"),
        "deliveries": deliveries,
        "offered": round(seconds * args.rate * ready.get("connected", args.clients)),
        "cpu_s": cpu,
        "user_s": user,
        "per_cpu_s": deliveries / cpu if cpu else float("nan"),
        "rss_mb": b["rss"] / 1e6,
    }


async def orchestrate(args: argparse.Namespace) -> None:
    twin, url = start_twin()
    try:
        rows = []
        for kind in args.only.split(","):
            rows.append(await measure(kind, url, args))
            await asyncio.sleep(2)  # let the server settle between runs
    finally:
        twin.stop()
        twin.close()
    base = {r["kind"]: r["per_cpu_s"] for r in rows}
    print(
        f"\n{args.clients} clients, {args.rate:g} broadcasts/s, {args.duration:g} s window, "
        f"Node twin (websocket), one process per client implementation\n"
    )
    print("| client | connected | delivered / offered | CPU s (user) | deliveries per CPU-s | RSS MB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['kind']} | {r['connected']} | {r['deliveries']} / {r['offered']} | "
            f"{r['cpu_s']:.2f} ({r['user_s']:.2f}) | {r['per_cpu_s']:,.0f} | {r['rss_mb']:.0f} |"
        )
    if "wsbench" in base:
        for other in base:
            if other != "wsbench" and base[other]:
                print(f"wsbench / {other}: {base['wsbench'] / base[other]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3, help="seconds skipped after ready")
    parser.add_argument("--only", default="wsbench,node,python-socketio")
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from wsbench.client.loop import run

    if args.role == "wsbench":
        run(receive_wsbench(args.url, args.clients, args.duration))
    elif args.role in ("wsbench-aiohttp", "wsbench-websockets", "wsbench-picows"):
        impl = args.role.split("-", 1)[1]
        run(receive_wsbench(args.url, args.clients, args.duration, impl))
    elif args.role == "python-socketio":
        run(receive_python_socketio(args.url, args.clients, args.duration))
    else:
        run(orchestrate(args))


if __name__ == "__main__":
    main()
