"""``wsbench run``: from a scenario file to a written report and an exit status.

Theory of operation
-------------------
:func:`run` is the whole product in one call:

1. load the scenario (errors name file:line and key path) and apply the command-line
   overrides — before any connection is opened;
2. pick the target: ``embedded`` starts the reference server as its own process on a
   free loopback port with the scenario's server settings
   (:class:`wsbench.launch.AsyncServer`); a URL is used as given;
3. preflight (:mod:`wsbench.scenario.preflight`): one Engine.IO polling handshake
   request, bounded by 2 s. An unreachable target, or one that answers but not as a
   Socket.IO server (a 404 page, HTML, Engine.IO v3), raises
   :class:`~wsbench.exceptions.ConnectFailed` with one line naming what was requested,
   what came back and what it probably means (exit 4) before any client starts;
4. drive the clients — in this process (:class:`~wsbench.scenario.driver.Driver`, on
   uvloop) or split over ``--processes N`` (:mod:`wsbench.scenario.processes`); without
   a number (``RunOptions.processes=None``, the command's ``--processes auto``)
   :func:`~wsbench.scenario.processes.choose_processes` splits them when one process
   would saturate and a core is free (more than 2,000 clients, a core besides the
   embedded server's), and the choice is printed;
5. judge thresholds on the merged results, build the
   :class:`~wsbench.metrics.RunSummary` and write ``reports/<scenario>/<timestamp>/``:
   ``summary.json`` first (so nothing measured is lost even if plotting fails), then the
   PNG plots, ``report.html`` and ``junit.xml``;
6. stop the embedded server (the report says it was stopped).

Endings: a normal run exits 0 when every threshold passes, else 1. SIGINT (Ctrl-C)
stops the clients, keeps what was measured, writes the report marked *partial* and
exits 130; a second Ctrl-C stops at once. An embedded server that dies mid-run, or a
target that drops every connection for 5 s, ends the run partial with exit 1. A local
limit (open files, ephemeral ports) stops ramping with a message naming it; the run
continues with the clients it has, and the summary says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsbench.launch import AsyncServer, ServerDied, ServerSpec, reference_server
from wsbench.metrics import (
    Environment,
    Generator,
    RunInfo,
    RunSummary,
    Sections,
    ServerInfo,
    Target,
    Threshold,
    iso_timestamp,
    now_ns,
    wall_time,
)
from wsbench.metrics.sections import encode
from wsbench.scenario.loader import Overrides, apply_overrides, load_scenario
from wsbench.scenario.model import Scenario, Transport, server_args
from wsbench.scenario.preflight import parser_check, preflight
from wsbench.scenario.progress import Progress
from wsbench.scenario.thresholds import evaluate

if TYPE_CHECKING:
    from wsbench.scenario.processes import RunResult

__all__ = ["RunOptions", "RunOutcome", "run", "run_async", "report_dir"]

INTERRUPTED = 130


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Command-line choices of ``wsbench run``."""

    target: str | None = None
    clients: int | None = None
    duration: str | float | None = None  #: seconds, or text like 30s (see option_duration)
    seed: int | None = None
    out: str | None = None
    processes: int | None = 1  #: None: chosen from the clients and cores (choose_processes)
    progress: bool = True
    plots: bool = True
    server_command: tuple[str, ...] = ()  #: start this instead of the Python reference server


@dataclass(slots=True)
class RunOutcome:
    """What a run produced: the summary, where it was written, the exit status."""

    summary: RunSummary
    out_dir: Path
    exit_status: int
    messages: list[str] = field(default_factory=list)


def report_dir(scenario: Scenario, out: str | None, started_wall: float) -> Path:
    """``out`` if given, else ``reports/<scenario>/<UTC timestamp>/``."""
    if out:
        return Path(out)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started_wall))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in scenario.name) or "scenario"
    return Path("reports") / safe / stamp


