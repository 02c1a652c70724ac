"""A realistic RunSummary fixture built from a real Metrics store (no run needed)."""

from __future__ import annotations

import random

import pytest

from wsbench.metrics import Metrics, RunSummary, Target

_S = 1_000_000_000


def build_summary(
    *,
    seconds: int = 20,
    seed: int = 1,
    partial: bool = False,
    slow: float = 1.0,
    violations: int = 0,
    nodes: int = 3,
) -> RunSummary:
    """A run of ``seconds`` with delivery/ack/connect/reconnect/fan-out data; with ``nodes``
    > 1 a cluster run (same-node / other-node histograms, ``delivery.cross_node``)."""
    rng = random.Random(seed)
    m = Metrics(origin_ns=0, origin_wall=1_700_000_000.0)
    conns = 0
    for s in range(seconds):
        base = s * _S
        for _i in range(300):
            ns = int(rng.lognormvariate(15.5, 0.6) * slow)
            m.record_ns("delivery", ns)
            m.incr("deliveries")
            if nodes > 1:  # a third of the copies on the sender's node, the rest 2 ms later
                same = rng.random() < 1 / nodes
                m.record_ns("delivery.same_node" if same else "delivery.other_node",
                            ns if same else ns + 2_000_000)
        for _i in range(50):
            m.record_ns("ack", int(rng.lognormvariate(14.8, 0.5) * slow))
            m.incr("acks")
            m.incr("emits")
        m.record_ns("loop_lag", int(rng.uniform(0.2, 3) * 1e6))
        if s < 5:
            for _ in range(40):
                m.record_ns("connect", int(rng.uniform(2, 30) * 1e6))
            conns += 40
        if s == 12:
            for _ in range(30):
                m.record_ns("reconnect", int(rng.uniform(300, 1500) * 1e6))
                m.incr("reconnects")
        for label, aud in (("1", 1), ("2-10", 8), ("11-100", 60)):
            for _ in range(5):
                first = rng.uniform(1, 3) * 1e6
                m.record_ns(f"fanout.first.{label}", int(first))
                m.record_ns(f"fanout.median.{label}", int(first * (1 + aud / 50)))
                m.record_ns(f"fanout.last.{label}", int(first * (1 + aud / 20)))
        m.set_gauge("connections", conns)
        m.set_gauge("process.cpu_percent", rng.uniform(40, 90))
        m.set_gauge("server.cpu_percent", rng.uniform(30, 80))
        m.tick(base + _S)
    m.flush()
    delivery = {
        "emits": 1000,
        "open_emits": 0,
        "closed_emits": 1000,
        "expected": 6000,
        "delivered": 6000 - violations,
        "missing": violations,
        "delivery_ratio": (6000 - violations) / 6000,
        "volatile": {"expected": 100, "delivered": 97, "drops": 3, "ratio": 0.97},
        "lost_while_away": 12,
        "optional_deliveries": 4,
        "latency": {"count": 6000, "min_ms": 0.5, "mean_ms": 5.0, "max_ms": 40.0},
        "acks": {
            "expected": 1000,
            "ok": 1000,
            "timeouts": 0,
            "late": 0,
            "pending": 0,
            "latency": {"count": 1000, "min_ms": 0.4, "mean_ms": 3.0, "max_ms": 20.0},
        },
        "violations": {
            "total": violations,
            "counts": {"missing": violations} if violations else {},
            "samples": [
                {
                    "kind": "missing",
                    "stamp": "r.1.2",
                    "sender": 1,
                    "receiver": [3, "/"],
                    "namespace": "/",
                    "event": "event",
                    "audience": 8,
                    "detail": "no copy before the deadline",
                    "at_ns": 5,
                }
            ]
            if violations
            else [],
        },
        "fanout": [
            {
                "audience": "1",
                "emits": 100,
                "expected": 100,
                "delivered": 100,
                "complete_emits": 100,
                "completion": 1.0,
                "mean_first_ms": 2.0,
                "mean_median_ms": 2.0,
                "mean_last_ms": 2.0,
                "max_last_ms": 5.0,
            },
            {
                "audience": "2-10",
                "emits": 100,
                "expected": 800,
                "delivered": 800,
                "complete_emits": 100,
                "completion": 1.0,
                "mean_first_ms": 2.0,
                "mean_median_ms": 2.4,
                "mean_last_ms": 2.8,
                "max_last_ms": 9.0,
            },
            {
                "audience": "11-100",
                "emits": 100,
                "expected": 6000,
                "delivered": 6000,
                "complete_emits": 100,
                "completion": 1.0,
                "mean_first_ms": 2.0,
                "mean_median_ms": 4.4,
                "mean_last_ms": 8.0,
                "max_last_ms": 30.0,
            },
        ],
    }
    if nodes > 1:
        from wsbench.metrics import cross_node_section
        from wsbench.metrics.sections import encode

        delivery["cross_node"] = encode(cross_node_section(m, nodes))
    sections = {
        "run": {
            "clients": 200,
            "transport": "websocket",
            "seed": seed,
            "processes": 1,
            "planned_duration_s": seconds,
            "groups": {"talkers": 150, "lurkers": 50},
        },
        "delivery": delivery,
        "connections": {"attempted": 200, "connected": 200, "peak": 200, "errors": {}},
        "reconnection": {
            "reconnects": 30,
            "failed": 0,
            "lost_while_away": 12,
            "replayed": 0,
            "herd": {"bin_ms": 100, "t_ms": [0, 100, 200, 300], "count": [2, 15, 10, 3]},
        },
        "generator": {
            "cpu_percent_mean": 65.0,
            "cpu_percent_max": 90.0,
            "loop_lag_p99_ms": 2.9,
            "warnings": [],
        },
        "server": {"embedded": True, "pid": 1234, "stopped": True, "restarts": 1},
        "thresholds": [
            {
                "name": "delivery_ratio",
                "limit": ">= 1.0",
                "actual": delivery["delivery_ratio"],
                "passed": violations == 0,
                "detail": "",
            },
            {
                "name": "latency.delivery.p99",
                "limit": "<= 0.25 s",
                "actual": 0.012,
                "passed": True,
                "detail": "",
            },
        ],
        "warnings": [],
    }
    return RunSummary(
        scenario="chat",
        target=Target("http://127.0.0.1:40000", embedded=True, server="wsbench reference server"),
        started_at="2026-11-28T10:00:00.000Z",
        duration_s=float(seconds),
        exit_status=1 if violations else 0,
        metrics=m.snapshot(),
        partial=partial,
        partial_reason="interrupted (SIGINT)" if partial else None,
        sections=sections,
    )


@pytest.fixture(scope="session")
def summary() -> RunSummary:
    return build_summary()
