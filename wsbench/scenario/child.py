"""One ``--processes`` child: a share of the clients, a journal instead of an oracle.

Theory of operation
-------------------
:func:`child_main` is the target of a ``multiprocessing`` *spawn* process. It runs a
:class:`~wsbench.scenario.driver.Driver` for the clients in ``ChildSpec.client_ids``
on its own (uv)loop, with a :class:`~wsbench.scenario.journal.RecordingOracle`: every
membership change, stamped emit, delivery, ack and violation goes to its journal
file, flushed every 50 ms, for the parent's judge.

It talks to the parent over one duplex pipe, in small tuples:

* child → parent: ``ready``; ``status`` (the driver's per-second
  :class:`~wsbench.scenario.progress.Status`); ``message``; ``restart`` (the
  ``restart_server`` fault: only the parent owns the embedded server); ``restart_redis``
  (the ``restart_redis`` fault, only when the parent owns an embedded cluster:
  ``ChildSpec.restart_redis``; this child's driver journals ``OUTAGE_BEGIN`` before it asks
  and ``OUTAGE_END`` with the parent's answer, so the judge replays the window in time
  order with every child's emits); ``abort``
  (this child's driver gave up, e.g. it lost every connection); ``stopped`` (its
  users are cancelled, it drains); ``done`` (path of its result file); ``error``.
* parent → child: ``go`` (the shared start time), ``redis_restarted`` (the outage's
  ``(down_ns, back_ns, resubscribed_ns or None)``), ``restarted`` (when the server
  was back; ``server_restarted`` to the other children, whose reconnection herd is
  measured from that time too), ``drained`` (the judge has nothing open any more, or the grace period
  passed), ``abort``.

SIGINT is ignored (the parent starts children with it ignored, so even Python's
start-up cannot turn a terminal's Ctrl-C into a KeyboardInterrupt here): the
parent decides how a run ends. A closed pipe (the parent died) aborts the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import signal
import traceback
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from wsbench.metrics import now_ns
from wsbench.scenario.model import Scenario

__all__ = ["ChildSpec", "child_main", "driver_parts"]

_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ChildSpec:
    index: int
    scenario: Scenario
    url: str
    client_ids: tuple[int, ...]
    run_id: str
    origin_ns: int
    origin_wall: float
    journal: str
    result: str
    restart_redis: bool = False  #: the parent owns an embedded cluster whose Redis it restarts


def driver_parts(d: Any) -> dict[str, Any]:
    """What a driver measured besides the oracle's verdict, as plain data."""
    groups: dict[str, int] = {}
    for vu in d.vus.values():
        groups[vu.group.name] = groups.get(vu.group.name, 0) + 1
    return {
        "groups": groups,
        "started": d.started,
        "peak": d.peak_sockets,
        "connect_errors": dict(d.connect_errors),
        "closes": dict(d.closes),
        "limit": d.limit,
        "reconnects": d.reconnects,
        "failed": d.reconnects_failed,
        "replayed": d.replayed,
        "server_restarts": d.server_restarts,
        "herd": dict(d.herd),
        "warnings": list(d.warnings),
        "abort_reason": d.abort_reason,
    }


def child_main(conn: Any, spec: ChildSpec) -> None:
    """Process entry point (see the module docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from wsbench.client import run as run_loop

    try:
        run_loop(_child(conn, spec))
    except BaseException:  # documented boundary: report, then exit non-zero
        with contextlib.suppress(Exception):
            conn.send(("error", traceback.format_exc()[-2000:]))
        raise
    finally:
        conn.close()


def _answer(future: asyncio.Future[Any], value: Any) -> None:
    """The parent's answer to a restart asked: none to give when the asker was cancelled."""
    if not future.done():
        future.set_result(value)


async def _child(conn: Any, spec: ChildSpec) -> None:
    from wsbench.scenario.driver import Driver
    from wsbench.scenario.journal import JournalWriter, Op, RecordingOracle

    loop = asyncio.get_running_loop()
    journal = JournalWriter(spec.journal)
    go: asyncio.Future[int] = loop.create_future()
    drained = asyncio.Event()
    restarts: list[asyncio.Future[int]] = []
    redis_restarts: list[asyncio.Future[tuple[int, int, int | None]]] = []
    from_parent = {"abort": False}
    driver: Driver | None = None

    def send(msg: tuple[Any, ...]) -> None:
        with contextlib.suppress(OSError, ValueError):
            conn.send(msg)

    def on_readable() -> None:
        try:
            while conn.poll():
                msg = conn.recv()
                kind = msg[0]
                if kind == "go" and not go.done():
                    go.set_result(msg[1])
                elif kind == "restarted" and restarts:
                    _answer(restarts.pop(0), msg[1])
                elif kind == "redis_restarted" and redis_restarts:
                    _answer(redis_restarts.pop(0), tuple(msg[1]))
                elif kind == "server_restarted" and driver is not None:
                    driver.restart_up_ns = msg[1]
                    driver.server_restarts += 1
                elif kind == "drained":
                    drained.set()
                elif kind == "abort":
                    from_parent["abort"] = True
                    abort(msg[1])
        except (EOFError, OSError):
            loop.remove_reader(conn.fileno())
            from_parent["abort"] = True
            abort("the parent process is gone")

    def abort(reason: str) -> None:
        if driver is not None:
            driver.abort(reason)
        if not go.done():
            go.set_exception(asyncio.CancelledError(reason))
        drained.set()

    async def restart(downtime: float) -> int:
        fut: asyncio.Future[int] = loop.create_future()
        restarts.append(fut)
        send(("restart", downtime))
        return await fut

    async def restart_redis(downtime: float) -> tuple[int, int, int | None]:
        fut: asyncio.Future[tuple[int, int, int | None]] = loop.create_future()
        redis_restarts.append(fut)
        send(("restart_redis", downtime))
        return await fut

    async def drain() -> None:
        journal.add(Op.STOPPED)
        journal.flush()
        send(("stopped",))
        assert driver is not None
        with contextlib.suppress(TimeoutError):  # the parent bounds the drain; this is a backstop
            await asyncio.wait_for(drained.wait(), driver.grace_s + 60)

    async def flusher() -> None:
        while True:
            await asyncio.sleep(0.05)
            journal.flush()

    loop.add_reader(conn.fileno(), on_readable)
    driver = Driver(
        spec.scenario,
        spec.url,
        list(spec.client_ids),
        run_id=spec.run_id,
        origin_ns=spec.origin_ns,
        origin_wall=spec.origin_wall,
        restart=restart,
        restart_redis=restart_redis if spec.restart_redis else None,
        on_status=lambda status: send(("status", astuple(status))),
        on_message=lambda text: send(("message", text)),
        oracle=RecordingOracle(journal),
        drain=drain,
    )
    send(("ready",))
    flushing = loop.create_task(flusher())
    try:
        driver.start_ns = await go
    except asyncio.CancelledError:
        driver.start_ns = now_ns()  # aborted before the start: run nothing, report
        driver.stopping = True
    await driver.run()
    if driver.abort_reason is not None and not from_parent["abort"]:
        send(("abort", driver.abort_reason))
    flushing.cancel()
    journal.close()
    parts = driver_parts(driver)
    parts["metrics"] = driver.metrics.snapshot()
    parts["journal_records"] = journal.records
    path = Path(spec.result)
    path.write_bytes(pickle.dumps(parts))
    with contextlib.suppress(Exception):
        loop.remove_reader(conn.fileno())
    send(("done", str(path)))
