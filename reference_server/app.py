"""The reference server application: aiohttp app, endpoints, lifecycle.

``create_app(config)`` builds an :class:`aiohttp.web.Application` with

* ``/socket.io/``: Engine.IO v4 + Socket.IO v5 with the docs/events.md namespaces;
* ``/engine.io/``: a pure Engine.IO echo endpoint (the official Engine.IO suite's harness);
* ``POST /notifications`` and ``GET /notifications``.

``run(config)`` serves it on uvloop (when installed), prints the one start line and
stops cleanly on SIGTERM/SIGINT (every connection closed with ``server shutting down``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from typing import Any

from aiohttp import web

from reference_server.config import ServerConfig
from reference_server.deadlines import BodyTimeout, answer_and_close, handler_factory, read_body
from reference_server.engine import EngineEndpoint
from reference_server.namespaces import admin, chat, custom, main
from reference_server.namespaces.admin import CONTRACT_NAMESPACES
from reference_server.redis_adapter import ClusterUnavailable, RedisAdapter, RedisLink
from reference_server.sio import SocketIOServer
from reference_server.state import AppState, normalize_user_id
from reference_server.transport import EngineConnection
from wsbench.protocol.events import DisconnectReason, MessageReceived, SessionEvent
from wsbench.protocol.server import EioServerSession
from wsbench.protocol.socketio import loads as strict_loads

__all__ = ["create_app", "run", "serve", "ServerConfig", "STATE_KEY"]

log = logging.getLogger(__name__)

STATE_KEY = web.AppKey("wsbench_state", AppState)
ENDPOINTS_KEY = web.AppKey("wsbench_endpoints", list)


class EchoSink:
    """``/engine.io/``: every message is sent back as is, text as text, binary as binary."""

    def on_event(self, conn: EngineConnection, event: SessionEvent) -> None:
        session = conn.session
        if isinstance(event, MessageReceived) and isinstance(session, EioServerSession):
            session.send_message(event.data)


def create_app(config: ServerConfig | None = None) -> web.Application:
    """Build the aiohttp application for ``config`` (defaults: docs/events.md)."""
    config = config or ServerConfig()
    # the notifications endpoint answers 413 itself; engine.io POSTs are read with their own limit
    app = web.Application(client_max_size=config.max_payload + 1)
    io = SocketIOServer(config)
    link = _cluster(config, io)
    state = AppState(config, io)
    for module in (main, chat, admin, custom):
        module.install(state)
    sio_endpoint = EngineEndpoint(config, io, io.session_factory)
    eio_endpoint = EngineEndpoint(config, EchoSink())
    app[STATE_KEY] = state
    app[ENDPOINTS_KEY] = [sio_endpoint, eio_endpoint]

    async def on_startup(app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        io.loop_time = loop.time
        if link is not None:
            await link.start()  # before the start line; ClusterUnavailable stops the start
        interval = config.app_heartbeat_interval / 1000
        if interval > 0:

            def tick() -> None:
                main.heartbeat_round(state)
                handle[0] = loop.call_later(interval, tick)

            handle = [loop.call_later(interval, tick)]
            app[HEARTBEAT_KEY] = handle

    async def on_shutdown(app: web.Application) -> None:
        handle = app.get(HEARTBEAT_KEY)
        if handle:
            handle[0].cancel()
        for endpoint in app[ENDPOINTS_KEY]:
            for conn in list(endpoint.connections.values()):
                conn.close(DisconnectReason.SERVER_SHUTTING_DOWN)
        await asyncio.sleep(0)
        if link is not None:
            await link.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.router.add_route("*", "/socket.io/", sio_endpoint.handle)
    app.router.add_route("*", "/engine.io/", eio_endpoint.handle)
    notifications = _Notifications(state)
    app.router.add_route("*", "/notifications", notifications.handle)
    return app


HEARTBEAT_KEY = web.AppKey("wsbench_heartbeat", list)


def _cluster(config: ServerConfig, io: SocketIOServer) -> RedisLink | None:
    """With ``--adapter``: the Redis link, and a :class:`RedisAdapter` for every contract
    namespace (created before the namespace modules install their handlers)."""
    if config.adapter is None:
        return None
    link = RedisLink(config.adapter)
    for name in CONTRACT_NAMESPACES:
        io.of(name).adapter = RedisAdapter(name, config, link)
    return link


class _Notifications:
    """HTTP ``POST/GET /notifications`` (docs/events.md "Notifications")."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.cors = {"Access-Control-Allow-Origin": state.config.cors_origin}

    def _json(self, status: int, body: Any) -> web.Response:
        return web.Response(
            status=status,
            text=json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False),
            content_type="application/json",
            headers=self.cors,
        )

    def _claims(self, request: web.Request) -> dict[str, Any] | web.Response | None:
        """``None`` when auth is off (the open default: a loopback test convenience), else the
        claims of ``Authorization: Bearer <HS256 JWT>`` or the 401 answer."""
        secret = self.state.config.jwt_secret
        if not secret or request.method == "OPTIONS":
            return None
        import jwt  # PyJWT, only needed with --jwt-secret

        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self._json(401, {"error": "Authentication error"})
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return self._json(401, {"error": "Invalid token"})
        return claims if isinstance(claims, dict) else {}

    async def handle(self, request: web.Request) -> web.Response:
        if request.method == "OPTIONS":
            return web.Response(
                status=204,
                headers={
                    **self.cors,
                    "Access-Control-Allow-Methods": "GET, POST",
                    "Access-Control-Allow-Headers": "Content-Type, Authorization",
                },
            )
        claims = self._claims(request)
        if isinstance(claims, web.Response):
            return claims
        if request.method == "GET":
            user = request.query.get("userId")
            since = request.query.get("since", "0")
            if not user:
                return self._json(400, {"error": "userId is required"})
            if claims is not None and claims.get("admin") is not True:
                if normalize_user_id(claims.get("userId")) != user:
                    return self._json(403, {"error": "Not authorized: a user reads only their own"})
            try:
                since_n = int(since)
            except ValueError:
                return self._json(400, {"error": "since must be an integer"})
            return self._json(200, self.state.notifications_since(user, since_n))
        if request.method != "POST":
            return self._json(405, {"error": "method not allowed"})
        if claims is not None and claims.get("admin") is not True:
            return self._json(403, {"error": "Not authorized: posting needs the admin claim"})
        limit = self.state.config.max_payload
        if request.content_length is not None and request.content_length > limit:
            return self._json(413, {"error": f"body larger than {limit} bytes"})
        try:
            raw = await read_body(request, limit, self.state.config.body_timeout)
        except BodyTimeout as exc:
            return await answer_and_close(request, self._json(408, {"error": str(exc)}))
        if len(raw) > limit:
            return self._json(413, {"error": f"body larger than {limit} bytes"})
        try:
            # strict: no NaN/Infinity, no 1e400, at most MAX_JSON_DEPTH deep (issue 9 #4): a
            # stored value that cannot be written back would break GET and `fetch notifications`
            body = strict_loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            return self._json(400, {"error": f"body is not JSON: {str(exc)[:100]}"})
        if not isinstance(body, dict):
            return self._json(400, {"error": "body must be a JSON object"})
        try:
            note, user = self.state.notify(body)
        except ValueError as exc:
            return self._json(400, {"error": str(exc)})
        except OverflowError as exc:
            return self._json(413, {"error": str(exc)})
        main_nsp = self.state.io.of("/")
        room = f"user:{user}"
        delivered = main_nsp.adapter.members(room)
        main_nsp.to(room).emit("notification", note)
        return self._json(201, {"id": note["id"], "delivered": delivered})