def run(path: str, options: RunOptions = RunOptions()) -> RunOutcome:
    """Load, run, report; see the module docstring. Raises ScenarioError / ConnectFailed."""
    scenario = load_scenario(path)
    scenario = apply_overrides(
        scenario,
        Overrides(
            clients=options.clients,
            duration=options.duration,
            target=options.target,
            seed=options.seed,
        ),
    )
    from wsbench.client import run as run_loop
    from wsbench.client.loop import uses_uvloop

    return run_loop(run_async(scenario, options, uvloop=uses_uvloop()))


async def run_async(scenario: Scenario, options: RunOptions, *, uvloop: bool = False) -> RunOutcome:
    """:func:`run` for an already loaded scenario, inside a running event loop."""
    progress = Progress(enabled=options.progress)
    messages: list[str] = []

    def say(text: str) -> None:
        messages.append(text)
        progress.message(text)

    server: AsyncServer | None = None
    if scenario.embedded and scenario.cluster:
        # Redis + N reference nodes + HAProxy; clients are spread over the nodes
        from wsbench.launch.cluster import Cluster, spec_for

        cluster = Cluster(spec_for(scenario.cluster, scenario.cluster_kind, server_args(scenario)))
        server = AsyncServer(cluster)
        url = await server.start()
        scenario = scenario.replace(nodes=tuple(cluster.node_urls), balancer=cluster.url)
        say(cluster.banner)
    elif scenario.embedded:
        spec = reference_server(*server_args(scenario))
        if options.server_command:
            spec = ServerSpec(tuple(options.server_command), spec.args, name=spec.name)
        server = AsyncServer(spec)
        url = await server.start()
        say(f"embedded reference server (pid {server.pid}) listening on {url}")
    else:
        url = scenario.target
    try:
        websocket_only = scenario.transport is Transport.WEBSOCKET
        await preflight(url, scenario.path, websocket_only=websocket_only)
        await parser_check(url, scenario.path, scenario.parser, scenario.transport.value)
        return await _drive(scenario, options, url, server, progress, say, messages, uvloop)
    finally:
        if server is not None:
            code = await server.stop()
            server.close()
            say(f"embedded reference server stopped (exit {code})")


def _redis_restarter(server: AsyncServer | None) -> Any:
    """``restart_redis`` of an embedded cluster, off the loop; None for anything else."""
    cluster = server.launchable if server is not None else None
    if cluster is None or not hasattr(cluster, "restart_redis_resubscribed"):
        return None

    async def restart_redis(downtime: float) -> tuple[int, int, int | None]:
        return await asyncio.to_thread(cluster.restart_redis_resubscribed, downtime)

    return restart_redis


async def _drive(
    scenario: Scenario,
    options: RunOptions,
    url: str,
    server: AsyncServer | None,
    progress: Progress,
    say: Any,
    messages: list[str],
    uvloop: bool,
) -> RunOutcome:
    loop = asyncio.get_running_loop()
    started_wall = wall_time()
    origin_ns = now_ns()
    interrupted = asyncio.Event()
    from wsbench.scenario.controller import drive
    from wsbench.scenario.processes import choose_processes

    processes, why = choose_processes(options.processes, scenario.clients, os.cpu_count(),
                                      embedded=server is not None)
    options = dataclasses.replace(options, processes=processes)
    say(why)
    controller = drive(
        scenario,
        url,
        processes,
        origin_ns=origin_ns,
        origin_wall=started_wall,
        restart=server.restart if server is not None else None,
        restart_redis=_redis_restarter(server),
        server_pid=(lambda: server.pid) if server is not None else None,
        on_status=progress.update,
        on_message=say,
    )

    def on_sigint() -> None:
        if interrupted.is_set():  # second Ctrl-C: stop now
            os.kill(os.getpid(), signal.SIGTERM)
            return
        interrupted.set()
        controller.abort("interrupted (SIGINT)")

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    died_watch = None
    if server is not None and server.died is not None:
        died_watch = loop.create_task(_on_death(server.died, controller))
    try:
        result = await controller.run()
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
        if died_watch is not None:
            died_watch.cancel()
        progress.clear()
    context = _Context(scenario, options, url, server, started_wall, origin_ns, uvloop, messages)
    return _finish(context, result, interrupted=interrupted.is_set())


