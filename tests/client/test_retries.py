"""Socket.emit_with_retries (socket.io-client's retries + ackTimeout) against the Python
reference server: answered at the first try; with --fault drop-acks every try times out, is
re-sent with the same payload (the server runs the handler each time) and the callback gets
None after retries+1 tries; queued emits leave one at a time, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import scaled
from tests.integrations.support import reference_server_factory
from wsbench.client import connect


@pytest.fixture(scope="module")
def server() -> Iterator[Callable[..., str]]:
    yield from reference_server_factory()


def settle_future() -> tuple[asyncio.Future[tuple], Callable[..., None]]:
    fut: asyncio.Future[tuple] = asyncio.get_running_loop().create_future()
    return fut, lambda args, tries: fut.done() or fut.set_result((args, tries))


async def test_an_answered_emit_is_sent_once(server) -> None:
    async with connect(server(), reconnection=False, timeout=scaled(5)) as c:
        sock = c.socket()
        fut, done = settle_future()
        tries: list[int] = []
        sock.emit_with_retries(
            "echo", "x", retries=3, timeout=scaled(2), callback=done, on_try=tries.append
        )
        assert await asyncio.wait_for(fut, scaled(5)) == (["x"], 1)
        assert tries == [1] and sock.retried == 0


async def test_unanswered_emits_are_retried_in_order_then_given_up(server) -> None:
    async with connect(
        server("--fault", "drop-acks"), reconnection=False, timeout=scaled(5)
    ) as c:
        sock = c.socket()
        seen: list[str] = []
        sock.on("chat message", seen.append)
        first, done1 = settle_future()
        second, done2 = settle_future()
        timeout = scaled(0.2)
        sock.emit_with_retries("chat message", "m1", retries=2, timeout=timeout, callback=done1)
        sock.emit_with_retries("chat message", "m2", retries=1, timeout=timeout, callback=done2)
        assert await asyncio.wait_for(first, scaled(5)) == (None, 3)
        assert await asyncio.wait_for(second, scaled(5)) == (None, 2)
        # every try reached the server (it broadcast each one back), m2 only after m1 gave up
        await asyncio.wait_for(_until(lambda: len(seen) >= 5), scaled(5))
        assert seen == ["m1", "m1", "m1", "m2", "m2"]
        assert sock.retried == 3


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.01)
