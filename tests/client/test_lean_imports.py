"""The default WebSocket client runs without importing aiohttp (issue 14, acked emits).

Importing aiohttp costs ~0.15 s of CPU, about 5 % of bench/acked_emits.py's whole
generator CPU (start-up included): the default transport is hand-written, so only
polling, ``websocket_impl="aiohttp"`` and :func:`~wsbench.client.new_http_session`
import it, on first use. The frame mask is still aiohttp's compiled XOR, loaded on its
own (:func:`wsbench.client.frames.compiled_mask`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import scaled
from tests.integrations.support import reference_server_factory
from wsbench.client.frames import compiled_mask, encode_frame
from wsbench.protocol.websocket import OP_TEXT, FrameParser, python_mask

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, sys
from wsbench.client import connect, run

async def main(url):
    client = await connect(url, reconnection=False)
    answer = await client.socket("/").call("echo", {"k": 1}, timeout=10)
    await client.close()
    return answer

answer = run(main(sys.argv[1]))
print(json.dumps({"answer": answer, "aiohttp": sorted(m for m in sys.modules if m.startswith("aiohttp"))}))
"""


@pytest.fixture(scope="module")
def server() -> Iterator[Callable[..., str]]:
    yield from reference_server_factory()


def _child(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})),
        timeout=scaled(60),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_websocket_client_emits_and_gets_acks_without_importing_aiohttp(server) -> None:
    out = _child(CHILD, server())
    assert out["answer"] == {"k": 1}
    # only the compiled mask extension, never the aiohttp package itself
    assert out["aiohttp"] == ["aiohttp._websocket.mask"]


def test_polling_still_imports_aiohttp_when_it_is_used(server) -> None:
    code = CHILD.replace("reconnection=False", 'reconnection=False, transports="polling"')
    out = _child(code, server())
    assert out["answer"] == {"k": 1}
    assert "aiohttp" in out["aiohttp"]


def test_the_compiled_mask_is_aiohttps_xor() -> None:
    mask = compiled_mask()
    assert mask is not None
    for n in (0, 1, 3, 4, 5, 125, 126, 1000, 70_000):
        payload = os.urandom(n)
        key = os.urandom(4)
        fast, slow = bytearray(payload), bytearray(payload)
        mask(key, fast)
        python_mask(key, slow)
        assert fast == slow, n


def test_frames_encoded_with_it_unmask_to_the_payload() -> None:
    got: list[str | bytes] = []
    parser = FrameParser(got.append, lambda payload: None)
    for text in ("", '42["echo",{"k":1}]', "x" * 200, "é" * 40_000):
        frame = encode_frame(OP_TEXT, text.encode())
        # a client frame is masked: unmask it as the server would, then parse
        n = frame[1] & 0x7F
        start = 2 + (2 if n == 126 else 8 if n == 127 else 0)
        key, body = frame[start : start + 4], bytearray(frame[start + 4 :])
        python_mask(key, body)
        header = bytes((frame[0], n)) + frame[2:start]
        parser.feed(header + bytes(body))
    assert got == ["", '42["echo",{"k":1}]', "x" * 200, "é" * 40_000]


def test_no_compiled_mask_when_aiohttp_extensions_are_off() -> None:
    code = (
        "import json; from wsbench.client.frames import compiled_mask, encode_frame;"
        "print(json.dumps({'mask': compiled_mask() is None, 'frame': len(encode_frame(1, b'ab'))}))"
    )
    out = _child(code, env={"AIOHTTP_NO_EXTENSIONS": "1"})
    assert out == {"mask": True, "frame": 8}
