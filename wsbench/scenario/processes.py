"""Where the clients run: this process, or ``--processes N`` spawned child processes.

Theory of operation
-------------------
:func:`wsbench.scenario.controller.drive` returns a controller with ``run()`` (drive the clients, return the
result as plain data) and ``abort(reason)`` (end early, partial). The result is the
same shape whether one process or several produced it (:func:`assemble`):

a :class:`RunResult`:

* ``metrics`` — a :class:`~wsbench.metrics.Metrics` store; with several processes,
  the exact merge of every child's snapshot, the judge's and the parent's (HDR
  histograms add bucket by bucket, per-second series align on the shared origin,
  counters and gauges sum);
* ``delivery`` — the oracle's :class:`~wsbench.oracle.OracleVerdict` mapped into the
  summary's :class:`~wsbench.metrics.Delivery` (:func:`delivery_section`);
* ``connections``, ``reconnection`` (summary types too), ``groups``, ``warnings``,
  ``limit``, ``abort_reason``, ``partitioning``.

Multi-process design (:class:`MultiProcess`): the clients are dealt round-robin to
N children (``multiprocessing``, *spawn*), so every group is spread over them; all
share one start time, one run id and one metrics origin. Children do not judge:
each journals what it saw, stamped with the system-wide monotonic clock
(:mod:`wsbench.scenario.journal`), and the parent's
:class:`~wsbench.scenario.judge.Judge` merges the journals by time and replays them
through ONE :class:`~wsbench.oracle.DeliveryOracle`, live, while the run goes on.
So a broadcast sent by a client of child A and received by clients of child B is
judged exactly as in a single process (same audience, same leaks and drops).

The parent also coordinates what a single driver does alone: the drain (children
stop their users at the end and wait for the parent's ``drained``, sent when the
judge has no open emit or pending ack any more, or when the grace period
passed); the ``restart_server`` and ``restart_redis`` faults (only the parent owns
the embedded server or cluster; for ``restart_redis`` the asking child journals the
outage window the parent answers); aborts (Ctrl-C, a dead server, a child that gave up or died: every child
is told, the result is partial); progress (children send their status every
second, the parent adds them up with the judge's rate, p99 and violations); and
the embedded server's CPU, which only the parent samples.

``peer:`` choices are made among the clients of the same child (a client only
knows its own process's sockets); everything else behaves as with one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wsbench.metrics import (
    Acks,
    Connections,
    CrossNode,
    Delivery,
    FanoutClass,
    Herd,
    Latency,
    Metrics,
    Reconnection,
    RedisRestart,
    Retries,
    Violations,
    ViolationSample,
    Volatile,
    cross_node_section,
    redis_restart_section,
    retries_section,
)
from wsbench.oracle import DeliveryOracle, OracleVerdict
from wsbench.oracle.verdict import LatencySummary
from wsbench.scenario.child import driver_parts
from wsbench.scenario.driver import Driver

__all__ = [
    "driver_result", "assemble", "delivery_section", "RunResult", "SingleProcess",
    "CLIENTS_PER_PROCESS", "choose_processes",
]

#: Clients one driver process holds at the default scenario's mix (scenarios/chat.yaml: ~10
#: deliveries/s and ~0.3 emits/s per client) with headroom: 2,000 of them used 38-44 % of a
#: core on average and 61-72 % at the peak (bench/README.md, "Main job").
CLIENTS_PER_PROCESS = 2000


@dataclass(frozen=True, slots=True)
class RunResult:
    """What the drivers and the oracle produced, before thresholds and the summary."""

    run_id: str
    metrics: Metrics
    delivery: Delivery
    groups: dict[str, int]
    connect_errors_total: int
    connections: Connections
    reconnection: Reconnection
    processes: int
    warnings: tuple[str, ...]
    limit: str | None
    abort_reason: str | None
    partitioning: str


def _latency(s: LatencySummary) -> Latency:
    return Latency(s.count, s.min_ns / 1e6, s.mean_ns / 1e6, s.max_ns / 1e6)


def delivery_section(v: OracleVerdict, metrics: Metrics | None = None) -> Delivery:
    """The oracle's verdict as the run summary's ``delivery`` section (``retries`` from the
    run's merged ``metrics`` when given; ``cross_node`` only when the sockets were on more
    than one cluster node)."""
    cluster = v.nodes > 1 and metrics is not None
    return Delivery(
        emits=v.emits,
        open_emits=v.open_emits,
        closed_emits=v.closed_emits,
        expected=v.expected,
        delivered=v.delivered,
        missing=v.missing,
        delivery_ratio=v.delivery_ratio,
        volatile=Volatile(
            v.volatile_expected, v.volatile_delivered, v.volatile_drops, v.volatile_ratio
        ),
        lost_while_away=v.lost_while_away,
        optional_deliveries=v.optional_deliveries,
        left_in_flight=v.left_in_flight,
        latency=_latency(v.latency),
        acks=Acks(
            v.acks.expected,
            v.acks.ok,
            v.acks.timeouts,
            v.acks.late,
            v.acks.pending,
            _latency(v.acks.latency),
        ),
        violations=Violations(
            v.violations.total,
            dict(v.violations.counts),
            tuple(ViolationSample(**x.to_dict()) for x in v.violations.samples),
        ),
        fanout=tuple(
            FanoutClass(
                b.label, b.emits, b.expected, b.delivered, b.complete, b.completion,
                b.mean_first_ns / 1e6, b.mean_median_ns / 1e6, b.mean_last_ns / 1e6,
                b.max_last_ns / 1e6,
            )  # fmt: skip
            for b in v.fanout
        ),
        retries=retries_section(metrics, v.retry_duplicates)
        if metrics is not None else Retries(retry_duplicates=v.retry_duplicates),
        # a cluster run (sockets on 2+ nodes): delivery latency same-node vs other-node
        cross_node=cross_node_section(metrics, v.nodes) if cluster else CrossNode(),
        redis_restart=redis_restart_section(v, metrics.origin_ns if metrics is not None else 0)
        if v.outages else RedisRestart(),
        absent=frozenset(({"cross_node"} if not cluster else set())
                         | ({"redis_restart"} if not v.outages else set())),
    )


def assemble(
    parts: list[dict[str, Any]],
    metrics: Metrics,
    verdict: OracleVerdict,
    *,
    run_id: str,
    processes: int,
    partitioning: str,
    abort_reason: str | None,
) -> RunResult:
    """The run's result from the drivers' parts (:func:`driver_parts`) and the verdict."""
    groups: dict[str, int] = {}
    errors: dict[str, int] = {}
    herd: dict[int, int] = {}
    closes: dict[str, int] = {}
    for part in parts:
        for k, v in part["groups"].items():
            groups[k] = groups.get(k, 0) + v
        for k, v in part["connect_errors"].items():
            errors[k] = errors.get(k, 0) + v
        for k, v in part["herd"].items():
            herd[k] = herd.get(k, 0) + v
        for k, v in part.get("closes", {}).items():
            closes[k] = closes.get(k, 0) + v
    peak = sum(p["peak"] for p in parts)
    if len(parts) > 1:  # the sum of per-child peaks over-counts; the merged series is exact
        series = [v for _, v in metrics.gauge_series("connections")]
        peak = int(max(series)) if series else peak
    limit = next((p["limit"] for p in parts if p["limit"]), None)
    bins = sorted(herd)
    warnings = [w for p in parts for w in p["warnings"]]
    return RunResult(
        run_id=run_id,
        metrics=metrics,
        delivery=delivery_section(verdict, metrics),
        groups=groups,
        connect_errors_total=sum(errors.values()),
        connections=Connections(
            attempted=sum(p["started"] for p in parts),
            connected=metrics.histogram("connect").count,
            peak=peak,
            errors=dict(sorted(errors.items(), key=lambda kv: -kv[1])[:20]),
            refused_as_expected=metrics.counter("connects_refused_as_expected"),
            closes=dict(sorted(closes.items(), key=lambda kv: -kv[1])),
            pending_at_end=metrics.counter("connects_pending_at_end"),
            limit=limit,
        ),
        reconnection=Reconnection(
            reconnects=sum(p["reconnects"] for p in parts),
            failed=sum(p["failed"] for p in parts),
            lost_while_away=verdict.lost_while_away,
            replayed=sum(p["replayed"] for p in parts),
            server_restarts=max((p["server_restarts"] for p in parts), default=0),
            herd=Herd(100, tuple(b * 100 for b in bins), tuple(herd[b] for b in bins)),
        ),
        processes=processes,
        warnings=tuple(dict.fromkeys(warnings)),
        limit=limit,
        abort_reason=abort_reason,
        partitioning=partitioning,
    )


def driver_result(d: Driver) -> RunResult:
    """A finished single-process driver's results as plain data (see the module docstring)."""
    oracle = d.oracle
    if not isinstance(oracle, DeliveryOracle):  # a --processes child's result is its journal
        raise TypeError(f"a single-process driver judges with a DeliveryOracle, not {oracle!r}")
    return assemble(
        [driver_parts(d)],
        d.metrics,
        oracle.verdict(),
        run_id=d.run_id,
        processes=1,
        partitioning="single process: one oracle sees every client",
        abort_reason=d.abort_reason,
    )


