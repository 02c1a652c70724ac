"""An Engine.IO v4 endpoint on aiohttp: handshake, long-polling, WebSocket, upgrade.

Theory of operation
-------------------
:class:`EngineEndpoint` answers every request under one path (``/socket.io/`` or
``/engine.io/``). It validates the query the way the reference server (Node
engine.io ``Server.verify``) does and answers errors with its JSON bodies::

    400 {"code":0,"message":"Transport unknown"}
    400 {"code":1,"message":"Session ID unknown"}
    400 {"code":2,"message":"Bad handshake method"}
    400 {"code":3,"message":"Bad request"}
    400 {"code":5,"message":"Unsupported protocol version"}

Requests with a ``sid`` are routed to that session's :class:`EngineConnection`;
requests without one open a session (GET polling, or a WebSocket). A WebSocket
with the sid of a polling session probes an upgrade; a WebSocket for a session
that is already on (or upgrading to) WebSocket is accepted and closed at once, as
Node does. A duplicate GET or POST answers 400 and closes the session; a POST body
over ``maxPayload`` answers 413 and closes the session; a successful POST answers
``ok``.

Every request handler is a boundary: nothing internal reaches the wire.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable

from aiohttp import WSMsgType, web

from reference_server.config import ServerConfig
from reference_server.deadlines import BodyTimeout, answer_and_close, read_body
from reference_server.transport import EngineConnection, EventSink
from wsbench.protocol.events import DisconnectReason
from wsbench.protocol.server import EioServerSession, ServerSession, Transport

__all__ = ["EngineEndpoint", "new_id"]

log = logging.getLogger(__name__)

TRANSPORT_UNKNOWN = (0, "Transport unknown")
UNKNOWN_SID = (1, "Session ID unknown")
BAD_HANDSHAKE_METHOD = (2, "Bad handshake method")
BAD_REQUEST = (3, "Bad request")
UNSUPPORTED_PROTOCOL_VERSION = (5, "Unsupported protocol version")

SessionFactory = Callable[[str, Transport, float], EioServerSession | ServerSession]


def new_id() -> str:
    """A 20-character URL-safe random id (like engine.io's base64id)."""
    return secrets.token_urlsafe(15)


class EngineEndpoint:
    """All Engine.IO sessions of one path. ``sink`` receives their events."""

    def __init__(
        self, config: ServerConfig, sink: EventSink, factory: SessionFactory | None = None
    ) -> None:
        self.config = config
        self.sink = sink
        self.connections: dict[str, EngineConnection] = {}
        self.factory = factory or self._eio_session
        self._cors = {
            "Access-Control-Allow-Origin": config.cors_origin,
            "Access-Control-Allow-Methods": "GET, POST",
        }
        if config.cors_origin != "*":
            self._cors["Access-Control-Allow-Credentials"] = "true"
            self._cors["Vary"] = "Origin"

    def _eio_session(self, sid: str, transport: Transport, now: float) -> EioServerSession:
        c = self.config
        return EioServerSession(
            sid,
            transport,
            now,
            ping_interval=c.ping_interval,
            ping_timeout=c.ping_timeout,
            max_payload=c.max_payload,
            upgrade_timeout=c.upgrade_timeout,
        )

    # -- responses ------------------------------------------------------------------------

    def _error(self, error: tuple[int, str], status: int = 400) -> web.Response:
        code, message = error
        return web.Response(
            status=status,
            text=json.dumps({"code": code, "message": message}, separators=(",", ":")),
            content_type="application/json",
            headers=self._cors,
        )

    def _text(self, body: str, status: int = 200) -> web.Response:
        return web.Response(
            status=status, text=body, content_type="text/plain", charset="utf-8", headers=self._cors
        )

    # -- entry point ----------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except (asyncio.CancelledError, web.HTTPException):
            raise
        except Exception:
            log.exception("! engine.io request failed")
            ws = request.get(_WS_KEY)
            if ws is not None:
                # the stream is upgraded: an HTTP answer now would be garbage inside it
                await _abort_ws(ws)
                return ws
            return self._error(BAD_REQUEST, 500)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "OPTIONS":
            headers = dict(self._cors)
            asked = request.headers.get("Access-Control-Request-Headers")
            if asked:
                headers["Access-Control-Allow-Headers"] = asked
            return web.Response(status=204, headers=headers)
        query = request.query
        transport = query.get("transport")
        # engine.io Server.verify: transport first, then protocol version, then sid/method
        if transport not in ("polling", "websocket"):
            return self._error(TRANSPORT_UNKNOWN)
        if query.get("EIO") != "4":
            return self._error(UNSUPPORTED_PROTOCOL_VERSION)
        is_ws = request.headers.get("Upgrade", "").lower() == "websocket"
        if (transport == "websocket") != is_ws:
            return self._error(BAD_REQUEST)
        sid = query.get("sid")
        if sid is not None:
            conn = self.connections.get(sid)
            if conn is None:
                return self._error(UNKNOWN_SID)
            if is_ws:
                return await self._websocket_probe(request, conn)
            return await self._polling(request, conn)
        if request.method != "GET":
            return self._error(BAD_HANDSHAKE_METHOD)
        if is_ws:
            return await self._websocket_open(request)
        return self._polling_open()

    # -- long-polling ---------------------------------------------------------------------

    def _new_connection(self, transport: Transport) -> EngineConnection:
        sid = new_id()
        loop = asyncio.get_running_loop()
        session = self.factory(sid, transport, loop.time())
        return EngineConnection(session, self.sink, self.config, self.connections)

    def _polling_open(self) -> web.Response:
        conn = self._new_connection(Transport.POLLING)
        conn.pump()  # queues OPEN into the poll buffer
        return self._text(conn.take_poll_body())

    async def _polling(self, request: web.Request, conn: EngineConnection) -> web.Response:
        session = conn.session
        if session.transport is not Transport.POLLING:
            # spec "Upgrade": once upgraded, polling requests on that sid get 400
            return self._error(BAD_REQUEST)
        if request.method == "GET":
            return await self._poll_get(conn)
        if request.method == "POST":
            return await self._poll_post(request, conn)
        return self._error(BAD_REQUEST)

    async def _poll_get(self, conn: EngineConnection) -> web.Response:
        if conn.pending_get is not None:
            # spec: "a second concurrent GET ... -> 400 and the session is closed"
            conn.on_transport_gone(DisconnectReason.TRANSPORT_ERROR, "overlapping GET")
            return self._error(BAD_REQUEST)
        if conn.poll_buffer:
            return self._text(conn.take_poll_body())
        if conn.session.upgrading:
            return self._text("6")  # release the client so it can finish the upgrade
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        conn.pending_get = fut
        try:
            body = await fut
        except asyncio.CancelledError:
            # Node: "poll connection closed prematurely" ends the session
            conn.pending_get = None
            conn.on_transport_gone(DisconnectReason.TRANSPORT_ERROR, "poll closed prematurely")
            raise
        conn.pending_get = None
        return self._text(body)

    async def _poll_post(self, request: web.Request, conn: EngineConnection) -> web.Response:
        if conn.posting:
            conn.on_transport_gone(DisconnectReason.TRANSPORT_ERROR, "overlapping POST")
            return self._error(BAD_REQUEST)
        if request.content_type == "application/octet-stream":
            # spec: raw binary over polling is v3 only; Node v4 rejects it ("invalid content")
            conn.on_transport_gone(DisconnectReason.TRANSPORT_ERROR, "invalid content")
            return self._error(BAD_REQUEST)
        limit = self.config.max_payload
        length = request.content_length
        if length is not None and length > limit:
            conn.on_transport_gone(DisconnectReason.TRANSPORT_ERROR, "payload too large")
            return self._error(BAD_REQUEST, 413)
        conn.posting = True
        try:
            body = await read_body(request, limit, self.config.body_timeout)
        except BodyTimeout:
            conn.on_transport_gone(DisconnectReason.TRANSPORT_ERROR, "body timeout")
            # the rest of the body may still come: answer, then close the connection
            return await answer_and_close(request, self._error(BAD_REQUEST, 408))
        finally:
            conn.posting = False
        if len(body) > limit:
            conn.on_transport_gone(DisconnectReason.TRANSPORT_ERROR, "payload too large")
            return self._error(BAD_REQUEST, 413)
        if conn.session.closed:
            return self._error(UNKNOWN_SID)
        session = conn.session
        try:
            session.receive_payload(body, conn.now())
            eio = session.eio if isinstance(session, ServerSession) else session
            reason = eio.close_reason
            conn.pump()
        except Exception:
            # never keep a session whose payload was half handled: close it, then answer 500
            log.exception("! polling payload of %s failed", conn.sid)
            conn.on_transport_gone(DisconnectReason.TRANSPORT_ERROR, "internal error")
            return self._error(BAD_REQUEST, 500)
        if reason is DisconnectReason.PARSE_ERROR:
            return self._error(BAD_REQUEST)
        return self._text("ok")

    # -- WebSocket ------------------------------------------------------------------------

    def _ws_response(self) -> web.WebSocketResponse:
        # compress=False: frames are written raw, so permessage-deflate must not be negotiated
        return web.WebSocketResponse(
            max_msg_size=self.config.max_payload, compress=False, autoping=True
        )

    async def _websocket_open(self, request: web.Request) -> web.WebSocketResponse:
        ws = self._ws_response()
        request[_WS_KEY] = ws
        await ws.prepare(request)
        transport = request.transport
        if transport is None:
            return ws
        conn = self._new_connection(Transport.WEBSOCKET)
        conn.attach_ws(ws, transport)
        conn.pump()
        await self._read_loop(ws, conn)
        return ws

    async def _websocket_probe(
        self, request: web.Request, conn: EngineConnection
    ) -> web.WebSocketResponse:
        ws = self._ws_response()
        request[_WS_KEY] = ws
        await ws.prepare(request)
        transport = request.transport
        if transport is None or not conn.session.can_upgrade() or conn.probe_ws is not None:
            # engine.io onWebSocket: already upgrading or upgraded -> close the new socket
            await ws.close()
            return ws
        conn.probe_ws, conn.probe_wt = ws, transport
        session = conn.session
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                    if conn.ws is ws:  # upgraded: this is now the session's transport
                        if not self._receive_ws(ws, conn, msg.data):
                            break
                    else:
                        session.receive_probe(msg.data, conn.now())
                        conn.pump()
                        if conn.ws is not ws and not session.upgrading:
                            break  # the probe failed (or the session closed)
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            if conn.ws is ws:
                conn.on_transport_gone(_ws_reason(ws), "websocket closed")
            elif conn.probe_ws is ws:
                conn.probe_ws = conn.probe_wt = None
                session.abort_upgrade()
                conn.pump()
        if not ws.closed:
            await ws.close()
        return ws

    async def _read_loop(self, ws: web.WebSocketResponse, conn: EngineConnection) -> None:
        session = conn.session
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                    if not self._receive_ws(ws, conn, msg.data) or session.closed:
                        break
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            conn.on_transport_gone(_ws_reason(ws), "websocket closed")

    def _receive_ws(
        self, ws: web.WebSocketResponse, conn: EngineConnection, data: str | bytes
    ) -> bool:
        """Hand one frame to the session; False (connection closed) if that failed unexpectedly.

        A boundary: a bug met while handling one packet closes that connection (1011), never
        writes an HTTP answer into the upgraded stream, and never touches other connections.
        """
        try:
            conn.session.receive_message(data, conn.now())
            conn.pump()
            return True
        except Exception:
            log.exception("! websocket message of %s failed", conn.sid)
            conn.on_transport_gone(DisconnectReason.TRANSPORT_ERROR, "internal error")
            conn.loop.create_task(_abort_ws(ws))
            return False


_WS_KEY = "wsbench_ws"  # request key: the WebSocketResponse once the upgrade is under way


async def _abort_ws(ws: web.WebSocketResponse) -> None:
    """Close an upgraded stream after an internal error: 1011, else drop the TCP connection."""
    try:
        if ws.prepared and not ws.closed:
            await asyncio.wait_for(ws.close(code=1011, message=b"internal error"), 2.0)
    except Exception:  # noqa: BLE001 - the stream is already broken; nothing more to tell
        pass


def _ws_reason(ws: web.WebSocketResponse) -> DisconnectReason:
    code = ws.close_code
    if code is None or code in (1000, 1001, 1005):
        return DisconnectReason.TRANSPORT_CLOSE
    return DisconnectReason.TRANSPORT_ERROR
