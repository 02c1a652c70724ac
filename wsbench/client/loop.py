"""Run a coroutine on the fastest event loop available (uvloop when installed).

measurements.md: the same lean client delivered 50,800 broadcasts per CPU-second
on the default loop and 82,000 on uvloop.

:func:`young_gc_only` is the load generator's garbage-collector policy: no full
(generation 2) collection while it runs. CPython starts one whenever the old heap grew by
a quarter; a generator's old heap is its connections, clients and the oracle's open
records, so each full collection walks all of it, blocks the event loop for the whole
walk and finds next to nothing: in the 2,000-client main job 10-11 full collections took
1.6 s of CPU (up to 290 ms each, 0.4-1 s of wall time on a shared machine) and freed
936 objects in all, while the young collections freed 71,000 (bench/README.md, issue 14).
Young collections (generations 0 and 1) go on as usual, so short-lived reference cycles
are still freed; a cycle that outlives two young collections waits until the block ends
and the collector's own thresholds are back (no collection is forced then: a full one
after the main job cost ~1 s of CPU in a process about to exit). The client's own objects
make no such cycle once closed: a :class:`~wsbench.client.connection.Connection` gone for
good breaks its cycles (``Connection._release``), so a closed connection is freed by
reference counting during the run
(tests/client/test_closed_connections_are_freed.py).

The block also raises generation 0's threshold from CPython's 700 to
:data:`YOUNG_THRESHOLD` (a higher one of the user's is kept). That count is tracked
allocations *minus* deallocations, so a generator's in-flight state (1,000 users, each with
a call's future, coroutine and arguments alive) keeps crossing 700 as it ebbs and flows,
though almost nothing of it is garbage: in ``bench/acked_emits.py`` (1,000 users x 100
acked emits) 249-376 young collections took 0.19-0.26 s of CPU (``gc.callbacks`` with
``time.thread_time``: ~5 % of the run) and freed 0-400 objects; with 5,000, 10
collections took 0.016 s (with 2,000: 25-29 collections, 0.036 s). A young cycle then
waits for 5,000 net allocations instead of 700 (a few hundred KB at most).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["YOUNG_THRESHOLD", "loop_factory", "run", "settled", "uses_uvloop", "young_gc_only"]

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """``uvloop.new_event_loop`` if uvloop is importable, else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def uses_uvloop() -> bool:
    return loop_factory() is not asyncio.new_event_loop


def run(coro: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
    """Like :func:`asyncio.run`, on uvloop when available."""
    with asyncio.Runner(debug=debug, loop_factory=loop_factory()) as runner:
        return runner.run(coro)


#: generation 2's threshold while :func:`young_gc_only` is in force: never reached
_NO_FULL = 2**31 - 1
#: generation 0's threshold (at least) while :func:`young_gc_only` is in force (see above)
YOUNG_THRESHOLD = 5000


@contextlib.contextmanager
def young_gc_only(record_pause: Callable[[int, int], None] | None = None) -> Iterator[None]:
    """No automatic full collection inside the block (see the module docstring).

    On entry the objects alive now (imports, the loaded scenario) are frozen out of every
    collection (``gc.freeze``, O(1)), generation 0's threshold is raised to at least
    :data:`YOUNG_THRESHOLD` and generation 2's is set out of reach; on
    exit both are undone and one full collection frees what the block left (outside any
    measured window). ``record_pause(generation, ns)``, when given, is called after each
    collection inside the block with its duration. Nested or concurrent use (two drivers in
    one process) is safe: only the outermost block changes and restores the collector.
    """
    global _depth
    cb = None
    if record_pause is not None:
        started = [0]

        def cb(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                started[0] = time.perf_counter_ns()
            else:
                record_pause(info["generation"], time.perf_counter_ns() - started[0])

        gc.callbacks.append(cb)
    outer = _depth == 0
    saved = gc.get_threshold()
    if outer:
        gc.freeze()
        gc.set_threshold(max(saved[0], YOUNG_THRESHOLD), saved[1], _NO_FULL)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if cb is not None:
            gc.callbacks.remove(cb)
        if outer:
            gc.set_threshold(*saved)
            gc.unfreeze()


_depth = 0


async def settled(fut: asyncio.Future[Any], timeout: float | None) -> bool:
    """Wait until ``fut`` is done or ``timeout`` seconds passed; whether it is done.

    ``fut`` is never cancelled (not on the timeout, not when the waiting task is), and its
    result or exception stays for its owner to read. This is ``asyncio.wait_for(
    asyncio.shield(fut), timeout)`` (or ``asyncio.timeout`` around an ``await fut`` that
    must not cancel it) without their Python frames: one waiter future, one done-callback
    and one timer, where those cost 5-10 Python calls each (the shield's second future and
    two callbacks; ``wait_for``'s ``ensure_future``, ``partial`` and ``_release_waiter``;
    ``timeout``'s ``Timeout`` object, ``current_task``, ``reschedule``, enter and exit). A
    connect and close waits up to three times (Engine.IO OPEN, the server's CLOSE answer,
    the reader's end): with the other connect-path levers 652k -> 510k instructions per
    connect + close (callgrind), bench/README.md "Acked emits: the connect path, wave 2e
    (engineer 59)". ``timeout=None`` waits for ever. A cancellation of the waiting task
    propagates (``CancelledError``).
    """
    if fut.done():
        return True
    loop = fut.get_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    fut.add_done_callback(wake)
    timer = loop.call_later(timeout, wake) if timeout is not None else None
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()
        fut.remove_done_callback(wake)
    return fut.done()
