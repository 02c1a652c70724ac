"""A peer's burst is one write: the server reads a sender's burst together.

The order checks need copies of one sender back to back at a recipient. Sent a frame per
loop turn, three concurrent senders' frames reached a quiet reference server one at a time,
alternating, and ``broadcast all`` gave 56 same-sender adjacencies from 462 sends
(INFORMATIONAL, 43 %); written as one burst per sender, 1,680 (OK).
"""

from __future__ import annotations

import asyncio

from wsbench.client.raw import RawWebSocket, Transcript


class _Recorder:
    closed = False

    def __init__(self) -> None:
        self.writes: list[list[str | bytes]] = []

    def send(self, messages: list[str | bytes]) -> None:
        self.writes.append(list(messages))


def test_send_many_writes_every_frame_in_one_call() -> None:
    async def main() -> list[list[str | bytes]]:
        ws = RawWebSocket(Transcript(), "ws", auto_pong=True)
        rec = _Recorder()
        ws._ws = rec  # type: ignore[assignment]
        frames: list[str | bytes] = [f'42["e",{i}]' for i in range(8)] + [b"\x01"]
        assert await ws.send_many(frames)
        return rec.writes

    writes = asyncio.run(main())
    assert writes == [[*(f'42["e",{i}]' for i in range(8)), b"\x01"]]


def test_send_many_on_a_closed_socket_sends_nothing() -> None:
    async def main() -> bool:
        ws = RawWebSocket(Transcript(), "ws", auto_pong=True)
        return await ws.send_many(["42[]"])

    assert asyncio.run(main()) is False
