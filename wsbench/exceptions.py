"""The whole exception hierarchy of wsbench, one root.

::

    WsbenchError
    ├── ProtocolError                 a packet or payload breaks Engine.IO v4 / Socket.IO v5
    │   ├── LocalProtocolError        we were asked to send something invalid (caller misuse)
    │   └── RemoteProtocolError       the peer sent something invalid (decode failure)
    ├── InvalidState                  an operation is not allowed in the current state
    ├── TransportError                the network layer failed
    │   ├── ConnectFailed             the target could not be reached at all
    │   ├── HandshakeRejected         the target answered, but refused the handshake
    │   ├── ResourceLimit             a local limit (file descriptors, ports) was reached
    │   ├── ParserMismatch            the server speaks the other Socket.IO parser
    │   └── ConnectionClosed          the connection is gone
    ├── ConnectRefused                a namespace answered CONNECT_ERROR
    ├── AckTimeout                    an acknowledgement did not arrive in time (also TimeoutError)
    ├── ScenarioError                 a scenario file is invalid (file, line, key path)
    │   └── ScenarioErrors            several mistakes of one file, in line order
    └── ConfigError                   an invalid option or setting
        └── OptionError               a command-line option has a bad value (usage, exit 2)

On the receive path peer violations are *data*: the sans-I/O sessions turn them
into :class:`~wsbench.protocol.events.ProtocolViolation` events rather than
raising into a read loop. :class:`RemoteProtocolError` is what the codecs raise,
and what the sessions catch and record.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "WsbenchError",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "InvalidState",
    "TransportError",
    "ConnectFailed",
    "HandshakeRejected",
    "ResourceLimit",
    "ParserMismatch",
    "ConnectionClosed",
    "ConnectRefused",
    "AckTimeout",
    "ScenarioError",
    "ScenarioErrors",
    "ConfigError",
    "OptionError",
]


class WsbenchError(Exception):
    """Root of every exception wsbench raises on purpose."""


class ProtocolError(WsbenchError):
    """Something breaks the Engine.IO v4 / Socket.IO v5 wire protocol.

    Attributes:
        detail: what is wrong, lowercase, naming the offending value.
        spec_ref: the section of the spec (or the reference implementation rule) broken.
    """

    def __init__(self, detail: str, spec_ref: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.spec_ref = spec_ref

    def __str__(self) -> str:
        return f"{self.detail} ({self.spec_ref})" if self.spec_ref else self.detail


class LocalProtocolError(ProtocolError):
    """We were asked to send something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""


class InvalidState(WsbenchError, AssertionError):
    """An operation was attempted in a state that does not allow it."""


class TransportError(WsbenchError):
    """The network layer failed."""


class ConnectFailed(TransportError):
    """The target could not be reached (refused, unresolvable, timed out)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason}")
        self.url = url
        self.reason = reason


class HandshakeRejected(TransportError):
    """The target answered the Engine.IO handshake with an error."""

    def __init__(self, url: str, status: int, body: str = "") -> None:
        super().__init__(f"handshake with {url} rejected: HTTP {status} {body[:200]}".rstrip())
        self.url = url
        self.status = status
        self.body = body


class ParserMismatch(TransportError):
    """The server speaks another Socket.IO parser than ours (default JSON vs msgpack).

    Attributes:
        url: the server.
        server_parser: the name of the parser the server speaks.
    """

    def __init__(self, url: str, server_parser: str) -> None:
        super().__init__(
            f"{url}: the server speaks the {server_parser} parser; "
            f"run with --parser {server_parser}"
        )
        self.url = url
        self.server_parser = server_parser


class ResourceLimit(TransportError):
    """A local limit stops new connections (open files, ephemeral ports)."""

    def __init__(self, limit: str, value: Any, hint: str = "") -> None:
        msg = f"local limit reached: {limit} = {value}"
        super().__init__(f"{msg}; {hint}" if hint else msg)
        self.limit = limit
        self.value = value


class ConnectionClosed(TransportError):
    """The connection is closed; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"connection closed: {reason}")
        self.reason = reason


class ConnectRefused(WsbenchError):
    """A namespace answered CONNECT with CONNECT_ERROR."""

    def __init__(self, namespace: str, message: str, data: Any = None) -> None:
        super().__init__(f"connect to namespace {namespace!r} refused: {message}")
        self.namespace = namespace
        self.message = message
        self.data = data


class AckTimeout(WsbenchError, TimeoutError):
    """An acknowledgement did not arrive within its timeout."""

    def __init__(self, event: str, timeout: float) -> None:
        super().__init__(f"no ack for {event!r} within {timeout:g} s")
        self.event = event
        self.timeout = timeout


class ScenarioError(WsbenchError):
    """A scenario file is invalid. The message names file, line, key path and what was expected."""

    def __init__(
        self, message: str, path: str = "", line: int | None = None, key_path: str = ""
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.key_path = key_path
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or "<scenario>"
        if self.line is not None:
            where += f":{self.line}"
        if self.key_path:
            where += f": {self.key_path}"
        return f"{where}: {self.message}"


class ScenarioErrors(ScenarioError):
    """Every mistake found in one scenario file, in line order (at least one).

    ``path``, ``line``, ``key_path`` and ``message`` are the first one's, so code that
    handles one :class:`ScenarioError` still works; ``str()`` is one line per mistake.
    """

    def __init__(self, errors: list[ScenarioError] | tuple[ScenarioError, ...]) -> None:
        if not errors:
            raise ValueError("ScenarioErrors needs at least one error")
        self.errors = tuple(sorted(errors, key=lambda e: (e.line is None, e.line or 0)))
        first = self.errors[0]
        super().__init__(first.message, first.path, first.line, first.key_path)

    def __str__(self) -> str:
        return "\n".join(ScenarioError.__str__(e) for e in self.errors)


class ConfigError(WsbenchError):
    """An invalid option or setting."""


class OptionError(ConfigError):
    """A command-line option has a bad value; the CLI exits 2 (usage), blaming the option.

    Attributes:
        option: the option as typed, e.g. ``--duration``.
        message: what was expected and what was given.
    """

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        self.message = message
        super().__init__(f"{option}: {message}")
