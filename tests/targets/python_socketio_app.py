"""A python-socketio server implementing the official suites' harness: a conformance *target*.

    python tests/targets/python_socketio_app.py --port 0

Configured as in research conformance.md §7: pingInterval 300 ms, pingTimeout 200 ms (the
official suites' heartbeat; ``--ping-interval``/``--ping-timeout`` in seconds for a test that
checks no heartbeat: a 200 ms pingTimeout closes a checker whose loop a loaded CI machine stalls),
maxPayload 1e6, CORS *, namespaces ``/`` and ``/custom`` (emit ``auth`` with the CONNECT
payload), ``message`` -> ``message-back``, ``message-with-ack`` acked with its arguments,
``always_connect=True``; plus a python-engineio echo endpoint at ``/engine.io/`` for the
Engine.IO suite, and the contract's ``request ack`` trigger for the server-ack checks
(``--harness-only`` leaves it out: a target that offers no contract trigger at all).
It prints ``wsbench python-socketio target listening on http://HOST:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

import engineio
import socketio
from aiohttp import web


def build_app(
    harness_only: bool = False, ping_interval: float = 0.3, ping_timeout: float = 0.2
) -> web.Application:
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_http_buffer_size=1_000_000,
        cors_allowed_origins="*",
        always_connect=True,
    )
    eio = engineio.AsyncServer(
        async_mode="aiohttp",
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_http_buffer_size=1_000_000,
        cors_allowed_origins="*",
    )
    app = web.Application()
    sio.attach(app, socketio_path="socket.io")
    eio.attach(app, engineio_path="engine.io")

    @eio.on("message")
    async def echo(sid: str, data: Any) -> None:
        await eio.send(sid, data)

    for ns in ("/", "/custom"):

        async def connect(
            sid: str, environ: dict[str, Any], auth: Any = None, ns: str = ns
        ) -> None:
            await sio.emit("auth", auth if auth is not None else {}, to=sid, namespace=ns)

        sio.on("connect", connect, namespace=ns)

    @sio.on("message")
    async def message(sid: str, *args: Any) -> None:
        await sio.emit("message-back", args, to=sid)

    @sio.on("message-with-ack")
    async def message_with_ack(sid: str, *args: Any) -> Any:
        return args

    if harness_only:
        return app

    @sio.on("request ack")
    async def request_ack(sid: str, payload: Any) -> Any:
        try:
            response = await sio.call("ack request", payload["data"], to=sid, timeout=5)
        except socketio.exceptions.TimeoutError:
            return {"ok": False, "error": "timeout"}
        return {"ok": True, "response": response}

    return app


async def serve(
    host: str, port: int, harness_only: bool = False, ping_interval: float = 0.3,
    ping_timeout: float = 0.2,
) -> None:
    app = build_app(harness_only, ping_interval, ping_timeout)
    await serve_app(app, host, port, "wsbench python-socketio target")


async def serve_app(app: web.Application, host: str, port: int, name: str) -> None:
    """Serve ``app`` on loopback, print '<name> listening on URL', stop on SIGTERM/SIGINT
    (shared by every python-socketio target here)."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    real = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"{name} listening on http://{host}:{real}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument(
        "--harness-only", action="store_true", help="no contract trigger ('request ack')"
    )
    parser.add_argument("--ping-interval", type=float, default=0.3, help="seconds (0.3: §7)")
    parser.add_argument("--ping-timeout", type=float, default=0.2, help="seconds (0.2: §7)")
    args = parser.parse_args()
    asyncio.run(
        serve(args.host, args.port, args.harness_only, args.ping_interval, args.ping_timeout)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
