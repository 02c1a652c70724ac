"""The reference server's options (docs/events.md "Server options") as one frozen value.

``ServerConfig()`` holds the documented defaults; :func:`parse_args` builds one from the
command line (``python -m reference_server --help``). ``wsbench serve`` builds its own and
calls :func:`reference_server.app.run`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from wsbench.exceptions import ConfigError
from wsbench.protocol.parser import PARSER_NAMES, Parser, get_parser

__all__ = ["ADAPTER_FAULTS", "FAULTS", "ServerConfig", "parse_args", "build_parser"]

FAULTS = (
    "broadcast-to-sender",
    "room-leak",
    "multi-room-duplicate",
    "drop-deliveries",
    "reorder",
    "drop-acks",
    "drop-some-acks",
    "late-acks",
    "ignore-leave",
    "accept-bad-token",
    "private-room-join",
    "document-state-wrong-doc",
    "ack-wrong-payload",
)
"""Every ``--fault`` name; each breaks exactly one promise of docs/events.md."""

ADAPTER_FAULTS = (
    "adapter-double-emit",
    "adapter-drop-remote",
    "adapter-publish-per-room",
)
"""The Redis adapter's ``--fault`` names (need ``--adapter``; docs/events.md "Faults")."""


def check_adapter_url(url: str) -> str:
    """``redis://HOST:PORT`` (optionally ``/DB``), or a :class:`ConfigError` saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "redis" or not parts.hostname:
        raise ConfigError(f"--adapter must be redis://HOST:PORT, not {url!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(f"--adapter {url!r}: the port is not a number 0..65535") from None
    return url


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Options of the reference server. Times in milliseconds, sizes in bytes.

    ``write_buffer_limit``: a connection whose unsent bytes (the WebSocket write buffer, or
    the polling records no GET has taken yet) exceed it is a slow consumer and is closed, so
    memory stays bounded. ``volatile_high_water``: a volatile packet is dropped when the
    connection already has more unsent bytes than this. ``notification_bytes_per_user`` /
    ``notification_bytes_total``: stored notifications are evicted oldest first past these
    sizes (docs/events.md "Notifications"). ``header_timeout`` / ``body_timeout`` /
    ``idle_timeout``: HTTP deadlines (docs/events.md "Server options"); 0 disables one.
    """

    host: str = "127.0.0.1"
    port: int = 3000
    ping_interval: int = 25000
    ping_timeout: int = 20000
    max_payload: int = 1_000_000
    connect_timeout: int = 45000
    jwt_secret: str | None = None
    cors_origin: str = "*"
    recovery: bool = False
    app_heartbeat_interval: int = 30000
    max_rooms: int = 100
    faults: frozenset[str] = field(default_factory=frozenset)
    write_buffer_limit: int = 16 * 1024 * 1024
    volatile_high_water: int = 64 * 1024
    upgrade_timeout: int = 10000
    recovery_max_disconnection: int = 120000
    notification_bytes_per_user: int = 4 * 1024 * 1024
    notification_bytes_total: int = 64 * 1024 * 1024
    header_timeout: int = 10000
    body_timeout: int = 30000
    idle_timeout: int = 60000
    adapter: str | None = None
    parser: str = "default"

    def __post_init__(self) -> None:
        if self.parser not in PARSER_NAMES:
            raise ConfigError(
                f"unknown parser {self.parser!r}; known: {', '.join(PARSER_NAMES)}"
            )
        unknown = set(self.faults) - set(FAULTS) - set(ADAPTER_FAULTS)
        if unknown:
            known = ", ".join(FAULTS + ADAPTER_FAULTS)
            raise ConfigError(f"unknown fault(s) {sorted(unknown)}; known: {known}")
        if self.adapter is not None:
            check_adapter_url(self.adapter)
            if self.recovery:
                raise ConfigError(
                    "--recovery is node-local: not with --adapter (the official Redis adapter "
                    "carries no recovery offsets either)"
                )
        elif set(self.faults) & set(ADAPTER_FAULTS):
            raise ConfigError(
                f"fault(s) {sorted(set(self.faults) & set(ADAPTER_FAULTS))} need --adapter"
            )
        if not isinstance(self.faults, frozenset):
            object.__setattr__(self, "faults", frozenset(self.faults))
        for name in (
            "port", "ping_interval", "ping_timeout", "max_payload", "connect_timeout",
            "write_buffer_limit", "notification_bytes_per_user", "notification_bytes_total",
            "header_timeout", "body_timeout", "idle_timeout",
        ):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
        if self.ping_interval == 0 or self.max_payload == 0:
            raise ConfigError("ping_interval and max_payload must be positive")

    def has_fault(self, name: str) -> bool:
        return name in self.faults

    @property
    def sio_parser(self) -> Parser:
        """The Socket.IO parser every connection speaks (``--parser``)."""
        return get_parser(self.parser)


