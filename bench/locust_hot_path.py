"""The Locust worker's receive path in-process: CPU per delivery, no sockets, no hub.

What ``bench/locust_users.py`` measures end to end, minus the kernel, gevent's hub and the
server: N listeners (:class:`~wsbench.integrations.flow.ClientFlow` over
:class:`~wsbench.integrations.wire.Connection`, the scenario of ``locust_users.py``) are
opened by feeding their Engine.IO OPEN and CONNECT packets; then, ROUNDS times, one
stamped ``broadcast all`` copy (the frame the server writes) is registered with the judge's
oracle and fed to every listener's ``_on_data`` (frame parse, session, the shell's dispatch,
the judge, Locust's batched stats), with the worker's ticker (``judge.tick``, the push
stats flush 4 times per 25 broadcasts, a drain into the aggregate every 50) in between.
Prints CPU microseconds per delivery (``time.process_time``), the ticker's share, and that
every copy was judged delivered. A measuring tool, not a test; compare trees with
``PYTHONPATH=<tree> python bench/locust_hot_path.py``.

    python bench/locust_hot_path.py [--listeners 200] [--rounds 500]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from wsbench.integrations import locust as L  # noqa: I001 - first: gevent's monkey patching
from wsbench.integrations.flow import ClientFlow
from wsbench.integrations.judge import Judge
from wsbench.metrics import now_ns
from wsbench.oracle import Semantics, Stamp
from wsbench.protocol.websocket import DEFAULT_MAX_SIZE, FrameParser, frame_encoder
from wsbench.scenario import load_scenario

SCENARIO = """\
name: hot-path
clients: {total}
duration: 1h
groups:
  - name: broadcaster
    count: 1
    flow:
      - connect: /
  - name: listeners
    count: {listeners}
    flow:
      - connect: /
"""
OPEN = '0{{"sid":"e{}","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}}'


class _Events:  # what the integration's report() touches of a Locust environment
    class events:  # noqa: N801
        class request:  # noqa: N801
            @staticmethod
            def fire(**_: object) -> None:
                return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listeners", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=500)
    args = ap.parse_args()
    import locust.stats

    path = Path(tempfile.mkdtemp(prefix="wsbench-hot-")) / "hot.yaml"
    path.write_text(SCENARIO.format(total=args.listeners + 1, listeners=args.listeners))
    scenario = load_scenario(path)
    judge = Judge("r1", L._report)
    judge.judged_events.add("event")
    L.state.environment = _Events
    runtime = L.GeventRuntime()
    conns = []
    for k in range(args.listeners):
        flow = ClientFlow(scenario, scenario.groups[1], judge, runtime, "http://127.0.0.1:1")
        conn = flow.conn = flow._new_connection(5)
        conn.session.receive_message(OPEN.format(k), time.monotonic())
        conn.session.connect("/")
        conn.session.messages_to_send()
        conn._frames = FrameParser(conn._on_message, lambda _: None, DEFAULT_MAX_SIZE)
        conn._on_message(f'40{{"sid":"s{k}"}}')
        conn._dispatch(now_ns())
        conns.append(conn)
    sender = judge.new_client()
    judge.oracle.membership.connected(sender, "/", "sender", now_ns())
    encode = frame_encoder(None)
    stats = locust.stats.RequestStats()

    def broadcast(seq: int) -> None:
        sent = now_ns()
        stamp = Stamp.new("r1", sender, seq, sent)
        judge.oracle.expect_emit(stamp, sender, "/", Semantics.OTHERS,
                                 deadline_ns=sent + 5_000_000_000, event="event")
        text = "42" + json.dumps(["event", {"_wsb": stamp.to_json()}], separators=(",", ":"))
        frame = encode(1, text.encode())
        for conn in conns:
            conn._on_data(conn._frames, frame)

    for seq in range(50):  # warm up
        broadcast(seq)
    start, ticker = time.process_time(), 0.0
    for seq in range(50, 50 + args.rounds):
        broadcast(seq)
        if seq % 6 == 0 or seq % 50 == 0:  # 4 ticks per second at 25 broadcasts/s
            t0 = time.process_time()
            judge.tick(now_ns())
            L.pushes.flush(stats)
            if seq % 50 == 0:  # a drain every 2 s
                L.state.aggregate.add(judge.drain(now_ns(), encode=False))  # as the ticker
            ticker += time.process_time() - t0
    cpu = time.process_time() - start
    n = args.rounds * args.listeners
    verdict = judge.oracle.verdict()
    print(f"{n:,} deliveries to {args.listeners} listeners: {cpu / n * 1e6:.2f} us CPU each "
          f"(ticker {ticker / n * 1e6:.2f} us of it); judged delivered "
          f"{verdict.delivered:,} of {verdict.expected:,}, violations {verdict.violations.total}")


if __name__ == "__main__":
    main()
