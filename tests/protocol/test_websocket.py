"""The sans-I/O RFC 6455 codec: golden vectors, chunk boundaries, violations, round trips."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsbench.protocol.websocket import (
    FrameParser,
    FrameViolation,
    close_payload,
    frame_encoder,
    python_mask,
    valid_close_code,
)

server_frame = frame_encoder(None)  # unmasked: what a server sends


class Sink:
    """Collects what a parser reports."""

    def __init__(self, max_size: int = 1_000_000, stop_after: int | None = None) -> None:
        self.messages: list[str | bytes] = []
        self.pings: list[bytes] = []
        self.stop_after = stop_after
        self.parser = FrameParser(self.on_message, self.pings.append, max_size)

    def on_message(self, message: str | bytes) -> bool:
        self.messages.append(message)
        return self.stop_after is None or len(self.messages) < self.stop_after


def unmask(frame: bytes) -> tuple[int, bytes]:
    """(first byte, payload) of one masked client frame."""
    n = frame[1] & 0x7F
    head = 2 if n < 126 else 4 if n == 126 else 10
    key, body = frame[head : head + 4], frame[head + 4 :]
    return frame[0], bytes(b ^ key[i % 4] for i, b in enumerate(body))


# -- golden vectors (RFC 6455 §5.7) -----------------------------------------------------


def test_rfc_examples_parse() -> None:
    sink = Sink()
    sink.parser.feed(bytes.fromhex("810548656c6c6f"))  # a single-frame unmasked text message
    sink.parser.feed(bytes.fromhex("010348656c") + bytes.fromhex("80026c6f"))  # fragmented
    sink.parser.feed(bytes.fromhex("890548656c6c6f"))  # unmasked ping
    sink.parser.feed(bytes.fromhex("8a0548656c6c6f"))  # unmasked pong: nothing to do
    sink.parser.feed(bytes.fromhex("827e0100") + bytes(256))  # 256 bytes binary, 16-bit length
    sink.parser.feed(bytes.fromhex("827f0000000000010000") + bytes(65536))  # 64-bit length
    assert sink.messages == ["Hello", "Hello", bytes(256), bytes(65536)]
    assert sink.pings == [b"Hello"]
    assert sink.parser.violation is None and not sink.parser.done


def test_rfc_masked_example_is_what_the_encoder_makes_with_that_key() -> None:
    data = bytearray(b"Hello")
    python_mask(bytes.fromhex("37fa213d"), data)
    assert bytes(data) == bytes.fromhex("7f9f4d5158")  # §5.7 "A single-frame masked text"


def test_encoder_lengths_and_masking() -> None:
    encode = frame_encoder()  # pure-Python XOR
    for n in (0, 1, 3, 4, 5, 125, 126, 65535, 65536):
        payload = os.urandom(n)
        frame = encode(2, payload)
        assert frame[1] & 0x80, "client frames are masked (§5.3)"
        assert unmask(frame) == (0x82, payload)
    assert server_frame(1, b"x") == b"\x81\x01x"
    assert server_frame(1, b"x", fin=False) == b"\x01\x01x"
    assert server_frame(2, bytes(126))[:4] == b"\x82\x7e\x00\x7e"
    assert server_frame(2, bytes(65536))[:10] == b"\x82\x7f" + (65536).to_bytes(8, "big")


def test_close_payload_and_codes() -> None:
    assert close_payload(1000) == b"\x03\xe8"
    assert close_payload(1001, "bye") == b"\x03\xe9bye"
    assert len(close_payload(1000, "é" * 100)) == 2 + 122  # cut at 123 bytes, never mid-character
    assert all(valid_close_code(c) for c in (1000, 1003, 1007, 1011, 1014, 3000, 4999))
    assert not any(valid_close_code(c) for c in (0, 999, 1004, 1005, 1006, 1015, 2999, 5000))


def test_server_close_stops_the_parser_with_code_and_reason() -> None:
    sink = Sink()
    assert not sink.parser.feed(server_frame(1, b"4x") + server_frame(8, close_payload(1001, "bye"))
                                + server_frame(1, b"after"))  # fmt: skip
    assert sink.messages == ["4x"]
    assert (sink.parser.close_code, sink.parser.close_reason) == (1001, "bye")
    assert sink.parser.done and not sink.parser.feed(server_frame(1, b"more"))
    empty = Sink()
    empty.parser.feed(server_frame(8, b""))
    assert empty.parser.close_code == 1005


# -- chunk boundaries and pausing -------------------------------------------------------


def test_every_split_point_of_a_mixed_stream_gives_the_same_messages() -> None:
    stream = (
        server_frame(1, b'42["a"]')
        + server_frame(1, b'42["', fin=False)
        + server_frame(9, b"ping")
        + server_frame(0, "é".encode(), fin=False)
        + server_frame(0, b'"]')
        + server_frame(2, bytes(300))
        + server_frame(1, b"x" * 70_000)
    )
    expected = ['42["a"]', '42["é"]', bytes(300), "x" * 70_000]
    for cut in range(len(stream) - 70_000 + 12):
        sink = Sink()
        sink.parser.feed(stream[:cut])
        sink.parser.feed(stream[cut:])
        assert sink.messages == expected, cut
        assert sink.pings == [b"ping"]
    byte_by_byte = Sink()
    for i in range(len(stream[:400])):
        byte_by_byte.parser.feed(stream[i : i + 1])
    byte_by_byte.parser.feed(stream[400:])
    assert byte_by_byte.messages == expected


def test_on_message_false_pauses_and_feed_empty_resumes() -> None:
    sink = Sink(stop_after=1)
    stream = b"".join(server_frame(1, f"4{i}".encode()) for i in range(3))
    assert not sink.parser.feed(stream)
    assert sink.messages == ["40"] and sink.parser.buffered == len(stream) - 4
    sink.stop_after = None
    assert sink.parser.feed(b"")
    assert sink.messages == ["40", "41", "42"] and sink.parser.buffered == 0


def test_no_consumer_buffers_until_one_is_set() -> None:
    got: list[str | bytes] = []
    parser = FrameParser(None, lambda p: None)
    assert parser.feed(server_frame(1, b"0{}")) and parser.feed(server_frame(1, b"40"))
    assert got == [] and parser.buffered == 9
    parser.on_message = got.append
    parser.feed(b"")
    assert got == ["0{}", "40"]


# -- violations -------------------------------------------------------------------------

TOO_BIG = b"\x81\x7f" + (2_000_001).to_bytes(8, "big")  # only the header is needed

HOSTILE: list[tuple[str, bytes, int]] = [
    ("masked server frame", b"\x81\x82abcd\x00\x00", 1002),
    ("reserved bit", bytes((0xC1, 1)) + b"x", 1002),
    ("reserved data opcode", server_frame(3, b"x"), 1002),
    ("reserved control opcode", server_frame(0xB, b"x"), 1002),
    ("continuation of nothing", server_frame(0, b"x"), 1002),
    (
        "new message inside a fragmented one",
        server_frame(1, b"a", fin=False) + server_frame(1, b"b"),
        1002,
    ),  # fmt: skip
    ("fragmented control frame", server_frame(9, b"x", fin=False), 1002),
    ("control frame over 125 bytes", server_frame(9, bytes(126)), 1002),
    ("64-bit length with the top bit", b"\x82\x7f\x80" + bytes(7), 1002),
    ("text not UTF-8", server_frame(1, b"\xff\xfe"), 1007),
    (
        "fragmented text not UTF-8",
        server_frame(1, b"\xe2\x82", fin=False) + server_frame(0, b"\x28"),
        1007,
    ),  # fmt: skip
    ("frame over the size limit", TOO_BIG, 1009),
    (
        "message over the size limit",
        server_frame(2, bytes(600_000), fin=False) + server_frame(0, bytes(600_000)),
        1009,
    ),  # fmt: skip
    ("close with a 1-byte body", server_frame(8, b"\x03"), 1002),
    ("close with code 1005", server_frame(8, close_payload(1005)), 1002),
    ("close with code 999", server_frame(8, close_payload(999)), 1002),
    ("close reason not UTF-8", server_frame(8, b"\x03\xe8\xff"), 1007),
]


@pytest.mark.parametrize(("name", "stream", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_violations_stop_the_parser_with_the_rfc_close_code(
    name: str, stream: bytes, code: int
) -> None:
    for chunks in ([stream], [stream[:1], stream[1:]], [stream[i : i + 3] for i in range(0, 30, 3)]
                   + [stream[30:]]):  # fmt: skip
        sink = Sink()
        results = [sink.parser.feed(c) for c in chunks]
        violation = sink.parser.violation
        assert isinstance(violation, FrameViolation), (name, chunks[:2])
        assert violation.code == code and violation.spec_ref.startswith("RFC 6455 §")
        assert violation.detail == f"{violation.reason} (closed with {code})"
        assert results[-1] is False and sink.parser.done and sink.parser.buffered == 0
        assert sink.messages == [] and sink.parser.close_code is None


def test_size_limit_counts_the_header_before_the_payload_arrives() -> None:
    sink = Sink(max_size=1000)
    sink.parser.feed(server_frame(2, bytes(1000)))
    assert sink.messages == [bytes(1000)]
    sink.parser.feed(b"\x82\x7e\x03\xe9")  # 1001 bytes announced, none sent
    assert sink.parser.violation is not None and sink.parser.violation.code == 1009


# -- round trip -------------------------------------------------------------------------

messages = st.lists(
    st.one_of(st.text(max_size=300), st.binary(max_size=300)), min_size=1, max_size=8
)


@settings(max_examples=150, deadline=None)
@given(messages, st.data())
def test_any_messages_fragmented_and_chunked_any_way_round_trip(
    sent: list[str | bytes], data: st.DataObject
) -> None:
    stream = b""
    pings: list[bytes] = []
    for message in sent:
        payload = message.encode() if isinstance(message, str) else message
        op = 1 if isinstance(message, str) else 2
        cuts = sorted(data.draw(st.lists(st.integers(0, len(payload)), max_size=3)))
        pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
        for i, piece in enumerate(pieces):
            stream += server_frame(op if i == 0 else 0, piece, fin=i == len(pieces) - 1)
            if data.draw(st.booleans()):
                ping = data.draw(st.binary(max_size=125))
                pings.append(ping)
                stream += server_frame(9, ping)
    bounds = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    sink = Sink()
    for a, b in zip([0, *bounds], [*bounds, len(stream)], strict=True):
        assert sink.parser.feed(stream[a:b])
    assert sink.messages == sent
    assert sink.pings == pings
    assert sink.parser.buffered == 0


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=70_000), st.binary(min_size=4, max_size=4))
def test_python_mask_is_the_rfc_xor(payload: bytes, key: bytes) -> None:
    data = bytearray(payload)
    python_mask(key, data)
    assert bytes(data) == bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def test_the_stopped_hook_runs_once_per_early_stop() -> None:
    """A subclass whose data_received is feed (the asyncio transport) acts in stopped()."""

    class Hooked(FrameParser):
        __slots__ = ("calls",)

        def stopped(self) -> None:
            self.calls.append((self.violation, self.close_code, self.buffered))

    def hooked(on_message: object) -> Hooked:
        parser = Hooked(on_message, lambda p: None)  # type: ignore[arg-type]
        parser.calls = []
        return parser

    paused = hooked(lambda m: False)
    paused.feed(server_frame(1, b"40") + server_frame(1, b"41"))
    assert paused.calls == [(None, None, 4)]
    closing = hooked(lambda m: True)
    closing.feed(server_frame(8, close_payload(1000)) + server_frame(1, b"x"))
    assert closing.calls == [(None, 1000, 0)]
    failing = hooked(lambda m: True)
    failing.feed(server_frame(1, b"\xff"))
    assert len(failing.calls) == 1 and failing.calls[0][0].code == 1007
    failing.feed(server_frame(1, b"more"))
    assert len(failing.calls) == 1
