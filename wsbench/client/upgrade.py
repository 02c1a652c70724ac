"""The probe of the polling -> WebSocket upgrade, between a session and a new WebSocket.

Theory of operation
-------------------
Spec "Upgrade": while polling runs, open a WebSocket with the same sid, send
``2probe``, wait for ``3probe``, pause polling (the server releases the
pending GET with a NOOP), send ``5`` on the WebSocket and continue there. The
sans-I/O session decides (``start_upgrade``, ``receive_probe``,
``finish_upgrade``). This module owns the first half, :func:`probe`: it sees
the session and the WebSocket it opens through the callable it is given, and
nothing of the connection. The second half (pause polling, ``5``, switch the
transport the reader continues on) is the connection's own state and stays in
:meth:`wsbench.client.connection.Connection._upgrade`. Any failure before the
switch leaves the session on polling.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from wsbench.client.transport import ProbingTransport
from wsbench.exceptions import TransportError
from wsbench.protocol.client import ClientSession, EioState

__all__ = ["probe"]

logger = logging.getLogger(__name__)


async def probe(
    session: ClientSession,
    open_websocket: Callable[[], Awaitable[ProbingTransport]],
    timeout: float,
    clock: Callable[[], float],
) -> ProbingTransport | None:
    """Open a WebSocket for the session's sid and probe it; the WebSocket if ``3probe`` came.

    Args:
        session: an open polling session whose server offers the websocket upgrade.
        open_websocket: opens the WebSocket of ``session.sid`` as it is now.
        timeout: seconds to wait for the probe's answer.
        clock: the time fed to the session.

    Returns ``None``, the WebSocket closed and the session on polling, when it did not
    open, when the session moved on meanwhile (closed, or reconnected under another
    sid) or when the answer was not ``3probe`` (a violation the session queued: the
    caller dispatches its events).
    """
    sid = session.sid
    try:
        ws = await open_websocket()
    except TransportError as exc:
        logger.debug("upgrade failed: %s", exc)
        return None
    if session.state is not EioState.OPEN or session.sid != sid:
        await ws.close()
        return None
    ws.send([session.start_upgrade()])
    answer = await ws.receive_one(timeout)
    if answer is None or not session.receive_probe(answer, clock()):
        session.abort_upgrade()
        await ws.close()
        return None
    return ws
