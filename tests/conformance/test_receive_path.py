"""The checker's receive path: a burst of frames is recorded as fast as it was read, and
a delivery check waits on "everything arrived", never on a fixed grace.

The false FAILs of ``contract.broadcast.exactly-once-in-order`` (issue #9 item 1) came from
the checker, not from delivery: the probe's reader handed frames on one per event-loop turn
(a ``wait_for`` task per frame), so on a busy loop a burst of 301 events that had all been
read (and logged) before the ack was still being handed over when a fixed 150 ms grace
ended. Here the loop is made busy on purpose, deterministically: every turn costs 2 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import pytest

from tests.conformance.conftest import unexpected
from wsbench.client.raw import CLOSED, RawProbe, RawWebSocket, Transcript
from wsbench.conformance.embedded import embedded_targets
from wsbench.conformance.registry import select
from wsbench.conformance.runner import TargetSpec, run_all

TURN_COST = 0.002  # seconds of CPU each event-loop turn costs while the hog runs
turns = 0  # loop turns the hog saw


@pytest.fixture(scope="module")
def reference() -> Iterator[TargetSpec]:
    with embedded_targets() as spec:
        yield spec


async def _hog() -> None:
    """Makes every loop turn cost TURN_COST (load, not synchronisation: nothing waits on it)."""
    global turns
    while True:
        time.sleep(TURN_COST)
        turns += 1
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def busy_loop():  # type: ignore[no-untyped-def]
    task = asyncio.get_running_loop().create_task(_hog())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.timeout(60)
def test_in_order_broadcast_check_passes_on_a_busy_loop(reference: TargetSpec) -> None:
    checks = select(cases=["contract.broadcast.*"])

    async def main():  # type: ignore[no-untyped-def]
        async with busy_loop():
            return (await run_all([reference], checks))[0]

    report = asyncio.run(main())
    assert unexpected(report, {}) == {}
    result = report.results["contract.broadcast.exactly-once-in-order"]
    assert "301 broadcasts" in result.reason


@pytest.mark.timeout(30)
def test_a_burst_read_at_once_is_consumed_without_a_loop_turn_per_frame(
    reference: TargetSpec,
) -> None:
    """Frames already read are returned by recv() without suspending: a burst of 302 costs
    no loop turn per frame (before the fix: at least one each)."""

    async def main() -> tuple[int, int]:
        async with RawProbe(reference.url) as probe:
            ws = await probe.websocket("/socket.io/", "EIO=4&transport=websocket")
            assert isinstance(await ws.recv(5.0), str)  # OPEN
            await ws.send("40")
            for _ in range(300):
                await ws.send('42["message",1]')
            # wait on the condition: all answers were read (40{sid}, the auth event, 300 others)
            deadline = time.monotonic() + 10.0
            while ws._queue.qsize() < 302 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert ws._queue.qsize() >= 302
            async with busy_loop():
                await asyncio.sleep(0)  # the hog is running
                before = turns
                for _ in range(302):
                    frame = await ws.recv(5.0)
                    assert frame is not None and frame is not CLOSED
                spent = turns - before
            await ws.close()
            return 302, spent

    got, spent = asyncio.run(main())
    assert got == 302
    assert spent <= 1, f"handing over 302 queued frames took {spent} loop turns"


async def test_a_reader_cancelled_as_a_frame_arrives_stops_and_keeps_the_frame() -> None:
    """Python 3.11's wait_for returned the frame and swallowed the cancellation, so a peer's
    reader cancelled as an ack came in never stopped (a trigger probe hung its check)."""
    ws = RawWebSocket(Transcript(), "ws#t", auto_pong=True)
    reader = asyncio.ensure_future(ws.recv(10.0))
    await asyncio.sleep(0)  # the reader waits in recv()
    ws._queue.put_nowait("431[]")
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert ws.recv_nowait() == "431[]"