async def serve(config: ServerConfig, started: asyncio.Future[int] | None = None) -> None:
    """Serve until cancelled or signalled; prints the start line (flushed)."""
    app = create_app(config)
    runner = web.AppRunner(
        app,
        handler_cancellation=True,
        access_log=None,
        shutdown_timeout=2.0,
        keepalive_timeout=config.idle_timeout / 1000,  # --idle-timeout (0: never)
    )
    await runner.setup()
    loop = asyncio.get_running_loop()
    assert runner.server is not None
    # not web.TCPSite: its protocol is aiohttp's RequestHandler, ours adds the head deadline
    server = await loop.create_server(
        handler_factory(runner.server, config.header_timeout),
        config.host,
        config.port,
        reuse_address=True,
    )
    port = config.port
    if server is not None and server.sockets:  # type: ignore[attr-defined]
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before the start line: a stop right after it
        try:  # must be a clean one, not death by signal
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    print(f"wsbench reference server listening on http://{config.host}:{port}", flush=True)
    if started is not None and not started.done():
        started.set_result(port)
    try:
        await stop.wait()
    finally:
        server.close()
        await runner.cleanup()


def run(config: ServerConfig | None = None) -> int:
    """Run the server in this process until SIGTERM/SIGINT; returns the exit status (0)."""
    config = config or ServerConfig()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        uvloop = None  # type: ignore[assignment]
    try:
        if uvloop is not None:
            uvloop.run(serve(config))
        else:
            asyncio.run(serve(config))
    except ClusterUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
