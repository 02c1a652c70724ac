"""A small python-socketio server with the two contract events the fan-out benchmark uses
(``subscribe document`` and ``broadcast room``), on aiohttp + uvloop. Not a test target."""

from __future__ import annotations

import argparse

import socketio
import uvloop
from aiohttp import web


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=3000)
    args = ap.parse_args()
    sio = socketio.AsyncServer(
        async_mode="aiohttp", cors_allowed_origins="*", transports=["websocket"]
    )
    app = web.Application()
    sio.attach(app)

    @sio.on("subscribe document")
    async def subscribe(sid, doc_id):
        room = f"doc:{doc_id}"
        await sio.enter_room(sid, room)
        await sio.emit("document state", {"docId": doc_id, "version": 0, "content": {}}, to=sid)
        return {"ok": True, "room": room}

    @sio.on("broadcast room")
    async def broadcast_room(sid, payload):
        await sio.emit("event", payload["data"], room=payload["room"])
        return {"ok": True}

    async def on_startup(app):
        print(
            f"python-socketio bench server listening on http://{args.host}:{args.port}", flush=True
        )

    app.on_startup.append(on_startup)
    uvloop.install()
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
