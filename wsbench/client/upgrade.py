"""The polling -> WebSocket upgrade of a :class:`~wsbench.client.connection.Connection`.

Theory of operation
-------------------
Spec "Upgrade": while polling runs, open a WebSocket with the same sid, send
``2probe``, wait for ``3probe``, pause polling (the server releases the
pending GET with a NOOP), send ``5`` on the WebSocket and continue there. The
sans-I/O session decides (``start_upgrade``, ``receive_probe``,
``finish_upgrade``); this short-lived task moves bytes, and the connection's
reader task, which waits on ``conn._switch`` once polling paused, continues on
the new transport. Any failure before the switch leaves the session on polling.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from wsbench.client.polling import PollingTransport
from wsbench.client.transport import engineio_url
from wsbench.exceptions import TransportError
from wsbench.protocol.client import EioState

if TYPE_CHECKING:
    from wsbench.client.connection import Connection

__all__ = ["upgrade"]

logger = logging.getLogger(__name__)


async def upgrade(conn: Connection) -> None:
    """Upgrade ``conn`` from polling to WebSocket (see the module docstring)."""
    session = conn.session
    polling = conn._transport
    assert isinstance(polling, PollingTransport) and session.sid is not None
    url = engineio_url(conn.url, conn.path, "websocket", session.sid, conn.query)
    try:
        ws: Any = await conn._open_websocket(url, max(1_000_000, polling.max_payload))
    except TransportError as exc:
        logger.debug("upgrade failed: %s", exc)
        return
    if session.state is not EioState.OPEN or conn._transport is not polling:
        await ws.close()
        return
    ws.send([session.start_upgrade()])
    answer = await ws.receive_one(conn.timeout)
    if answer is None or not session.receive_probe(answer, conn._time()):
        session.abort_upgrade()
        conn._pump()
        await ws.close()
        return
    conn._switch = conn._loop.create_future()
    await polling.pause()
    if session.state is not EioState.OPEN:
        await ws.close()
        conn._switch.set_result(None)
        return
    ws.send([session.finish_upgrade()])
    conn._transport = ws
    conn.flush()
    conn._pump()
    conn._switch.set_result(None)
