"""``--processes N``: the parent that spawns the driver children and judges for them.

Theory of operation
-------------------
See :mod:`wsbench.scenario.processes` for the design. :meth:`MultiProcess.run`:

1. deals the clients round-robin to N children and starts them (``multiprocessing``
   *spawn*, daemonic, SIGINT ignored while they are started so a terminal's Ctrl-C
   reaches only this process), each with its journal file in a temporary folder;
2. waits until every child is ready (imports done, driver built), then sends them
   all one start time a little in the future, so arrivals are as planned;
3. while they run: the judge replays their journals every 50 ms; once a second the
   parent samples its own CPU and the embedded server's, and reports one
   aggregated :class:`~wsbench.scenario.progress.Status`;
4. at the end: when every child has stopped its users and the judge has nothing
   open (or the grace period passed) it sends ``drained``; it waits for every
   child's ``done`` (bounded: a child that does not finish is terminated, the run
   is partial), replays the rest and closes what is still open;
5. merges the metrics (children, judge, parent) and the children's counts into
   the same result a single driver returns, and removes the temporary folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import shutil
import signal
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from wsbench.metrics import Metrics, ProcessSampler, now_ns
from wsbench.scenario.child import ChildSpec, child_main
from wsbench.scenario.judge import Judge
from wsbench.scenario.model import Scenario
from wsbench.scenario.processes import RunResult, assemble
from wsbench.scenario.progress import Status
from wsbench.scenario.walk import max_within

__all__ = ["MultiProcess"]

_S = 1_000_000_000
_FACTOR = float(os.environ.get("WSBENCH_TIMEOUT_FACTOR", "1"))
READY_TIMEOUT = 60.0 * _FACTOR
DONE_TIMEOUT = 60.0 * _FACTOR


class MultiProcess:
    """Clients split over ``n`` child processes, one judge here (see the module docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        url: str,
        n: int,
        *,
        origin_ns: int,
        origin_wall: float,
        restart: Callable[[float], Awaitable[int]] | None,
        server_pid: Callable[[], int | None] | None,
        on_status: Callable[[Status], None],
        on_message: Callable[[str], None],
        restart_redis: Callable[[float], Awaitable[tuple[int, int, int | None]]] | None = None,
    ) -> None:
        self.scenario = scenario
        self.url = url
        self.n = n
        self.origin_ns = origin_ns
        self.origin_wall = origin_wall
        self.run_id = uuid.uuid4().hex[:8]
        self._restart = restart
        self._restart_redis = restart_redis
        self._server_pid = server_pid
        self._on_status = on_status
        self._on_message = on_message
        self.grace_s = max_within(scenario) + 1.0
        self.abort_reason: str | None = None
        self.procs: list[Any] = []
        self.conns: list[Any] = []
        self.status: list[Status | None] = [None] * n
        self.ready = [False] * n
        self.stopped = [False] * n
        self.done: list[str | None] = [None] * n
        self.exited = [False] * n
        self.judge: Judge | None = None
        self.metrics = Metrics(origin_ns=origin_ns, origin_wall=origin_wall)
        self._changed: asyncio.Event | None = None
        self._restart_lock = asyncio.Lock()
        self._redis_lock = asyncio.Lock()
        self._drained_sent = False
        self._stopped_at: int | None = None

    # -- control --------------------------------------------------------------------------

    def abort(self, reason: str) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
        for k in range(len(self.conns)):
            if self.done[k] is None and not self.exited[k]:
                self._send(k, ("abort", self.abort_reason))
        self._poke()

    def _send(self, k: int, msg: tuple[Any, ...]) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conns[k].send(msg)

    def _poke(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _on_readable(self, k: int) -> None:
        conn = self.conns[k]
        try:
            while conn.poll():
                self._handle(k, conn.recv())
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(conn.fileno())
            self.exited[k] = True
            if self.done[k] is None:
                code = self.procs[k].exitcode
                self.abort(f"driver process {k} exited unexpectedly (exit {code})")
            self._poke()

    def _handle(self, k: int, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "status":
            self.status[k] = Status(*msg[1])
        elif kind == "ready":
            self.ready[k] = True
        elif kind == "message":
            self._on_message(msg[1] if self.n == 1 else f"[driver {k}] {msg[1]}")
        elif kind == "restart":
            asyncio.get_running_loop().create_task(self._do_restart(k, msg[1]))
        elif kind == "restart_redis":
            asyncio.get_running_loop().create_task(self._do_restart_redis(k, msg[1]))
        elif kind == "abort":
            self.abort(msg[1])
        elif kind == "stopped":
            self.stopped[k] = True
            if all(self.stopped) and self._stopped_at is None:
                self._stopped_at = now_ns()
        elif kind == "done":
            self.done[k] = msg[1]
        elif kind == "error":
            self._on_message(f"driver process {k} failed: {msg[1]}")
            self.abort(f"driver process {k} failed")
        self._poke()

    async def _do_restart(self, k: int, downtime: float) -> None:
        if self._restart is None:
            self._send(k, ("restarted", now_ns()))
            return
        async with self._restart_lock:
            try:
                up = await self._restart(downtime)
            except Exception as exc:  # documented boundary: a failed restart ends the run
                self.abort(f"restart of the embedded server failed: {exc}")
                up = now_ns()
        self._send(k, ("restarted", up))
        for other in range(self.n):  # the herd is measured from this time in every child
            if other != k:
                self._send(other, ("server_restarted", up))

    async def _do_restart_redis(self, k: int, downtime: float) -> None:
        """Child ``k``'s ``restart_redis``: one at a time; it journals the window we answer."""
        assert self._restart_redis is not None  # a child asks only when told we can
        async with self._redis_lock:
            at = now_ns()
            try:
                window = await self._restart_redis(downtime)
            except Exception as exc:  # documented boundary: a failed restart ends the run
                self.abort(f"restart of the cluster's Redis failed: {exc}")
                window = (at, now_ns(), None)  # closes the child's window
        self._send(k, ("redis_restarted", tuple(window)))

    # -- running --------------------------------------------------------------------------

    def _start(self, folder: Path) -> None:
        ctx = multiprocessing.get_context("spawn")
        clients = self.scenario.clients
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited across exec
        try:
            for k in range(self.n):
                parent_end, child_end = ctx.Pipe(duplex=True)
                spec = ChildSpec(
                    k,
                    self.scenario,
                    self.url,
                    tuple(range(k, clients, self.n)),
                    self.run_id,
                    self.origin_ns,
                    self.origin_wall,
                    str(folder / f"journal-{k}.bin"),
                    str(folder / f"result-{k}.pickle"),
                    restart_redis=self._restart_redis is not None,
                )
                proc = ctx.Process(
                    target=child_main, args=(child_end, spec), name=f"wsbench-driver-{k}"
                )
                proc.daemon = True
                proc.start()
                child_end.close()
                self.procs.append(proc)
                self.conns.append(parent_end)
        finally:
            signal.signal(signal.SIGINT, previous)

    async def _until(self, condition: Callable[[], bool], timeout: float) -> bool:
        assert self._changed is not None
        deadline = now_ns() + int(timeout * _S)
        while not condition():
            left = (deadline - now_ns()) / _S
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
        return True

    async def run(self) -> RunResult:
        loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        folder = Path(tempfile.mkdtemp(prefix="wsbench-journal-"))
        chores: list[asyncio.Task[None]] = []
        try:
            self._start(folder)
            self.judge = Judge(
                [folder / f"journal-{k}.bin" for k in range(self.n)],
                origin_ns=self.origin_ns,
                origin_wall=self.origin_wall,
            )
            for k, conn in enumerate(self.conns):
                loop.add_reader(conn.fileno(), self._on_readable, k)
            live = lambda: all(r or e for r, e in zip(self.ready, self.exited, strict=True))  # noqa: E731
            if not await self._until(
                lambda: live() or self.abort_reason is not None, READY_TIMEOUT
            ):
                self.abort(f"driver processes not ready within {READY_TIMEOUT:g} s")
            start = now_ns() + 200_000_000
            for k in range(self.n):
                self._send(k, ("go", start))
            chores = [loop.create_task(self._judging()), loop.create_task(self._ticker(start))]
            finished = lambda: all(  # noqa: E731
                d is not None or e for d, e in zip(self.done, self.exited, strict=True)
            )
            planned = self.scenario.duration + self.grace_s + DONE_TIMEOUT
            if not await self._until(finished, planned):
                self.abort("driver processes did not finish in time")
                await self._until(finished, 10.0 * _FACTOR)
            return await self._result()
        finally:
            for task in chores:
                task.cancel()
            await asyncio.gather(*chores, return_exceptions=True)
            await self._reap()
            shutil.rmtree(folder, ignore_errors=True)

    async def _judging(self) -> None:
        judge = self.judge
        assert judge is not None
        while True:
            await asyncio.sleep(0.05)
            for k, proc in enumerate(self.procs):
                if not proc.is_alive():
                    judge.gone[k] = True
            judge.poll()
            if self._stopped_at is None or self._drained_sent:
                continue
            over = now_ns() - self._stopped_at > self.grace_s * _S
            if (judge.all_stopped and judge.settled) or over:
                self._drained_sent = True
                for k in range(self.n):
                    self._send(k, ("drained",))

    async def _ticker(self, start: int) -> None:
        me = ProcessSampler()
        me.sample()
        server_pid: int | None = None
        server: ProcessSampler | None = None
        judge = self.judge
        assert judge is not None
        while True:
            await asyncio.sleep(1.0 - ((now_ns() - start) % _S) / _S)
            now = now_ns()
            sample = me.record(self.metrics, "process")
            if sample.cpu_percent is not None:  # the judge's share of process.cpu_percent
                self.metrics.set_gauge("judge.cpu_percent", sample.cpu_percent)
            pid = self._server_pid() if self._server_pid else None
            if pid != server_pid:
                server_pid, server = pid, (ProcessSampler(pid) if pid else None)
                if server is not None:
                    with contextlib.suppress(Exception):
                        server.sample()
            elif server is not None:
                with contextlib.suppress(Exception):
                    server.record(self.metrics, "server")
            self.metrics.tick(now)
            judge.metrics.set_gauge("violations", judge.oracle.violations.total)
            self._on_status(self._aggregate(now, start, sample.cpu_percent))

    def _aggregate(self, now: int, start: int, own_cpu: float | None) -> Status:
        judge = self.judge
        assert judge is not None
        got = [s for s in self.status if s is not None]
        rate = 0.0
        for name in ("deliveries", "acks"):
            series = judge.metrics.counter_series(name)
            rate += series[-1][1] if series else 0
        last = judge.metrics.series("delivery")[-1:]
        cpus = [s.cpu_percent for s in got if s.cpu_percent is not None]
        return Status(
            (now - start) / _S,
            self.scenario.duration,
            "ramping" if any(s.phase == "ramping" for s in got) else "running",
            sum(s.connected for s in got),
            self.scenario.clients,
            rate,
            last[0].p99_ms if last else None,
            judge.oracle.violations.total,
            sum(cpus) + (own_cpu or 0.0) if cpus else own_cpu,
        )

    async def _result(self) -> RunResult:
        judge = self.judge
        assert judge is not None
        for k, proc in enumerate(self.procs):
            if not proc.is_alive():
                judge.gone[k] = True
        aborted = self.abort_reason is not None
        judge.finish(aborted)
        self.metrics.flush(now_ns())
        parts = []
        for k, path in enumerate(self.done):
            if path is None:
                continue
            with contextlib.suppress(OSError, pickle.UnpicklingError):
                parts.append(pickle.loads(Path(path).read_bytes()))
                continue
            self.abort(f"driver process {k} left no result")
        snapshots = [judge.metrics.snapshot(), self.metrics.snapshot()]
        snapshots += [p.pop("metrics") for p in parts]
        metrics = Metrics.merge_snapshots(snapshots)
        records = sum(p.pop("journal_records", 0) for p in parts)
        reason = self.abort_reason or next(
            (p["abort_reason"] for p in parts if p["abort_reason"]), None
        )
        result = assemble(
            parts,
            metrics,
            judge.oracle.verdict(),
            run_id=self.run_id,
            processes=self.n,
            partitioning=(
                f"{self.n} processes, clients dealt round-robin; each journals membership "
                "changes, stamped emits, deliveries and acks on the system-wide monotonic "
                "clock; the parent merges the journals by time and replays them through "
                f"one oracle ({records:,} records)"
            ),
            abort_reason=reason,
        )
        return result

    async def _reap(self) -> None:
        loop = asyncio.get_running_loop()
        for conn in self.conns:
            with contextlib.suppress(Exception):
                loop.remove_reader(conn.fileno())
        for proc in self.procs:
            await loop.run_in_executor(None, proc.join, 10.0 * _FACTOR)
            if proc.is_alive():
                proc.terminate()
                await loop.run_in_executor(None, proc.join, 5.0)
            if proc.is_alive():
                proc.kill()
                await loop.run_in_executor(None, proc.join, 5.0)
        for conn in self.conns:
            conn.close()
