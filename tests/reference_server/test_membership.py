"""Room membership of the Python reference server has one owner: the namespace's adapter.

In process, with the real Socket.IO layer (:class:`reference_server.sio.SocketIOServer`),
a real sans-I/O server session fed CONNECT / DISCONNECT bytes, and a real
:class:`~reference_server.transport.EngineConnection` (polling: writes are queued, no
socket needed). A socket's ``rooms`` is a read-only copy of what the adapter holds.
"""

from __future__ import annotations

import json

import pytest

from reference_server.config import ServerConfig
from reference_server.sio import Socket, SocketIOServer
from reference_server.transport import EngineConnection
from wsbench.protocol.events import DisconnectReason


def _connected(
    io: SocketIOServer, sid: str, recovery_auth: str = ""
) -> tuple[EngineConnection, Socket]:
    session = io.session_factory(sid, "polling", 0.0)
    conn = EngineConnection(session, io, io.config, {})
    session.receive_message("40" + recovery_auth, 0.0)
    conn.pump()
    socket = conn.sockets["/"]
    assert socket.connected
    return conn, socket


async def test_join_and_leave_go_through_the_adapter_only() -> None:
    io = SocketIOServer(ServerConfig())
    nsp = io.of("/")
    _, a = _connected(io, "eio-a")
    _, b = _connected(io, "eio-b")
    a.join("r1")
    a.join("r2")
    b.join("r1")
    assert a.rooms == {a.id, "r1", "r2"} and b.rooms == {b.id, "r1"}
    assert set(nsp.adapter.rooms["r1"]) == {a.id, b.id}
    with pytest.raises(AttributeError):
        a.rooms.add("r3")  # type: ignore[attr-defined]  # a copy: nobody writes it from outside
    a.leave("r1")
    assert a.rooms == {a.id, "r2"} and set(nsp.adapter.rooms["r1"]) == {b.id}
    b.leave("r1")
    assert "r1" not in nsp.adapter.rooms  # an empty room is gone from both maps
    assert nsp.adapter.recipients(["r2"], []) == [a]


async def test_a_disconnect_empties_the_sockets_rooms_and_keeps_them_for_recovery() -> None:
    io = SocketIOServer(ServerConfig(recovery=True))
    nsp = io.of("/")
    conn, a = _connected(io, "eio-a")
    a.join("r1")
    pid = a.pid
    assert pid is not None
    conn.close(DisconnectReason.TRANSPORT_CLOSE)  # the network failed: recoverable
    assert not a.connected and a.rooms == frozenset()
    assert "r1" not in nsp.adapter.rooms and a.id not in nsp.adapter.sockets
    assert nsp.adapter.saved[pid].rooms == {a.id, "r1"}
    # the client comes back with its pid: the same id, back in its rooms
    _, again = _connected(io, "eio-a2", json.dumps({"pid": pid, "offset": "0"}))
    assert again.recovered and again.id == a.id
    assert again.rooms == {a.id, "r1"} and set(nsp.adapter.rooms["r1"]) == {a.id}