async def _on_death(died: asyncio.Future[ServerDied], controller: Any) -> None:
    reason = await died
    controller.abort(str(reason))


@dataclass(frozen=True, slots=True)
class _Context:
    """What the run was (scenario, options, target, server), for :func:`_finish`."""

    scenario: Scenario
    options: RunOptions
    url: str
    server: AsyncServer | None
    started_wall: float
    origin_ns: int
    uvloop: bool
    messages: list[str]


def _finish(context: _Context, result: RunResult, *, interrupted: bool) -> RunOutcome:
    """Judge the thresholds, map the result into the typed summary, write it and the report."""
    scenario, options, server, messages = (
        context.scenario, context.options, context.server, context.messages
    )  # fmt: skip
    metrics = result.metrics
    snapshot = metrics.snapshot()
    delivery = result.delivery
    judged = evaluate(
        scenario.thresholds, snapshot["histograms"], encode(delivery), result.connect_errors_total
    )
    partial_reason = result.abort_reason
    partial = partial_reason is not None
    if interrupted:
        status = INTERRUPTED
    elif partial or not all(t.passed for t in judged):
        status = 1
    else:
        status = 0
    lag = metrics.histogram("loop_lag")
    cpu = [v for _, v in metrics.gauge_series("process.cpu_percent")]
    warnings: list[str] = []
    cores = os.cpu_count() or 1
    if lag.count and lag.percentile(99) > 50_000:
        warnings.append(
            f"the load generator's event loop lagged (p99 {lag.percentile(99) / 1000:.0f} ms): "
            "latencies include the driver's own delay; use --processes or fewer clients"
        )
    if cpu and max(cpu) > 90.0 * max(1, result.processes):
        warnings.append(
            f"the load generator used up to {max(cpu):.0f}% CPU (100 = one core, "
            f"{cores} cores here): it may be the bottleneck, not the server"
        )
    sections = Sections(
        run=RunInfo(
            clients=scenario.clients,
            transport=scenario.transport.value,
            seed=scenario.seed,
            processes=result.processes,
            planned_duration_s=scenario.duration,
            groups=result.groups,
            source=scenario.source,
            run_id=result.run_id,
            oracle_partitioning=result.partitioning,
        ),
        delivery=delivery,
        connections=result.connections,
        reconnection=result.reconnection,
        generator=Generator(
            processes=result.processes,
            warnings=tuple(warnings),
            loop_lag_p99_ms=lag.percentile(99) / 1000.0 if lag.count else 0.0,
            cpu_percent_mean=sum(cpu) / len(cpu) if cpu else 0.0,
            cpu_percent_max=max(cpu) if cpu else 0.0,
        ),
        server=ServerInfo(
            embedded=server is not None,
            pid=server.pid if server else None,
            stopped=True,
            restarts=server.restarts if server else 0,
            banner=server.banner if server else "",
        ),
        thresholds=tuple(
            Threshold(t.name, t.passed, t.limit, t.actual, t.detail) for t in judged
        ),
        warnings=(*result.warnings, *((result.limit,) if result.limit else ())),
        messages=tuple(messages[-50:]),
    )
    summary = RunSummary(
        scenario=scenario.name,
        target=Target(
            context.url,
            embedded=server is not None,
            server=(server.banner.split(" listening")[0] if server else ""),
        ),
        started_at=iso_timestamp(context.started_wall),
        duration_s=max(0.0, (now_ns() - context.origin_ns) / 1e9),
        exit_status=status,
        metrics=snapshot,
        partial=partial,
        partial_reason=partial_reason,
        sections=sections,
        environment=Environment.capture(uvloop=context.uvloop),
    )
    out_dir = report_dir(scenario, options.out, context.started_wall)
    summary.write(out_dir / "summary.json")
    if options.plots:
        try:
            from wsbench.report import write_report

            write_report(summary, out_dir)
        except Exception as exc:  # documented boundary: the summary is already safe on disk
            messages.append(f"could not render plots: {type(exc).__name__}: {exc}")
    return RunOutcome(summary, out_dir, status, messages)