def build_parser(prog: str = "python -m reference_server") -> argparse.ArgumentParser:
    """The command line; ``prog`` is how the help names it (``wsbench serve`` passes its own).

    Every option has a help text (a test walks every ``--help`` of the CLI).
    """
    p = argparse.ArgumentParser(
        prog=prog,
        description="wsbench reference Socket.IO server (the docs/events.md contract). "
        "Prints one line 'wsbench reference server listening on URL' and serves until "
        "SIGINT/SIGTERM.",
    )
    d = ServerConfig()
    p.add_argument("--host", default=d.host, help="interface to bind (%(default)s)")
    p.add_argument("--port", type=int, default=d.port, help="TCP port, 0 = free (%(default)s)")
    p.add_argument("--ping-interval", type=int, default=d.ping_interval, metavar="MS",
                   help="Engine.IO pingInterval, ms (%(default)s)")
    p.add_argument("--ping-timeout", type=int, default=d.ping_timeout, metavar="MS",
                   help="Engine.IO pingTimeout, ms (%(default)s)")
    p.add_argument("--max-payload", type=int, default=d.max_payload, metavar="BYTES",
                   help="Engine.IO maxPayload, bytes (%(default)s)")
    p.add_argument("--connect-timeout", type=int, default=d.connect_timeout, metavar="MS",
                   help="ms a client has after the handshake to connect a namespace "
                   "(%(default)s)")
    p.add_argument("--jwt-secret", default=None, metavar="S", help="HS256 secret; enables auth")
    p.add_argument("--cors-origin", default=d.cors_origin, metavar="O",
                   help="Access-Control-Allow-Origin (%(default)s)")
    p.add_argument("--recovery", action="store_true", help="connection state recovery")
    p.add_argument(
        "--app-heartbeat-interval", type=int, default=d.app_heartbeat_interval, metavar="MS",
        help="ms between app-level ping rounds, 0 disables them (%(default)s)",
    )  # fmt: skip
    p.add_argument("--max-rooms", type=int, default=d.max_rooms, metavar="N",
                   help="rooms one socket may be in (%(default)s)")
    p.add_argument(
        "--write-buffer-limit", type=int, default=d.write_buffer_limit, metavar="BYTES",
        help="unsent bytes (websocket buffer or polling queue) after which a connection is "
        "closed as a slow consumer (%(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--notification-bytes-per-user", type=int, default=d.notification_bytes_per_user,
        metavar="BYTES", help="stored notification bytes per user; oldest evicted (%(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--notification-bytes-total", type=int, default=d.notification_bytes_total,
        metavar="BYTES", help="stored notification bytes of all users; oldest evicted "
        "(%(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--header-timeout", type=int, default=d.header_timeout, metavar="MS",
        help="a request head must be complete this long after its first byte, 0 = none "
        "(%(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--body-timeout", type=int, default=d.body_timeout, metavar="MS",
        help="a request body must be complete this long after its head, 0 = none (%(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--idle-timeout", type=int, default=d.idle_timeout, metavar="MS",
        help="a connection with no request in progress (also one that never sends a byte) "
        "is closed after this long, 0 = never (%(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--parser", default=d.parser, choices=PARSER_NAMES,
        help="Socket.IO parser: 'default' (socket.io-parser's text) or 'msgpack' (the wire "
        "format of socket.io-msgpack-parser: every packet one binary message) (%(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--adapter", default=None, metavar="redis://HOST:PORT",
        help="join a cluster through Redis, speaking @socket.io/redis-adapter 8.x's wire "
        "protocol (docs/cluster.md); none = a single node",
    )  # fmt: skip
    p.add_argument(
        "--fault", action="append", default=[], choices=FAULTS + ADAPTER_FAULTS, metavar="NAME",
        help="misbehave in one named way (repeatable): " + ", ".join(FAULTS + ADAPTER_FAULTS),
    )  # fmt: skip
    return p


def parse_args(
    argv: Sequence[str] | None = None, prog: str = "python -m reference_server"
) -> ServerConfig:
    """Parse the command line into a :class:`ServerConfig` (exits 2 on a usage error)."""
    parser = build_parser(prog)
    ns = parser.parse_args(argv)
    try:
        return ServerConfig(
            host=ns.host,
            port=ns.port,
            ping_interval=ns.ping_interval,
            ping_timeout=ns.ping_timeout,
            max_payload=ns.max_payload,
            connect_timeout=ns.connect_timeout,
            jwt_secret=ns.jwt_secret,
            cors_origin=ns.cors_origin,
            recovery=ns.recovery,
            app_heartbeat_interval=ns.app_heartbeat_interval,
            max_rooms=ns.max_rooms,
            faults=frozenset(ns.fault),
            write_buffer_limit=ns.write_buffer_limit,
            notification_bytes_per_user=ns.notification_bytes_per_user,
            notification_bytes_total=ns.notification_bytes_total,
            header_timeout=ns.header_timeout,
            body_timeout=ns.body_timeout,
            idle_timeout=ns.idle_timeout,
            adapter=ns.adapter,
            parser=ns.parser,
        )
    except ConfigError as exc:
        parser.error(str(exc))
        raise  # unreachable: parser.error exits
