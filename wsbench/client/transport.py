"""What a :class:`~wsbench.client.connection.Connection` needs from a transport.

Theory of operation
-------------------
A transport moves Engine.IO messages and knows nothing of their meaning. It has
two halves, matching the two directions:

* writing is **synchronous** (:meth:`Transport.send`): the connection writes
  inline from wherever it is (a frame handler, a user's ``emit``), with no task
  and no await per message. The WebSocket transport frames straight into the
  socket's write buffer; the polling transport queues and keeps at most one
  POST in flight, batching everything queued meanwhile (spec "HTTP
  long-polling": one GET and one POST at most);
* reading is **one loop** (:meth:`Transport.read_loop`) run by the
  connection's single reader task: it feeds each message (WebSocket) or each
  body (polling) to a callback that returns whether to keep reading, and
  returns why it stopped.

Options that select transports are spelled as socket.io-client users know
them: ``websocket``, ``polling``, or ``polling+upgrade`` (start on polling,
upgrade to WebSocket, the reference client's default).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from wsbench.exceptions import ConfigError, ConnectFailed, HandshakeRejected, ResourceLimit
from wsbench.protocol.events import DisconnectReason
from wsbench.protocol.websocket import FrameViolation

__all__ = [
    "ProbingTransport",
    "ReadResult",
    "Transport",
    "TransportOption",
    "engineio_url",
    "open_error",
    "parse_transports",
]


class TransportOption(Enum):
    """Which transports a client uses (``transports`` option)."""

    WEBSOCKET = "websocket"
    POLLING = "polling"
    POLLING_UPGRADE = "polling+upgrade"

    @property
    def first(self) -> str:
        """The Engine.IO transport the handshake uses."""
        return "websocket" if self is TransportOption.WEBSOCKET else "polling"


def parse_transports(value: str | TransportOption) -> TransportOption:
    """Parse the ``transports`` option.

    Raises:
        ConfigError: not one of websocket, polling, polling+upgrade.
    """
    if isinstance(value, TransportOption):
        return value
    try:
        return TransportOption(value.strip().lower().replace(" ", ""))
    except ValueError:
        raise ConfigError(
            f"transports must be websocket, polling or polling+upgrade, not {value!r}"
        ) from None


def engineio_url(
    base: str,
    path: str,
    transport: str,
    sid: str | None = None,
    query: Mapping[str, str] | None = None,
) -> str:
    """The Engine.IO URL for ``transport`` (spec "Transports": ``EIO=4``, ``transport``, ``sid``).

    ``http(s)`` becomes ``ws(s)`` for the WebSocket transport.

    Raises:
        ConfigError: the base URL is not http(s) or ws(s).
    """
    if sid is None and not query:  # every client of a run asks for the same URL: built once
        return _handshake_url(base, path, transport)
    return _build_url(base, path, transport, sid, query)


@functools.lru_cache(maxsize=64)
def _handshake_url(base: str, path: str, transport: str) -> str:
    """:func:`engineio_url` without a sid or a query, cached: ``urlsplit`` + ``urlencode``
    are ~30 Python calls, a tenth of a connect's own Python (callgrind, bench/README.md
    "Acked emits, wave 2e"). A ConfigError is raised again on each call (not cached)."""
    return _build_url(base, path, transport, None, None)


def _build_url(
    base: str, path: str, transport: str, sid: str | None, query: Mapping[str, str] | None
) -> str:
    parts = urlsplit(base)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "ws", "wss"):
        raise ConfigError(f"target URL must be http(s) or ws(s), got {base!r}")
    secure = scheme in ("https", "wss")
    if transport == "websocket":
        scheme = "wss" if secure else "ws"
    else:
        scheme = "https" if secure else "http"
    if not path.startswith("/"):
        path = "/" + path
    if not path.endswith("/"):
        path += "/"
    params = dict(query or {})
    params["EIO"] = "4"
    params["transport"] = transport
    if sid is not None:
        params["sid"] = sid
    return urlunsplit((scheme, parts.netloc, path, urlencode(params), ""))


def open_error(url: str, exc: BaseException) -> Exception:
    """Map an exception raised while opening a transport to wsbench's tree.

    aiohttp's handshake errors are recognised only when aiohttp is imported: it raises
    nothing otherwise, and the default WebSocket transport does not import it.
    """
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None and isinstance(
        exc, aiohttp.WSServerHandshakeError | aiohttp.ClientResponseError
    ):
        return HandshakeRejected(url, exc.status, str(exc.message))  # type: ignore[attr-defined]
    errno = getattr(exc, "errno", None) or getattr(getattr(exc, "os_error", None), "errno", None)
    if errno == 24:  # EMFILE
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return ResourceLimit("RLIMIT_NOFILE", soft, "too many open files in this process")
    if errno == 99:  # EADDRNOTAVAIL: ephemeral ports exhausted for this source address
        return ResourceLimit("ephemeral ports", "exhausted", "spread source addresses")
    return ConnectFailed(url, f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True, slots=True)
class ReadResult:
    """Why a read loop stopped.

    Attributes:
        reason: the close reason, or ``None`` when the loop stopped on purpose
            (the session closed, or polling paused for an upgrade).
        detail: text for the report (an HTTP status, an exception).
        violation: the server broke RFC 6455 (the codec's finding; the connection
            records it as a :class:`~wsbench.protocol.events.ProtocolViolation`).
    """

    reason: DisconnectReason | None
    detail: str = ""
    violation: FrameViolation | None = None


class Transport(Protocol):
    """An open Engine.IO transport (see the module docstring)."""

    name: str

    def send(self, messages: list[str | bytes]) -> None:
        """Write Engine.IO-encoded messages now (or queue them for the next POST)."""
        ...

    async def read_loop(self, feed: Callable[[str | bytes], bool]) -> ReadResult:
        """Feed what arrives until ``feed`` returns False or the transport closes."""
        ...

    def abort(self) -> None:
        """Stop at once; a running :meth:`read_loop` returns soon after."""
        ...

    def pause_reading(self) -> None:
        """Stop reading from the network until :meth:`resume_reading` (a slow consumer)."""
        ...

    def resume_reading(self) -> None:
        """Undo :meth:`pause_reading`."""
        ...

    async def close(self) -> None:
        """Close gracefully (bounded in time)."""
        ...


class ProbingTransport(Transport, Protocol):
    """A WebSocket transport that can also read one frame alone (the upgrade probe)."""

    async def receive_one(self, timeout: float) -> str | bytes | None:
        """The next data frame; ``None`` on close or after ``timeout`` seconds."""
        ...
