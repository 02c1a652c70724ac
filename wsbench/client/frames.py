"""RFC 6455 pieces for the client role: the opening handshake and frame encoding.

Theory of operation
-------------------
Pure functions, no I/O, used by :mod:`wsbench.client.wsprotocol`. Frames are
read and written by the shared sans-I/O codec :mod:`wsbench.protocol.websocket`
(the same one the Locust transport and the conformance probe use); this module
only binds its encoder to a fast XOR.

* Handshake (RFC 6455 §4.1): :func:`handshake_request` builds the ``GET``
  with a fresh 16-byte ``Sec-WebSocket-Key``; :func:`parse_response` splits
  the server's answer into status, reason and lowercased headers, and
  :func:`check_upgrade` validates a 101 answer: ``Upgrade: websocket``,
  ``Connection: upgrade`` and ``Sec-WebSocket-Accept`` equal to
  base64(SHA-1(key + GUID)). No extension and no subprotocol is offered, so
  the server may not select any.
* Frames (RFC 6455 §5.2): :func:`encode_frame` builds one masked frame with
  the codec's :func:`~wsbench.protocol.websocket.frame_encoder`, the XOR being
  aiohttp's compiled ``websocket_mask`` helper (aiohttp is a dependency
  already; the sans-I/O codec may not import it): measured 0.24 us for 1 to 40
  bytes, against 0.42-0.49 us for the codec's pure-Python XOR of the whole
  payload (which also grows linearly: ~12 us per KiB). The compiled helper is
  loaded on its own (:func:`compiled_mask`), without executing the aiohttp
  package: importing aiohttp costs ~0.15 s of CPU, which the default transport
  does not otherwise need (issue 14). If that extension cannot be loaded that
  way (another aiohttp layout, ``AIOHTTP_NO_EXTENSIONS``), the mask comes from
  ``aiohttp._websocket.helpers`` as before.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.machinery
import importlib.util
import os
from urllib.parse import urlsplit

from wsbench.protocol.websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    MaskFunction,
    close_payload,
    frame_encoder,
)

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "HandshakeError",
    "check_upgrade",
    "close_payload",
    "compiled_mask",
    "encode_frame",
    "handshake_request",
    "parse_response",
]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_RESPONSE_HEAD = 16 * 1024


def compiled_mask() -> MaskFunction | None:
    """aiohttp's compiled XOR (``aiohttp/_websocket/mask``), loaded without the aiohttp package.

    The extension has no Python imports of its own, so it is found next to the package
    (``find_spec`` of a top-level name executes nothing) and executed alone under its full
    name; CPython keeps it in ``sys.modules``, where a later ``import aiohttp`` finds it.
    None when aiohttp's extensions are off (``AIOHTTP_NO_EXTENSIONS``) or not there.
    """
    if os.environ.get("AIOHTTP_NO_EXTENSIONS"):
        return None
    try:
        package = importlib.util.find_spec("aiohttp")
        locations = package.submodule_search_locations if package is not None else None
        if not locations:
            return None
        finder = importlib.machinery.FileFinder(
            os.path.join(locations[0], "_websocket"),
            (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES),
        )
        spec = finder.find_spec("aiohttp._websocket.mask")
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        mask: MaskFunction = module._websocket_mask_cython
    except (ImportError, OSError, AttributeError):
        return None
    return mask


def _mask() -> MaskFunction:
    mask = compiled_mask()
    if mask is not None:
        return mask
    from aiohttp._websocket.helpers import websocket_mask

    return websocket_mask


encode_frame = frame_encoder(_mask())
"""``encode_frame(opcode, payload, fin=True)``: one masked frame (RFC 6455 §5.2, §5.3)."""


class HandshakeError(Exception):
    """The server's answer to the upgrade request is not a valid 101 (status, reason)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status} {reason}".strip())
        self.status = status
        self.reason = reason


def handshake_request(
    url: str, headers: dict[str, str] | None = None
) -> tuple[bytes, bytes, str, int, bool]:
    """The upgrade request for ``ws(s)://host:port/path?query``.

    Returns ``(request, key, host, port, secure)``: the bytes to write, the
    ``Sec-WebSocket-Key`` to check the answer against, and where to connect.
    """
    target, host_header, host, port, secure = _request_target(url)
    key = base64.b64encode(os.urandom(16))
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host_header}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key.decode()}",
        "Sec-WebSocket-Version: 13",
    ]
    for name, value in (headers or {}).items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} holds a line break")
        lines.append(f"{name}: {value}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return request, key, host, port, secure


@functools.lru_cache(maxsize=64)
def _request_target(url: str) -> tuple[str, str, str, int, bool]:
    """``(target, Host header, host, port, secure)`` of ``url``, cached: every client of a
    run connects to the same URL, and ``hostname``/``port`` are Python properties (~15
    calls per connect; bench/README.md "Acked emits, wave 2e")."""
    parts = urlsplit(url)
    secure = parts.scheme in ("wss", "https")
    host = parts.hostname or "localhost"
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return target, parts.netloc.rsplit("@", 1)[-1], host, port, secure


def parse_response(head: bytes) -> tuple[int, str, dict[str, str]]:
    """Split a response head (without the blank line) into status, reason, headers.

    Raises:
        HandshakeError: not an HTTP/1.1 status line.
    """
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if (
        len(status_line) < 2
        or not status_line[0].startswith("HTTP/1.")
        or not status_line[1].isdigit()
    ):
        raise HandshakeError(0, f"invalid status line {lines[0][:80]!r}")
    status = int(status_line[1])
    headers: dict[str, str] = {}
    del lines[0]
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise HandshakeError(status, f"invalid header line {line[:80]!r}")
        name = name.strip().lower()
        if name in headers:
            headers[name] = f"{headers[name]}, {value.strip()}"
        else:
            headers[name] = value.strip()
    return status, status_line[2] if len(status_line) > 2 else "", headers


def check_upgrade(status: int, reason: str, headers: dict[str, str], key: bytes) -> None:
    """Validate a 101 answer (RFC 6455 §4.1, the client's checks 1-6).

    Raises:
        HandshakeError: what is wrong, with the status.
    """
    if status != 101:
        raise HandshakeError(status, reason)
    if "websocket" not in headers.get("upgrade", "").lower():
        raise HandshakeError(status, "missing 'Upgrade: websocket'")
    connection = headers.get("connection", "")
    # the usual one token first: a set comprehension is a function object and a frame
    if connection.lower() != "upgrade" and "upgrade" not in {
        t.strip().lower() for t in connection.split(",")
    }:
        raise HandshakeError(status, "missing 'Connection: upgrade'")
    expected = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    if headers.get("sec-websocket-accept", "").strip() != expected:
        raise HandshakeError(status, "invalid Sec-WebSocket-Accept")
    if headers.get("sec-websocket-extensions"):
        raise HandshakeError(status, "the server selected an extension we did not offer")
    if headers.get("sec-websocket-protocol"):
        raise HandshakeError(status, "the server selected a subprotocol we did not offer")
