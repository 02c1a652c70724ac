"""Disruptions a virtual user causes or rides out: faults, stalls, reconnection.

Theory of operation
-------------------
* :func:`fault` — ``drop_transport`` aborts the TCP connection without a close frame
  (:meth:`Connection.abort`); ``server_disconnect`` writes one malformed Socket.IO packet
  (:meth:`Connection.send_raw`), which a strict server answers by closing the session;
  ``restart_server`` asks the driver to restart the embedded server. Each then waits
  for the automatic reconnection, bounded by ``reconnect_within``.
* :func:`stall` — a slow consumer: :meth:`Connection.pause_reading` for the step's
  duration; reading resumes when it ends or when the run cancels it.
* :func:`reconnect` — wait until every wanted namespace is connected again (opening a
  new connection for an explicit ``reconnect`` after a ``disconnect``); a namespace not
  back in time is a ``connect_failed`` violation.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from wsbench.exceptions import InvalidState
from wsbench.metrics import now_ns
from wsbench.oracle import ViolationKind
from wsbench.scenario import model as m

if TYPE_CHECKING:
    from wsbench.scenario.flow import VirtualUser

__all__ = ["fault", "reconnect", "stall"]


async def reconnect(vu: VirtualUser, within: float, *, explicit: bool = False) -> None:
    """Wait until every wanted namespace is connected again (reconnecting if needed)."""
    d = vu.d
    t0 = now_ns()
    wanted = list(vu.sockets)
    if explicit and (vu.conn is None or not vu.conn.open):
        await vu.close()
        vu.sockets = {}
        for ns in wanted:
            vu.down_since.setdefault(ns, t0)
        await vu.connect(m.Connect(namespaces=tuple(wanted), timeout=within))
        return
    try:
        async with asyncio.timeout(within):
            for ns in wanted:
                while not vu.sockets[ns].connected:
                    await asyncio.sleep(0.05)
    except TimeoutError:
        d.reconnect_failed()
        for ns in wanted:
            if not vu.sockets[ns].connected:
                d.violation(
                    ViolationKind.CONNECT_FAILED,
                    vu.index,
                    ns,
                    "",
                    f"not reconnected within {within:g} s",
                )


async def fault(vu: VirtualUser, step: m.Fault) -> None:
    d = vu.d
    conn = vu.conn
    if step.kind is m.FaultKind.RESTART_SERVER:
        await d.restart_server(step.downtime)
        return
    if conn is None or not conn.open:
        return
    d.metrics.incr(f"faults.{step.kind.value}")
    if step.kind is m.FaultKind.DROP_TRANSPORT:
        conn.abort()
    else:  # SERVER_DISCONNECT: a malformed Socket.IO packet; a strict server closes
        try:
            conn.send_raw("4~wsbench-fault: not a socket.io packet")
        except InvalidState:
            return
    await asyncio.sleep(0.05)
    await reconnect(vu, step.reconnect_within)


async def stall(vu: VirtualUser, step: m.Stall) -> None:
    """Stop reading for ``step.duration`` (a slow consumer); reading resumes even if cancelled."""
    conn = vu.conn
    if conn is None:
        return
    vu.d.metrics.incr("stalls")
    conn.pause_reading()
    try:
        await asyncio.sleep(step.duration)
    finally:
        if vu.conn is conn:
            conn.resume_reading()
