"""Tiny misbehaving servers for the driver's reporting tests, each on a real loopback socket.

A :class:`Rogue` runs an aiohttp application on its own event loop in a thread (the run
under test owns the main thread's loop) and stops it on exit. The handlers below are the
smallest servers that misbehave in one way each: an Engine.IO server
that never answers the Socket.IO CONNECT, one whose polling GET answers a body larger
than the maxPayload it announced, one that closes the websocket with 1009 once connected,
one that cuts the TCP connection in the middle of a frame, and one that stops pinging.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def open_packet(sid: str = "rogue", *, max_payload: int = 1_000_000, ping_ms: int = 25000,
                timeout_ms: int = 20000) -> str:  # fmt: skip
    return "0" + json.dumps(
        {
            "sid": sid,
            "upgrades": [],
            "pingInterval": ping_ms,
            "pingTimeout": timeout_ms,
            "maxPayload": max_payload,
        }
    )


class Rogue:
    """``with Rogue(handler) as url:`` serves ``handler`` for every path on 127.0.0.1."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _start(self) -> str:
        async def any_path(request: web.Request) -> web.StreamResponse:
            self.requests.append(request.path_qs)
            return await self.handler(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", any_path)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    def __enter__(self) -> str:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self.url

    def __exit__(self, *exc: Any) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


async def _websocket(request: web.Request, on_open: Callable[[web.WebSocketResponse], Awaitable[None]],
                     **open_args: Any) -> web.StreamResponse:  # fmt: skip
    ws = web.WebSocketResponse(max_msg_size=0)
    await ws.prepare(request)
    await ws.send_str(open_packet(**open_args))
    await on_open(ws)
    return ws


async def _ignore(ws: web.WebSocketResponse) -> None:
    async for msg in ws:
        if msg.type == WSMsgType.TEXT and msg.data == "2":
            await ws.send_str("3")


async def never_connects(request: web.Request) -> web.StreamResponse:
    """Engine.IO handshake on polling and websocket; the Socket.IO CONNECT is never answered."""
    if request.query.get("transport") == "websocket":
        return await _websocket(request, _ignore)
    if request.method == "GET" and "sid" not in request.query:
        return web.Response(text=open_packet(), content_type="text/plain")
    if request.method == "POST":
        await request.read()
        return web.Response(text="ok", content_type="text/plain")
    await asyncio.sleep(20)  # a long poll that never brings anything
    return web.Response(text="6", content_type="text/plain")


def closes_with(code: int) -> Handler:
    """Websocket: answer CONNECT, then close with ``code`` (1009: message too big)."""

    async def on_open(ws: web.WebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and msg.data.startswith("40"):
                await ws.send_str('40{"sid":"s-rogue"}')
                await ws.close(code=code, message=b"too big")
                return

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.query.get("transport") != "websocket":
            return web.Response(text=open_packet(), content_type="text/plain")
        return await _websocket(request, on_open)

    return handler


def mid_frame() -> Handler:
    """Websocket: answer CONNECT, then write half a frame and cut the TCP connection."""

    async def on_open(ws: web.WebSocketResponse, request: web.Request) -> None:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and msg.data.startswith("40"):
                await ws.send_str('40{"sid":"s-rogue"}')
                transport = request.transport
                assert transport is not None
                transport.write(b"\x81\x7e\x01\x00" + b"4" * 10)  # 256 bytes announced, 10 sent
                transport.close()
                return

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.query.get("transport") != "websocket":
            return web.Response(text=open_packet(), content_type="text/plain")
        return await _websocket(request, lambda ws: on_open(ws, request))

    return handler


async def stops_pinging(request: web.Request) -> web.StreamResponse:
    """Websocket: announces pingInterval 200 ms + pingTimeout 200 ms, answers CONNECT, never pings."""

    async def on_open(ws: web.WebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and msg.data.startswith("40"):
                await ws.send_str('40{"sid":"s-rogue"}')

    if request.query.get("transport") != "websocket":
        return web.Response(
            text=open_packet(ping_ms=200, timeout_ms=200), content_type="text/plain"
        )
    return await _websocket(request, on_open, ping_ms=200, timeout_ms=200)


def big_polling_body(size: int, *, chunked: bool, max_payload: int = 100_000) -> Handler:
    """Polling: announces ``max_payload``, answers CONNECT, then a GET body of ``size`` bytes.

    ``chunked``: streamed in 64 KB chunks without Content-Length (``sent`` counts what
    the server managed to write); else one response with its Content-Length.
    """
    # One Engine.IO session per handshake, GETs counted per session. The first session is the
    # run's preflight (a handshake and one CONNECT): it is answered normally; every later
    # session's second GET is the oversized body.
    state = {"sessions": 0, "sent": 0, "most": 0}  # most: the largest one body's bytes
    gets: dict[str, int] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            await request.read()
            return web.Response(text="ok", content_type="text/plain")
        if "sid" not in request.query:
            sid = f"rogue-{state['sessions']}"
            state["sessions"] += 1
            return web.Response(
                text=open_packet(sid, max_payload=max_payload), content_type="text/plain"
            )
        sid = request.query["sid"]
        gets[sid] = gets.get(sid, 0) + 1
        if gets[sid] == 1:
            return web.Response(text='40{"sid":"s-rogue"}', content_type="text/plain")
        if gets[sid] > 2 or sid == "rogue-0":
            await asyncio.sleep(20)
            return web.Response(text="6", content_type="text/plain")
        if not chunked:
            body = '42["big","' + "x" * size + '"]'
            return web.Response(text=body, content_type="text/plain")
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunk = b"x" * 65536
        sent = 0  # this body's bytes (the kernel's buffers take several MB of it unread)
        try:
            await resp.write(b'42["big","')
            while sent < size:
                await resp.write(chunk)
                sent += len(chunk)
                state["sent"] += len(chunk)
                state["most"] = max(state["most"], sent)
            await resp.write(b'"]')
        except (ConnectionResetError, RuntimeError):
            pass  # the client hung up: what we wanted
        return resp

    handler.state = state  # type: ignore[attr-defined]
    return handler
