"""Locust users benchmark: deliveries per CPU-second of one Locust process, side by side.

Two Locust processes run at the same time against the same server and the same broadcast
stream:

* **wsbench**: ``wsbench locust`` with a scenario of N listeners plus one broadcaster that
  emits ``broadcast all`` (stamped, acked) at a fixed open-loop rate; every delivery is
  judged by the oracle and reported as a ``sio-recv`` request with its latency;
* **SocketIOUser**: N users of Locust's bundled ``locust.contrib.socketio.SocketIOUser``
  (python-socketio's client under gevent), each receiving the same broadcasts; every
  delivery is reported as a ``WSR`` request (with 0 ms, which is all it can say).

Over a measurement window after both are connected, for each process: deliveries counted
by Locust (``/stats/requests``), its CPU seconds (``/proc/<pid>/stat``), deliveries per
CPU-second, and whether it kept up with the stream. Server and both processes share the
machine, so compare the ratio. Not a test.

    python bench/locust_users.py [--clients 200] [--rate 25] [--seconds 10] [--server node|reference]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from wsbench.launch import Server, node_twin, reference_server

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

SCENARIO = """\
name: locust-bench
clients: {total}
duration: 1h
groups:
  - name: broadcaster
    count: 1
    flow:
      - connect: /
      - think: {warmup}s
      - every:
          interval: {interval}s
          steps:
            - emit: {{event: broadcast all, data: {{data: {{}}}}, ack: true,
                     expect: [{{event: event, to: all, within: 5s}}]}}
  - name: listeners
    count: {clients}
    flow:
      - connect: /
"""

LOCUSTFILE = """\
from locust import constant, task
from locust.contrib.socketio import SocketIOUser


class Listener(SocketIOUser):
    options = {"reconnection": False}
    wait_time = constant(3600)

    def on_start(self):
        self.sio.connect(self.host, transports=["websocket"], wait_timeout=30)

    @task
    def idle(self):
        pass
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/requests", timeout=5) as r:
        return json.loads(r.read())


def count(port: int, method: str, name: str) -> int:
    for row in stats(port)["stats"]:
        if row["method"] == method and row["name"] == name:
            return int(row["num_requests"])
    return 0


def start_server(kind: str) -> tuple[Server, str]:
    """The reference server or the Node twin, through wsbench's one launcher."""
    spec = node_twin if kind == "node" else reference_server
    server = Server(spec("--app-heartbeat-interval", "0"))
    return server, server.start()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(predicate, seconds: float, what: str) -> None:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=200, help="listeners per Locust process")
    ap.add_argument("--rate", type=float, default=25.0, help="broadcasts per second")
    ap.add_argument("--seconds", type=float, default=10.0, help="measurement window")
    ap.add_argument("--only", choices=("wsbench", "SocketIOUser"), help="run one side alone")
    ap.add_argument("--server", choices=("node", "reference"),
                    default="node" if shutil.which("node") else "reference")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wsbench-locust-bench-"))
    warmup = max(5.0, args.clients / 100 + 3)
    (tmp / "bench.yaml").write_text(SCENARIO.format(total=args.clients + 1, clients=args.clients,
                                                    interval=1 / args.rate, warmup=warmup))
    (tmp / "sio_locustfile.py").write_text(LOCUSTFILE)
    server, url = start_server(args.server)
    ports = {"wsbench": free_port(), "SocketIOUser": free_port()}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WSBENCH_REPORT_DIR": str(tmp / "rep")}
    common = ["--host", url, "--web-host", "127.0.0.1", "--autostart", "-r", "100"]
    procs = {
        "wsbench": subprocess.Popen(
            [sys.executable, "-m", "wsbench", "locust", str(tmp / "bench.yaml"), *common,
             "--web-port", str(ports["wsbench"]), "-u", str(args.clients + 1)],
            cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=(tmp / "wsbench.log").open("w")),
        "SocketIOUser": subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(tmp / "sio_locustfile.py"), *common,
             "--web-port", str(ports["SocketIOUser"]), "-u", str(args.clients)],
            cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=(tmp / "sio.log").open("w")),
    }
    rows = {"wsbench": ("sio-recv", "event"), "SocketIOUser": ("WSR", "event")}
    if args.only:
        for k in [k for k in procs if k != args.only]:
            stop(procs.pop(k))
    try:
        wait_until(lambda: ("wsbench" not in procs
                            or count(ports["wsbench"], "sio-connect", "/") >= args.clients + 1)
                   and ("SocketIOUser" not in procs
                        or count(ports["SocketIOUser"], "WS", "connect") >= args.clients),
                   120, "every client to connect")
        first = next(iter(procs))
        wait_until(lambda: count(ports[first], *rows[first]) > 0, 60, "the broadcasts to start")
        time.sleep(2.0)
        pids = {k: (children(p.pid) or [p.pid])[0] if k == "wsbench" else p.pid
                for k, p in procs.items()}
        before = {k: (count(ports[k], *rows[k]), cpu_seconds(pids[k])) for k in procs}
        server_cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
        time.sleep(args.seconds)
        after = {k: (count(ports[k], *rows[k]), cpu_seconds(pids[k])) for k in procs}
        elapsed, server_cpu = time.monotonic() - t0, cpu_seconds(server.pid) - server_cpu0
        view = None
        if "wsbench" in procs:
            view = json.loads(urllib.request.urlopen(
                f"http://127.0.0.1:{ports['wsbench']}/wsbench/fanout.json", timeout=5).read())
    finally:
        for p in procs.values():
            stop(p)
        server.stop(grace=15)
        server.close()
    expected = args.rate * elapsed * args.clients
    print(f"server: {args.server} ({url}), {args.clients} listeners per process, "
          f"{args.rate:g} broadcasts/s, window {elapsed:.1f} s, server CPU {server_cpu:.2f} s")
    print(f"{'load generator':<16}{'deliveries':>12}{'CPU s':>9}{'deliv/CPU-s':>14}{'kept up':>10}")
    result = {}
    for k in procs:
        got = after[k][0] - before[k][0]
        cpu = after[k][1] - before[k][1]
        result[k] = got / cpu if cpu else float("inf")
        print(f"{k:<16}{got:>12,}{cpu:>9.2f}{result[k]:>14,.0f}{got / expected:>9.1%}")
    if len(result) == 2:
        print(f"ratio wsbench / SocketIOUser: {result['wsbench'] / result['SocketIOUser']:.2f}x")
    if view is None:
        return
    lat = view["latency"]["delivery"]
    print(f"wsbench judged delivery latency p50 {lat['p50']} ms, p99 {lat['p99']} ms, "
          f"ratio {view['delivery_ratio']}, violations {view['violations_total']}; "
          "SocketIOUser reports 0 ms for every delivery")


if __name__ == "__main__":
    main()
