"""A python-socketio server with one binary event: a conformance *target* wsbench did not write.

    python tests/targets/python_socketio_binary.py --port 0 [--parser msgpack] [--corrupt-every N]

Event ``blob`` (bytes, or anything): ``{from: sid, data}`` to every other socket (the semantics
of ``socket.broadcast.emit``) and the ack ``{ok: true}``; the harness ``message-with-ack`` (acked with its arguments). With
``--corrupt-every N`` every N-th ``blob`` it handles is pushed with its last byte flipped (the
fault a binary payload check must name). ``--parser msgpack``: python-socketio's msgpack
serializer (the ``socket.io-msgpack-parser`` wire format). Described by
``tests/conformance/apps/binary.yaml``. Prints ``wsbench python-socketio binary target
listening on http://HOST:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import socketio
from aiohttp import web
from python_socketio_app import serve_app  # run as a script: this folder is on sys.path


def build_app(parser: str = "default", corrupt_every: int = 0) -> web.Application:
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        serializer=parser,
        max_http_buffer_size=1_000_000,
        cors_allowed_origins="*",
    )
    app = web.Application()
    sio.attach(app, socketio_path="socket.io")
    handled = 0

    @sio.on("message-with-ack")
    async def message_with_ack(sid: str, *args: Any) -> Any:
        return args

    @sio.on("blob")
    async def blob(sid: str, data: Any = None) -> Any:
        nonlocal handled
        handled += 1
        if corrupt_every and handled % corrupt_every == 0 and isinstance(data, bytes) and data:
            data = data[:-1] + bytes([data[-1] ^ 0x01])  # fault: one byte flipped
        # one emit per recipient: python-socketio 5.18's group emit (skip_sid=sid) lost the
        # first copies of a burst to every recipient here (default parser: the attachments of
        # two emits interleaved, header, header, buffer, buffer; msgpack: the first copy gone),
        # found by app.root.blob.exactly-once; emitted one socket at a time, none is lost
        for other, _ in list(sio.manager.get_participants("/", None)):
            if other != sid:
                await sio.emit("blob", {"from": sid, "data": data}, to=other)
        return {"ok": True}

    return app


async def serve(host: str, port: int, parser: str, corrupt_every: int) -> None:
    await serve_app(build_app(parser, corrupt_every), host, port, "wsbench python-socketio binary target")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--parser", choices=("default", "msgpack"), default="default")
    parser.add_argument("--corrupt-every", type=int, default=0, metavar="N",
                        help="flip the last byte of every N-th blob (0: never)")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.parser, args.corrupt_every))
    return 0


if __name__ == "__main__":
    sys.exit(main())
