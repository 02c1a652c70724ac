"""The frame encoder's prebuilt text headers (issue 14) give the bytes RFC 6455 §5.2 says.

Every length around the 7-bit / 16-bit boundaries, every data and control opcode, final
and not: the header is ``FIN|opcode``, ``MASK|length`` (extended as §5.2), then a 4-byte
key, then the payload XOR the key; the masked payload unmasks to the input.
"""

from __future__ import annotations

import pytest

from wsbench.protocol.websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    frame_encoder,
    python_mask,
)


def _expected_head(opcode: int, n: int, fin: bool) -> bytes:
    b0 = (0x80 | opcode) if fin else opcode
    if n < 126:
        return bytes((b0, 0x80 | n))
    if n < 65536:
        return bytes((b0, 0xFE)) + n.to_bytes(2, "big")
    return bytes((b0, 0xFF)) + n.to_bytes(8, "big")


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY, OP_CONT, OP_PING, OP_CLOSE])
@pytest.mark.parametrize("fin", [True, False])
def test_every_header_and_masked_payload(opcode: int, fin: bool) -> None:
    encode = frame_encoder(python_mask)
    for n in [*range(0, 130), 65535, 65536]:
        payload = bytes(i % 251 for i in range(n))
        frame = encode(opcode, payload, fin)
        head = _expected_head(opcode, n, fin)
        assert frame[: len(head)] == head, (opcode, fin, n)
        key = frame[len(head) : len(head) + 4]
        body = bytearray(frame[len(head) + 4 :])
        python_mask(key, body)
        assert bytes(body) == payload and type(frame) is bytes, (opcode, fin, n)


def test_keys_are_fresh_per_frame() -> None:
    encode = frame_encoder(python_mask)
    keys = {encode(OP_TEXT, b"42[]")[2:6] for _ in range(200)}
    assert len(keys) > 190
