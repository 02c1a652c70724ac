"""What survives a reconnection on the client side: the backoff policy and namespace records.

Theory of operation
-------------------
When an Engine.IO session closes for a reason that reconnects (everything but
``io server disconnect`` and ``io client disconnect``), the I/O layer asks the
policy how long to wait before attempt ``n`` (0 for the first retry), sleeps,
and opens a new transport. The policy never sleeps and never reads a clock or
a global random generator: the caller passes an object with a ``random()``
method (``random.Random``), so tests are deterministic.

The delay is socket.io-client's ``Backoff.duration()`` (``backo2``), with the
Manager's defaults ``reconnectionDelay`` 1000 ms, ``reconnectionDelayMax``
5000 ms, ``randomizationFactor`` 0.5 and factor 2::

    ms = min * factor ** attempt
    if jitter:
        rand = random()
        deviation = floor(rand * jitter * ms)
        ms = ms - deviation if floor(rand * 10) & 1 == 0 else ms + deviation
    return min(ms, max) | 0

:class:`Namespace` is the per-namespace record a :class:`~wsbench.protocol.client.ClientSession`
keeps across Engine.IO sessions: whether it wants to be connected, its socket id, the
recovery pid and last offset it sends back on reconnect, and its ack-id counter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from wsbench.exceptions import ConfigError
from wsbench.protocol.events import DisconnectReason
from wsbench.protocol.socketio import dumps

__all__ = ["Namespace", "NamespaceState", "RandomSource", "ReconnectPolicy"]

_MAX_EXPIRED = 1024


class RandomSource(Protocol):
    """Anything with ``random() -> float`` in [0, 1), such as :class:`random.Random`."""

    def random(self) -> float: ...


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """When and how often to reconnect, in seconds (socket.io-client Manager options).

    Attributes:
        reconnection: whether to reconnect at all.
        reconnection_delay: delay before the first attempt (``reconnectionDelay``).
        reconnection_delay_max: upper bound of any delay (``reconnectionDelayMax``).
        randomization_factor: jitter, 0 to 1 (``randomizationFactor``).
        attempts: how many attempts before giving up (``reconnectionAttempts``).
        factor: growth per attempt (socket.io-client hard-codes 2).
    """

    reconnection: bool = True
    reconnection_delay: float = 1.0
    reconnection_delay_max: float = 5.0
    randomization_factor: float = 0.5
    attempts: float = math.inf
    factor: float = 2.0

    def __post_init__(self) -> None:
        if self.reconnection_delay < 0 or self.reconnection_delay_max < 0:
            raise ConfigError("reconnection delays must be non-negative")
        if not 0 <= self.randomization_factor <= 1:
            raise ConfigError(
                f"randomization_factor must be within [0, 1], got {self.randomization_factor!r}"
            )
        if self.attempts < 0:
            raise ConfigError(f"attempts must be non-negative, got {self.attempts!r}")

    def should_reconnect(self, reason: DisconnectReason, attempt: int) -> bool:
        """Whether to make attempt number ``attempt`` (0-based) after a close for ``reason``.

        socket.io-client: "io server disconnect" and "io client disconnect" never reconnect.
        """
        return self.reconnection and reason.reconnects and attempt < self.attempts

    def next_delay(self, attempt: int, rng: RandomSource) -> float:
        """Seconds to wait before attempt ``attempt`` (0-based), exactly like ``Backoff.duration``."""
        base_ms = self.reconnection_delay * 1000.0
        max_ms = self.reconnection_delay_max * 1000.0
        ms = base_ms * self.factor ** min(attempt, 1000)  # JS overflows to Infinity; we cap
        if self.randomization_factor:
            rand = rng.random()
            deviation = math.floor(rand * self.randomization_factor * ms)
            ms = ms - deviation if (math.floor(rand * 10) & 1) == 0 else ms + deviation
        ms = min(ms, max_ms)
        # `| 0` truncates toward zero to a 32-bit integer; delays here are far below 2**31 ms.
        return float(int(ms)) / 1000.0


class NamespaceState(Enum):
    """State of one namespace socket, client side."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


CONNECTING = NamespaceState.CONNECTING
CONNECTED = NamespaceState.CONNECTED
DISCONNECTED = NamespaceState.DISCONNECTED


class Namespace:
    """What the client keeps per namespace: state, socket id, recovery data, ack ids.

    Attributes:
        sid: the socket id from the last CONNECT answer.
        pid: the private session id (connection state recovery), or ``None``.
        offset: the last offset seen while ``pid`` is set.
        next_id: the next ack id (socket.io-client ``ids++``, per namespace).
        pending: ack ids we wait for; ``expired`` the last ones given up on.
        buffer: encoded emits waiting for the CONNECT answer.
        left: the client left it (sent DISCONNECT) in this Engine.IO session and no
            answer to a later CONNECT of it has arrived: packets the server sent before
            it read the DISCONNECT may still arrive and are legal (Socket.IO does not
            acknowledge a client DISCONNECT). One flag per record: bounded.
    """

    __slots__ = (
        "name", "prefix", "auth", "state", "active", "sid", "pid", "offset",
        "next_id", "pending", "expired", "buffer", "left",
    )  # fmt: skip

    def __init__(self, name: str) -> None:
        self.name = name
        self.prefix = "" if name == "/" else name + ","
        self.auth: dict[str, Any] | None = None
        self.state = DISCONNECTED
        self.active = False
        self.sid: str | None = None
        self.pid: str | None = None
        self.offset: str | None = None
        self.next_id = 0
        self.pending: dict[int, None] = {}  # a dict: 64 bytes empty, a set 216
        self.expired: dict[int, None] = {}
        self.buffer: list[str | bytes] = []
        self.left = False

    def connect_data(self) -> dict[str, Any] | None:
        """The CONNECT payload.

        socket.io-client: ``data: this._pid ? Object.assign({pid, offset}, auth) : auth``
        (an undefined offset is dropped by JSON.stringify).
        """
        data = self.auth
        if self.pid is not None:
            data = {"pid": self.pid}
            if self.offset is not None:
                data["offset"] = self.offset
            if self.auth:
                data.update(self.auth)
        return data

    def connect_text(self) -> str:
        """The CONNECT packet in the default parser's text (without the Engine.IO ``4``)."""
        data = self.connect_data()
        return "0" + self.prefix + ("" if data is None else dumps(data))

    def expire(self, ack_id: int) -> None:
        self.expired[ack_id] = None
        if len(self.expired) > _MAX_EXPIRED:
            del self.expired[next(iter(self.expired))]

    def disconnected(self) -> None:
        """Gone for good (refused, or disconnected by either side)."""
        self.state = DISCONNECTED
        self.active = False
        self.pending.clear()
        self.buffer.clear()

    def transport_closed(self, keep: bool) -> None:
        """The Engine.IO session closed; ``keep`` if it will reconnect."""
        if keep and self.active:
            self.state = CONNECTING
            self.pending.clear()
        else:
            self.disconnected()
