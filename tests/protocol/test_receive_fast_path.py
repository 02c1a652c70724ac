"""Issue 14, receive wave 2e: the two levers on the client's broadcast receive path.

* The EVENT hot paths skip ``_deep`` (two ``str.count``) for a message of at most
  ``_SHALLOW`` characters: a message the scanner read whole nests deeper than
  MAX_JSON_DEPTH only with MAX_JSON_DEPTH + 1 opening and as many closing brackets. The
  depth limit still holds exactly at the boundary, on every form of EVENT.
* ``FrameParser.feed`` delivers a chunk that is exactly one final unmasked text frame with
  a 7- or 16-bit length without entering its frame loop; every case next to that shortcut (a kept
  partial frame, an open fragmented message, a size limit, invalid UTF-8, a pause) gives
  what the loop gives.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import pytest

from tests.protocol.test_bounds import connected
from wsbench.protocol import client_namespaces
from wsbench.protocol.client import ClientSession
from wsbench.protocol.events import DisconnectReason, EventReceived, ProtocolViolation
from wsbench.protocol.socketio import MAX_JSON_DEPTH
from wsbench.protocol.websocket import FrameParser, frame_encoder

server_frame = frame_encoder(None)


def nested(depth: int, kind: str = "list") -> str:
    """The shortest JSON value nesting ``depth`` arrays (or objects holding arrays)."""
    if kind == "list":
        return "[" * depth + "]" * depth
    # {"a":[{"a":[...]}]}: objects count too
    return '{"a":[' * (depth // 2) + "[" * (depth % 2) + "]" * (depth % 2) + "]}" * (depth // 2)


@pytest.fixture
def deep_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = client_namespaces._deep

    def counting(message: str) -> bool:
        calls.append(message)
        return real(message)

    monkeypatch.setattr(client_namespaces, "_deep", counting)
    return calls


def test_a_broadcast_copy_is_decoded_without_counting_brackets(deep_calls: list[str]) -> None:
    """Fails before the lever: every EVENT paid _deep's two str.count (~3,400 instructions)."""
    s = connected("websocket")
    stamped = (
        '42["event",{"data":{"_wsb":{"id":"r1.17.42","s":17,"q":42,'
        '"t":1764612345123456789},"text":"hello"}}]'
    )
    for message in ('42["event",{"seq":12,"t":1764612345.1234567}]', stamped):
        fast = s.receive_event(message)
        assert fast is not None and fast[1] == "event"
    s.receive_message('42/chat,7["m",{"a":[1,2]}]', 0.0)  # the namespaced / acked form
    assert s.events_received() == [EventReceived("/chat", "m", [{"a": [1, 2]}], 7)]
    assert deep_calls == []


@pytest.mark.parametrize("kind", ["list", "object"])
@pytest.mark.parametrize("prefix", ['42["m",', '42/chat,["m",', '425["m",'])
def test_the_depth_limit_holds_at_the_shortcut_boundary(
    deep_calls: list[str], kind: str, prefix: str
) -> None:
    for depth in range(MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH + 4):
        message = f"{prefix}{nested(depth - 1, kind)}]"  # the event's list is one level
        s = connected("websocket")
        s.receive_message(message, 0.0)
        events = s.events_received()
        if depth <= MAX_JSON_DEPTH:
            assert [type(e) for e in events] == [EventReceived], (depth, events)
        else:
            assert isinstance(events[0], ProtocolViolation), (depth, events)
            assert events[-1].reason is DisconnectReason.PARSE_ERROR
            # deeper than the limit is never shorter than the shortcut's bound
            assert len(message) > client_namespaces._SHALLOW
        if len(message) <= client_namespaces._SHALLOW:
            assert message not in deep_calls


def test_the_bound_is_the_shortest_too_deep_message() -> None:
    shortest = "42" + nested(MAX_JSON_DEPTH + 1)
    assert len(shortest) == client_namespaces._SHALLOW + 1
    s = connected("websocket")
    assert s.receive_event(shortest) is None  # the strict path judges it
    assert s.receive_event("42" + f'["m",{nested(MAX_JSON_DEPTH - 1)}]') is not None


# -- FrameParser.feed: one frame, one chunk ------------------------------------------------


def loop_lines() -> set[int]:
    """The line numbers of feed's frame loop (``while pos < n:`` and its body's first line)."""
    lines, start = inspect.getsourcelines(FrameParser.feed)
    at = next(i for i, line in enumerate(lines) if line.strip() == "while pos < n:")
    return {start + at, start + at + 1}


