"""How a connect and a close wait (bench/README.md "Acked emits: the connect path, wave 2e
(engineer 59)"): one task per connection (the reader; the CONNECT answers are waited on with
callbacks, not a task of their own), :func:`~wsbench.client.loop.settled` instead of
``asyncio.wait_for(shield(...))``, and every phase still reports as before: a CONNECT that
never comes is a ``TimeoutError`` after ``timeout``, a refusal a ``ConnectRefused``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest
from aiohttp import WSMsgType, web

from tests.conftest import scaled
from tests.e2e.rogue import Rogue, _websocket, never_connects
from tests.integrations.support import reference_server_factory
from wsbench.client import connect
from wsbench.client.loop import settled
from wsbench.client.wsprotocol import ProtocolTransport
from wsbench.exceptions import ConnectFailed, ConnectRefused


@pytest.fixture(scope="module")
def server() -> Iterator[Callable[..., str]]:
    yield from reference_server_factory()


async def test_settled_is_true_once_done_and_never_cancels_the_future() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()
    assert await settled(fut, 0.01) is False  # timed out: the future is left as it was
    assert not fut.done()
    loop.call_soon(fut.set_result, 7)
    assert await settled(fut, None) is True
    assert fut.result() == 7
    assert await settled(fut, 0) is True  # already done: no wait at all


async def test_settled_passes_a_cancellation_on_and_leaves_the_future_alone() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()
    waiting = asyncio.ensure_future(settled(fut, 60))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not fut.done() and not fut.cancelled()
    fut.set_exception(RuntimeError("its owner reads it"))  # no callback of ours is left on it
    with pytest.raises(RuntimeError):
        fut.result()


async def test_a_connect_and_close_makes_one_task_the_reader(server) -> None:
    url = server()
    loop = asyncio.get_running_loop()
    made: list[str] = []
    before = loop.get_task_factory()

    def count(loop: asyncio.AbstractEventLoop, coro, **kw):  # type: ignore[no-untyped-def]
        made.append(coro.__qualname__)
        return asyncio.Task(coro, loop=loop, **kw)

    loop.set_task_factory(count)
    try:
        client = await connect(url, reconnection=False, timeout=scaled(5))
        assert client.connected
        await client.close()
    finally:
        loop.set_task_factory(before)
    assert made == ["Connection._run"]  # was 2: a task waited on the CONNECT answers


async def test_a_connect_never_answered_is_a_timeout_after_its_timeout() -> None:
    with Rogue(never_connects) as url:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await connect(url, reconnection=False, timeout=0.3)
        assert time.monotonic() - started >= 0.3


async def test_a_refused_namespace_among_two_is_connect_refused(server) -> None:
    url = server()
    with pytest.raises(ConnectRefused):
        await connect(url, namespaces=["/", "/no-such-namespace"], reconnection=False,
                      timeout=scaled(5))  # fmt: skip


async def _silent_server() -> tuple[asyncio.Server, str]:
    """Accepts TCP and reads, never answers the upgrade request."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    srv = await asyncio.start_server(hold, "127.0.0.1", 0)
    return srv, f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/socket.io/"


async def test_an_upgrade_never_answered_fails_after_its_timeout_as_before() -> None:
    """The WebSocket open's inline timeout: the same ConnectFailed as asyncio.timeout gave,
    the task left uncancelled (a later await in it is not cancelled)."""
    srv, url = await _silent_server()
    try:
        started = time.monotonic()
        with pytest.raises(ConnectFailed, match=r"^.*TimeoutError"):
            await ProtocolTransport.open(url, timeout=0.2)
        assert time.monotonic() - started >= 0.2
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        await asyncio.sleep(0)  # no cancellation left pending on this task
    finally:
        srv.close()


async def test_an_outer_timeout_stays_the_outer_ones() -> None:
    """A caller's own asyncio.timeout that expires first is its TimeoutError (raised by its
    block), not the open's ConnectFailed; a plain cancel stays a cancel."""
    srv, url = await _silent_server()
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await ProtocolTransport.open(url, timeout=30)
        opening = asyncio.ensure_future(ProtocolTransport.open(url, timeout=30))
        await asyncio.sleep(0.05)
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
    finally:
        srv.close()


async def _ignores_root_refuses_x(request: web.Request) -> web.StreamResponse:
    """Engine.IO OPEN; CONNECT ``/`` never answered, CONNECT ``/x`` refused."""

    async def on_open(ws: web.WebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and msg.data.startswith("40/x,"):
                await ws.send_str('44/x,{"message":"not here"}')

    return await _websocket(request, on_open)


async def test_a_refusal_is_raised_without_waiting_for_an_earlier_namespace() -> None:
    """Before, the namespaces were awaited in order: ``/`` (never answered) held the ``/x``
    refusal until the timeout (TimeoutError); now the refusal is raised when it comes."""
    with Rogue(_ignores_root_refuses_x) as url:
        with pytest.raises(ConnectRefused, match="not here"):
            await connect(url, namespaces=["/", "/x"], reconnection=False, timeout=scaled(20))
