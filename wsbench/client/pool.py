"""Thousands of clients in one process: shared HTTP sessions, fd accounting, source addresses.

Theory of operation
-------------------
measurements.md: what made a Python client fast and small was one shared
aiohttp ``ClientSession`` with ``TCPConnector(limit=0)`` (a WebSocket holds its
connector slot for life, so any limit would serialize connects), one reader
task per connection and nothing else per connection. :class:`ClientPool` is
that, plus the two limits that otherwise fail at random:

* **open files.** Every connection costs one descriptor here (two on polling
  while a GET and a POST overlap) and one more in a loopback server. On this
  machine ``RLIMIT_NOFILE`` is 20,000 and cannot be raised. The pool counts
  the descriptors it will need before opening a connection and raises
  :class:`~wsbench.exceptions.ResourceLimit` naming the limit, instead of
  letting ``EMFILE`` surface as an unrelated error deep inside aiohttp.
* **ephemeral ports.** One (source address, target) pair has about 28,000
  ports (32768-60999). For loopback targets the pool spreads connections
  over source addresses 127.0.0.1, 127.0.0.2, ... (``per_address`` each):
  ``local_addr`` of each WebSocket connection, or one aiohttp session per
  source address for polling (``local_addr`` is a connector option there).

Nothing grows per message: sockets keep counters, and the pool keeps only
the list of its clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from wsbench.client.api import Client, connect, needs_http, new_http_session
from wsbench.client.transport import TransportOption, parse_transports
from wsbench.exceptions import ResourceLimit
from wsbench.protocol.reconnect import ReconnectPolicy

if TYPE_CHECKING:
    import aiohttp

__all__ = ["ClientPool", "fd_limit", "open_fds"]

DEFAULT_PER_ADDRESS = 20_000


def fd_limit() -> int:
    """The soft ``RLIMIT_NOFILE`` of this process."""
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_fds() -> int:
    """How many descriptors this process has open now (0 if unknown)."""
    with contextlib.suppress(OSError):
        return len(os.listdir("/proc/self/fd"))
    return 0


class ClientPool:
    """Opens and owns many clients to one server (use ``async with``).

    Args:
        url: the server.
        namespaces, transports, path, reconnection, timeout, websocket_impl, parser: as for
            :func:`~wsbench.client.api.connect`.
        auth: the CONNECT payload, or a function of the client index returning it.
        local_addresses: source addresses to spread over; default: 127.0.0.x for
            a loopback target, the system's choice otherwise.
        per_address: connections per source address before moving to the next.
        fd_reserve: descriptors kept free for everything else in the process.
    """

    def __init__(
        self,
        url: str,
        *,
        namespaces: Iterable[str] = ("/",),
        auth: dict[str, Any] | Callable[[int], dict[str, Any] | None] | None = None,
        transports: str | TransportOption = TransportOption.WEBSOCKET,
        path: str = "/socket.io/",
        reconnection: ReconnectPolicy | bool = True,
        timeout: float = 20.0,
        local_addresses: Iterable[str] | None = None,
        per_address: int = DEFAULT_PER_ADDRESS,
        fd_reserve: int = 64,
        websocket_impl: str = "asyncio",
        parser: str | None = None,
    ) -> None:
        self.url = url
        self.parser = parser
        self.namespaces = list(namespaces)
        self.auth = auth
        self.option = parse_transports(transports)
        self.path = path
        self.reconnection = reconnection
        self.timeout = timeout
        self.per_address = per_address
        self.fd_reserve = fd_reserve
        self.websocket_impl = websocket_impl
        self.clients: list[Client] = []
        self._addresses = list(local_addresses) if local_addresses is not None else None
        self._loopback = _is_loopback(url)
        self._http: dict[str | None, aiohttp.ClientSession] = {}
        self._opened = 0
        self._pending = 0
        self._fd_base = 0
        self._fd_limit = fd_limit()
        self._needs_http = needs_http(self.option, websocket_impl)

    @property
    def fds_per_client(self) -> int:
        return 1 if self.option is TransportOption.WEBSOCKET else 2

    async def __aenter__(self) -> ClientPool:
        self._fd_base = open_fds()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _source(self, index: int) -> str | None:
        slot = index // self.per_address
        if self._addresses is not None:
            return self._addresses[slot % len(self._addresses)] if self._addresses else None
        if not self._loopback:
            return None
        return f"127.0.{(slot + 1) // 256}.{(slot + 1) % 256}" if slot else "127.0.0.1"

    def _http_for(self, source: str | None) -> aiohttp.ClientSession:
        http = self._http.get(source)
        if http is None:
            options: dict[str, Any] = {}
            if source is not None:
                options["local_addr"] = (source, 0)
            http = self._http[source] = new_http_session(**options)
        return http

    def check_capacity(self, more: int = 1) -> None:
        """Raise :class:`ResourceLimit` if ``more`` clients would exhaust descriptors."""
        needed = self._fd_base + (self._opened + self._pending + more) * self.fds_per_client
        if needed + self.fd_reserve > self._fd_limit:
            can = max(0, (self._fd_limit - self.fd_reserve - self._fd_base) // self.fds_per_client)
            raise ResourceLimit(
                "RLIMIT_NOFILE",
                self._fd_limit,
                f"this process can hold about {can} {self.option.value} clients "
                f"({self.fds_per_client} descriptor(s) each, {self.fd_reserve} kept in reserve); "
                "a loopback server needs one more per connection in its own process; "
                "use fewer clients per process or more processes",
            )

    async def connect(self, auth: dict[str, Any] | None = None) -> Client:
        """Open one more client (raises like :func:`~wsbench.client.api.connect`)."""
        self.check_capacity()
        index = self._opened + self._pending
        self._pending += 1
        source = self._source(index)
        try:
            if auth is None and self.auth is not None:
                auth = self.auth(index) if callable(self.auth) else self.auth
            client = await connect(
                self.url,
                namespaces=self.namespaces,
                auth=auth,
                transports=self.option,
                path=self.path,
                reconnection=self.reconnection,
                timeout=self.timeout,
                http=self._http_for(source) if self._needs_http else None,
                index=index,
                websocket_impl=self.websocket_impl,
                local_addr=(source, 0) if source is not None else None,
                parser=self.parser,
            )
        finally:
            self._pending -= 1
        self._opened += 1
        self.clients.append(client)
        return client

    async def connect_many(self, n: int, *, concurrency: int = 100) -> list[Client]:
        """Open ``n`` clients, at most ``concurrency`` handshakes at a time.

        Raises the first error (after the other handshakes in flight settle);
        clients opened so far stay in :attr:`clients`.
        """
        self.check_capacity(n)
        opened: list[Client] = []
        it = iter(range(n))
        errors: list[BaseException] = []

        async def worker() -> None:
            for _ in it:
                if errors:
                    return
                try:
                    opened.append(await self.connect())
                except Exception as exc:
                    errors.append(exc)
                    return

        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, n)))))
        if errors:
            raise errors[0]
        return opened

    async def close(self) -> None:
        """Close every client, then the HTTP sessions."""
        clients, self.clients = self.clients, []
        for i in range(0, len(clients), 500):
            await asyncio.gather(*(c.close() for c in clients[i : i + 500]), return_exceptions=True)
        for http in self._http.values():
            await http.close()
        self._http.clear()
        self._opened = 0


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False
