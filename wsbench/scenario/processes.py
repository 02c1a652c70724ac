"""Where the clients run: this process, or ``--processes N`` child processes.

Theory of operation
-------------------
:func:`drive` returns a controller with ``run()`` (drive the clients, return the
result as plain data) and ``abort(reason)`` (end early, partial). The result is the
same shape whether one process or several produced it:

* ``metrics`` — a :class:`~wsbench.metrics.Metrics` store; with several processes,
  the exact merge of every child's snapshot (HDR histograms add bucket by bucket,
  per-second series align on the shared origin, counters sum);
* ``delivery`` — the oracle verdict as a dict;
* ``connections``, ``reconnection``, ``generator``, ``groups``, ``warnings``, ``limit``.

Multi-process oracle design (documented choice): a delivery can only be judged by
a process that knows both the emit's expectation and the receiver's membership.
Each child owns a share of the clients (round-robin, so every group is spread over
the children) and runs a complete oracle for *its* receivers; it would need every
other child's emits to judge cross-process deliveries. That relay is not
implemented yet, so ``--processes N`` with N > 1 is refused with a clear message
(see the report of this change): judging deliveries wrongly would be worse than not
offering the option.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from wsbench.exceptions import ConfigError
from wsbench.scenario.driver import Driver
from wsbench.scenario.model import Scenario
from wsbench.scenario.progress import Status

__all__ = ["drive", "driver_result", "SingleProcess"]


def driver_result(d: Driver) -> dict[str, Any]:
    """A finished driver's results as plain data (see the module docstring)."""
    verdict = d.oracle.verdict().to_dict()
    groups: dict[str, int] = {}
    for vu in d.vus.values():
        groups[vu.group.name] = groups.get(vu.group.name, 0) + 1
    connected = d.metrics.histogram("connect").count
    herd_bins = sorted(d.herd)
    return {
        "run_id": d.run_id,
        "metrics": d.metrics,
        "delivery": verdict,
        "groups": groups,
        "connect_errors_total": sum(d.connect_errors.values()),
        "connections": {
            "attempted": d.started,
            "connected": connected,
            "peak": d.peak_sockets,
            "errors": dict(sorted(d.connect_errors.items(), key=lambda kv: -kv[1])[:20]),
            "refused_as_expected": d.metrics.counter("connects_refused_as_expected"),
            "limit": d.limit,
        },
        "reconnection": {
            "reconnects": d.reconnects,
            "failed": d.reconnects_failed,
            "lost_while_away": verdict.get("lost_while_away", 0),
            "replayed": d.replayed,
            "server_restarts": d.server_restarts,
            "herd": {
                "bin_ms": 100,
                "t_ms": [b * 100 for b in herd_bins],
                "count": [d.herd[b] for b in herd_bins],
            }
            if herd_bins
            else {},
        },
        "generator": {"processes": 1, "warnings": []},
        "warnings": list(d.warnings),
        "limit": d.limit,
        "abort_reason": d.abort_reason,
        "partitioning": "single process: one oracle sees every client",
    }


class SingleProcess:
    """Every client in this process's event loop."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    def abort(self, reason: str) -> None:
        self.driver.abort(reason)

    async def run(self) -> dict[str, Any]:
        await self.driver.run()
        return driver_result(self.driver)


def drive(
    scenario: Scenario,
    url: str,
    processes: int,
    *,
    origin_ns: int,
    origin_wall: float,
    restart: Callable[[float], Awaitable[int]] | None,
    server_pid: Callable[[], int | None] | None,
    on_status: Callable[[Status], None],
    on_message: Callable[[str], None],
) -> SingleProcess:
    """The controller for ``processes`` processes (see the module docstring)."""
    if processes < 1:
        raise ConfigError(f"--processes must be at least 1, got {processes}")
    if processes > 1:
        raise ConfigError(
            "--processes > 1 is not available yet: the cross-process delivery relay that lets "
            "each child judge deliveries of other children's emits is not implemented; "
            "run with --processes 1 (up to ~19,000 websocket clients per process here)"
        )
    driver = Driver(
        scenario,
        url,
        origin_ns=origin_ns,
        origin_wall=origin_wall,
        start_ns=None,
        restart=restart,
        server_pid=server_pid,
        on_status=on_status,
        on_message=on_message,
    )
    return SingleProcess(driver)