def lines_run(parser: FrameParser, chunk: bytes) -> set[int]:
    seen: set[int] = set()
    code = FrameParser.feed.__code__

    def trace(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code is code:
            if event == "line":
                seen.add(frame.f_lineno)
            return trace
        return None

    sys.settrace(trace)
    try:
        parser.feed(chunk)
    finally:
        sys.settrace(None)
    return seen


def test_one_text_frame_per_chunk_skips_the_frame_loop() -> None:
    """Fails before the lever: every chunk ran the loop (~45 bytecodes more per copy)."""
    got: list[str | bytes] = []
    parser = FrameParser(got.append, lambda p: None)
    copy = server_frame(1, b'42["event",{"seq":12,"t":1764612345.1234567}]')
    assert not lines_run(parser, copy) & loop_lines()
    assert lines_run(parser, copy + copy) & loop_lines()  # two frames: the loop
    assert got == ['42["event",{"seq":12,"t":1764612345.1234567}]'] * 3
    longer = "42" + "x" * 200  # a 16-bit length
    assert not lines_run(parser, server_frame(1, longer.encode())) & loop_lines()
    assert got[-1] == longer


def outcome(chunks: list[bytes], max_size: int = 1_000_000, stop: bool = False) -> tuple:
    got: list[str | bytes] = []
    stopped: list[int] = []

    class Hooked(FrameParser):
        __slots__ = ()

        def stopped(self) -> None:
            stopped.append(self.buffered)

    def on_message(m: str | bytes) -> bool:
        got.append(m)
        return not stop

    parser = Hooked(on_message, lambda p: None, max_size)
    results = [parser.feed(c) for c in chunks]
    v = parser.violation
    return got, results, v and v.code, parser.buffered, parser.done, stopped


PONG = server_frame(0xA, b"")  # ignored: put before a frame, it sends the chunk through the loop

CASES: list[tuple[str, list[bytes], dict[str, Any]]] = [
    ("empty text", [server_frame(1, b"")], {}),
    ("125 bytes", [server_frame(1, b"4" * 125)], {}),
    ("126 bytes (16-bit length)", [server_frame(1, b"4" * 126)], {}),
    ("65,535 bytes", [server_frame(1, b"4" * 65535)], {}),
    ("65,536 bytes (64-bit length)", [server_frame(1, b"4" * 65536)], {}),
    ("5 bytes in a 16-bit length", [b"\x81\x7e\x00\x05" + b"40abc"], {}),
    ("16-bit length, not UTF-8", [server_frame(1, b"4" * 200 + b"\xff")], {}),
    ("16-bit length over max_size", [server_frame(1, b"4" * 300)], {"max_size": 200}),
    ("16-bit length at max_size", [server_frame(1, b"4" * 200)], {"max_size": 200}),
    ("16-bit length, paused consumer", [server_frame(1, b"4" * 300)], {"stop": True}),
    ("16-bit length, one byte short", [server_frame(1, b"4" * 300)[:-1]], {}),
    ("16-bit length, one byte more", [server_frame(1, b"4" * 300) + b"\x81"], {}),
    ("not UTF-8", [server_frame(1, b"4\xff")], {}),
    ("over max_size", [server_frame(1, b"4" * 20)], {"max_size": 10}),
    ("at max_size", [server_frame(1, b"4" * 10)], {"max_size": 10}),
    ("paused consumer", [server_frame(1, b"40")], {"stop": True}),
    ("binary", [server_frame(2, b"\x00\x01")], {}),
    ("not final", [server_frame(1, b"4", fin=False)], {}),
    ("inside a fragmented message", [server_frame(1, b"a", fin=False), server_frame(1, b"b")], {}),
    # the kept bytes of a frame + a chunk that looks like a whole empty text frame
    ("completes a kept frame", [b"\x81\x04ab", b"\x81\x00"], {}),
]


@pytest.mark.parametrize(("name", "chunks", "kw"), CASES, ids=[c[0] for c in CASES])
def test_the_shortcut_gives_what_the_loop_gives(name: str, chunks: list[bytes], kw: dict) -> None:
    direct = outcome(chunks, **kw)
    through_loop = outcome([PONG + c for c in chunks], **kw)
    assert direct == through_loop, name


def test_the_fast_event_takes_its_arguments_and_the_recovery_offset() -> None:
    """receive_event hands over the scanner's own list, less the name (and the offset)."""
    s = ClientSession("websocket")
    s.connect("/")
    s.receive_message(
        '0{"sid":"e","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000}', 0.0
    )
    s.receive_message('40{"sid":"s1","pid":"p1"}', 0.0)
    assert s.receive_event('42["m",1,{"a":2},"off-7"]') == ("/", "m", [1, {"a": 2}], None)
    assert s.namespace("/").offset == "off-7"
    assert s.receive_event('42["m"]') == ("/", "m", [], None)
    assert s.receive_event('42["m",3]') == ("/", "m", [3], None)  # no str last: no offset
    assert s.namespace("/").offset == "off-7"
