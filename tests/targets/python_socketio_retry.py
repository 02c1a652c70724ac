"""A python-socketio server with the contract's ``join`` and ``broadcast room``: a conformance
*target* for ``contract.acks.retried-emit-acked`` that wsbench did not write.

    python tests/targets/python_socketio_retry.py --port 0 [--dedupe]

``join`` (room) acks ``{ok: true, room}``; ``broadcast room`` ({room, data}) emits ``event``
data to the room and acks ``{ok: true}``; the harness ``message-with-ack`` acks its
arguments. With ``--dedupe`` the server treats a ``broadcast room`` whose payload it already
handled from that socket as a duplicate: no broadcast, an empty ack (python-socketio acks
every packet with an id), the "exactly-once by
payload" server that strands socket.io-client's at-least-once retries. Prints ``wsbench
python-socketio retry target listening on http://HOST:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import socketio
from aiohttp import web
from python_socketio_app import serve_app  # run as a script: this folder is on sys.path


def build_app(dedupe: bool = False) -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
    app = web.Application()
    sio.attach(app, socketio_path="socket.io")
    seen: set[tuple[str, str]] = set()

    @sio.on("message-with-ack")
    async def message_with_ack(sid: str, *args: Any) -> Any:
        return args

    @sio.on("join")
    async def join(sid: str, room: str) -> Any:
        await sio.enter_room(sid, room)
        return {"ok": True, "room": room}

    @sio.on("broadcast room")
    async def broadcast_room(sid: str, payload: dict[str, Any]) -> Any:
        key = (sid, json.dumps(payload, sort_keys=True))
        if dedupe and key in seen:
            return None  # fault: the retry is taken for a duplicate: no broadcast, an empty ack
        seen.add(key)
        await sio.emit("event", payload["data"], room=payload["room"])
        return {"ok": True}

    return app


async def serve(host: str, port: int, dedupe: bool) -> None:
    await serve_app(build_app(dedupe), host, port, "wsbench python-socketio retry target")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--dedupe", action="store_true",
                        help="leave a repeated 'broadcast room' payload unanswered")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.dedupe))
    return 0


if __name__ == "__main__":
    sys.exit(main())