def choose_processes(
    requested: int | None, clients: int, cores: int | None, *, embedded: bool = False
) -> tuple[int, str]:
    """How many driver processes ``wsbench run`` uses, and why (one line to print).

    ``requested`` is ``--processes``: a number is taken as given; ``None`` (the default,
    ``--processes auto``) splits the clients only when one process would saturate AND a core
    is free for another: one process per :data:`CLIENTS_PER_PROCESS` clients, at most one
    per core not taken by the embedded server (``embedded``: it runs on this machine too).
    Splitting costs CPU (journals and the judge: +36 % for the main job, bench/README.md),
    so on a machine without a spare core one process is the faster choice."""
    if requested is not None:
        return requested, f"processes: {requested} (--processes {requested})"
    cores = max(1, cores or 1)
    spare = max(1, cores - 1) if embedded else cores
    wanted = -(-clients // CLIENTS_PER_PROCESS)
    n = max(1, min(spare, wanted))
    where = f"{cores} core{'s' if cores > 1 else ''}" + (", one for the embedded server" if embedded else "")
    if wanted <= 1:
        why = f"{clients:,} clients <= {CLIENTS_PER_PROCESS:,} per process"
    else:
        why = f"{clients:,} clients > {CLIENTS_PER_PROCESS:,} per process, {where}"
    tail = "--processes 1 forces one" if n > 1 else "--processes N to split"
    return n, f"processes: {n} (auto: {why}; {tail})"


class SingleProcess:
    """Every client in this process's event loop."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    def abort(self, reason: str) -> None:
        self.driver.abort(reason)

    async def run(self) -> RunResult:
        await self.driver.run()
        return driver_result(self.driver)
