"""A closed connection is freed by reference counting alone, with no full collection.

The driver runs its clients inside :func:`~wsbench.client.loop.young_gc_only`: no full
collection while a run goes. A connection that lived through two young collections (any
connection of a real run) is in the old generation, so a reference cycle through it would
keep it in memory after its close until the run ends: a soak with users coming and going
would grow without bound (engineer 59: 200 closed connections survived close plus 20 young
collections; one full collection freed them all). The cycles were the Connection and its
Sockets (``Socket._host``), the transport and its own bound ``_pong`` (``on_ping``), the
transport and the loop's TCP transport (``_tr``), the ack deadlines and the socket's bound
``_expire``, and listeners that name their socket (the scenario driver's do).

Each test connects real clients to the reference server inside ``young_gc_only()``, pushes
them into the old generation (``gc.collect(1)`` twice, as young collections would), closes
them, drops its references and then checks, with ``weakref.ref`` and the collector DISABLED
(reference counting only), that every Connection, Socket and transport object is gone.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import scaled, until
from tests.integrations.support import reference_server_factory
from wsbench.client import connect
from wsbench.client.loop import run, young_gc_only
from wsbench.exceptions import InvalidState
from wsbench.protocol.reconnect import ReconnectPolicy

CLIENTS = 20


@pytest.fixture(scope="module")
def server() -> Iterator[Callable[..., str]]:
    yield from reference_server_factory()


def _watch(client: Any) -> list[tuple[str, weakref.ref]]:
    conn = client.connection
    refs = [("Connection", weakref.ref(conn)), ("transport", weakref.ref(conn._transport))]
    refs += [(f"Socket {ns}", weakref.ref(s)) for ns, s in conn.sockets.items()]
    return refs


def _with_listeners(client: Any) -> None:
    """Listeners as the scenario driver registers them: closures that name their socket."""
    sock = client.socket()
    sock.on("ping", lambda *_: sock.emit("pong"))
    sock.on("connect", lambda: sock.sid)
    sock.on_any(lambda *args: sock.received)


async def _age() -> None:
    """Into the old generation, as two young collections of a run would."""
    await asyncio.sleep(0)
    gc.collect(1)
    gc.collect(1)


def _alive(refs: list[tuple[str, weakref.ref]]) -> list[str]:
    """The watched objects still alive."""
    return [name for name, ref in refs if ref() is not None]


async def _settle(refs: list[tuple[str, weakref.ref]]) -> list[str]:
    """What stays alive once the loop ran the closes' leftovers (connection_lost, done
    callbacks), with the collector off: reference counting only."""
    gc.disable()
    try:
        await until(lambda: not _alive(refs), 2)
        return _alive(refs)
    finally:
        gc.enable()


def _run(coro: Any) -> Any:
    with young_gc_only():
        return run(coro)


@pytest.mark.parametrize("transports", ["websocket", "polling", "polling+upgrade"])
def test_closed_clients_are_freed_without_a_full_collection(server, transports) -> None:
    url = server()

    async def scenario() -> list[str]:
        clients = [
            await connect(url, namespaces=["/", "/chat"], transports=transports,
                          reconnection=False, timeout=scaled(10))
            for _ in range(CLIENTS)
        ]  # fmt: skip
        if transports == "polling+upgrade":
            assert await until(lambda: all(c.transport == "websocket" for c in clients), scaled(10))
        refs: list[tuple[str, weakref.ref]] = []
        for c in clients:
            _with_listeners(c)
            c.socket().emit_with_ack_callback("echo", 1, callback=lambda _: None, timeout=5)
            refs += _watch(c)
        await _age()
        for c in clients:
            await c.close()
        clients.clear()
        del c
        return await _settle(refs)

    alive = _run(scenario())
    assert alive == [], f"{len(alive)} objects kept only by reference cycles: {alive[:6]}"


def test_a_connection_the_server_side_ended_is_freed(server) -> None:
    # no reconnection policy: the reader gives up on its own, nobody calls close()
    url = server()

    async def scenario() -> list[str]:
        clients = [await connect(url, reconnection=False, timeout=scaled(10))
                   for _ in range(CLIENTS)]  # fmt: skip
        refs: list[tuple[str, weakref.ref]] = []
        for c in clients:
            _with_listeners(c)
            refs += _watch(c)
        await _age()
        for c in clients:
            c.connection.abort()  # as a network failure: transport close, no reconnection
        assert await until(lambda: all(c.connection.close_reason for c in clients), 10)
        readers = [c.connection._reader for c in clients]
        assert await until(lambda: all(r is None or r.done() for r in readers), 10)
        clients.clear()
        readers.clear()
        del c
        return await _settle(refs)

    alive = _run(scenario())
    assert alive == [], f"{len(alive)} objects kept only by reference cycles: {alive[:6]}"


def test_a_client_that_reconnected_once_is_freed_with_both_transports(server) -> None:
    url = server()
    policy = ReconnectPolicy(reconnection_delay=0.01, reconnection_delay_max=0.01)

    async def scenario() -> list[str]:
        clients = [await connect(url, reconnection=policy, timeout=scaled(10))
                   for _ in range(5)]  # fmt: skip
        refs: list[tuple[str, weakref.ref]] = []
        for c in clients:
            _with_listeners(c)
            refs += _watch(c)  # the first transport
        await _age()
        for c in clients:
            c.connection.abort()
        assert await until(
            lambda: all(c.connection.reconnects == 1 and c.connected for c in clients),
            10,
        )
        for c in clients:
            refs.append(("second transport", weakref.ref(c.connection._transport)))
        await _age()
        for c in clients:
            await c.close()
        clients.clear()
        del c
        return await _settle(refs)

    alive = _run(scenario())
    assert alive == [], f"{len(alive)} objects kept only by reference cycles: {alive[:6]}"


def test_what_users_read_after_a_close_stays_and_the_verbs_fail_clearly(server) -> None:
    url = server()

    async def scenario() -> None:
        client = await connect(url, reconnection=False, timeout=scaled(10))
        conn = client.connection
        sock = client.socket()
        got: list[Any] = []
        sock.on("reply", got.append)
        await client.close()
        assert conn.close_reason is not None and conn.close_reason.value == "io client disconnect"
        assert conn.sockets == {"/": sock} and not sock.connected and sock.sid is not None
        assert list(conn.violations) == [] and not conn.open
        with pytest.raises(InvalidState):
            sock.emit("late", 1)
        with pytest.raises(InvalidState):
            await sock.call("late", timeout=1)
        await sock.disconnect()  # leaving a namespace already left: a no-op, as before
        with pytest.raises(InvalidState):
            conn.send_raw("4")
        await conn.close()  # idempotent

    _run(scenario())
