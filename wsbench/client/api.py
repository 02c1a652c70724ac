"""The user-facing asyncio client: ``async with connect(url) as client``.

Example::

    async with connect("http://127.0.0.1:3000", namespaces=["/", "/chat"]) as client:
        chat = client.socket("/chat")
        chat.on("message", lambda msg: print(msg))
        reply = await client.socket().call("echo", {"x": 1}, timeout=5)

:func:`connect` opens the Engine.IO session, connects every namespace given and
returns once all of them answered CONNECT (raising
:class:`~wsbench.exceptions.ConnectRefused` on a CONNECT_ERROR). It can be
awaited or used as an async context manager. The default WebSocket transport
needs no HTTP client; polling (and ``websocket_impl="aiohttp"``) without
``http`` creates (and later closes) its own aiohttp session, and a
:class:`~wsbench.client.pool.ClientPool` passes one shared session instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

from wsbench.client.connection import Connection
from wsbench.client.http import new_http_session, source_address
from wsbench.client.socket import Socket
from wsbench.client.transport import TransportOption, parse_transports
from wsbench.exceptions import ConnectRefused, ParserMismatch, WsbenchError
from wsbench.protocol.parser import DEFAULT, MSGPACK, Parser
from wsbench.protocol.reconnect import RandomSource, ReconnectPolicy

if TYPE_CHECKING:
    import aiohttp

__all__ = ["Client", "connect", "needs_http", "new_http_session", "source_address"]


def needs_http(transports: str | TransportOption, websocket_impl: str = "asyncio") -> bool:
    """Whether these options use an aiohttp session (polling, or the aiohttp WebSocket)."""
    return parse_transports(transports) is not TransportOption.WEBSOCKET or (
        websocket_impl == "aiohttp"
    )


class Client:
    """A connected client: one Engine.IO connection and its namespace sockets."""

    __slots__ = ("connection", "_own_http", "index")

    def __init__(
        self, connection: Connection, own_http: aiohttp.ClientSession | None = None, index: int = 0
    ) -> None:
        self.connection = connection
        self._own_http = own_http
        self.index = index

    def socket(self, namespace: str = "/", auth: dict[str, Any] | None = None) -> Socket:
        """The socket of ``namespace`` (connecting it if it was not part of ``connect``)."""
        return self.connection.socket(namespace, auth)

    @property
    def sid(self) -> str | None:
        """The socket id of ``/`` (or of the first namespace)."""
        sockets = self.connection.sockets
        sock = sockets.get("/") or next(iter(sockets.values()), None)
        return sock.sid if sock is not None else None

    @property
    def connected(self) -> bool:
        return self.connection.open and any(s.connected for s in self.connection.sockets.values())

    @property
    def transport(self) -> str:
        return self.connection.transport

    async def close(self) -> None:
        """Disconnect every namespace and close the transport (no reconnection)."""
        try:
            await self.connection.close()
        finally:
            if self._own_http is not None:
                await self._own_http.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class connect:  # noqa: N801 - used like a function, as websockets.connect is
    """Connect to a Socket.IO server; await it or use it with ``async with``.

    Args:
        url: ``http://host:port`` of the server.
        namespaces: namespaces to connect before returning.
        auth: the CONNECT payload sent to each namespace.
        transports: ``websocket``, ``polling`` or ``polling+upgrade``.
        path: the Engine.IO path.
        reconnection: a policy, ``True`` for the defaults, ``False`` for none.
        timeout: seconds for the handshake and for each namespace's CONNECT answer.
        http: a shared aiohttp session (see :class:`~wsbench.client.pool.ClientPool`);
            only polling and ``websocket_impl="aiohttp"`` use it.
        websocket_impl: ``"asyncio"`` (default, :mod:`wsbench.client.wsprotocol`) or
            ``"aiohttp"``.
        local_addr: source address of WebSocket connections, ``(host, 0)``.
        parser: the Socket.IO parser, ``"default"`` (JSON) or ``"msgpack"``.

    Raises (when awaited):
        ConnectFailed, HandshakeRejected, ResourceLimit: the transport could not open.
        ParserMismatch: the server closed the connection before answering CONNECT (or sent
            the other parser's packets), and a probe with the other parser got an answer.
        ConnectRefused: a namespace answered CONNECT_ERROR (raised as soon as it came,
            whichever of the namespaces it was: the others are not waited for).
        TimeoutError: a namespace did not answer within ``timeout``.
    """

    def __init__(
        self,
        url: str,
        *,
        namespaces: Iterable[str] = ("/",),
        auth: dict[str, Any] | None = None,
        transports: str | TransportOption = TransportOption.WEBSOCKET,
        path: str = "/socket.io/",
        reconnection: ReconnectPolicy | bool = True,
        timeout: float = 20.0,
        http: aiohttp.ClientSession | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        rng: RandomSource | None = None,
        index: int = 0,
        websocket_impl: str = "asyncio",
        local_addr: tuple[str, int] | None = None,
        parser: str | Parser | None = None,
    ) -> None:
        self.url = url
        self.parser = parser
        self.namespaces = list(namespaces)
        self.auth = auth
        self.transports = transports
        self.path = path
        if reconnection is True:
            reconnection = ReconnectPolicy()
        self.policy = reconnection or None
        self.timeout = timeout
        self.http = http
        self.headers = headers
        self.query = query
        self.rng = rng
        self.index = index
        self.websocket_impl = websocket_impl
        self.local_addr = local_addr
        self._client: Client | None = None

    async def _create(self) -> Client:
        own = None
        http = self.http
        if http is None and needs_http(self.transports, self.websocket_impl):
            http = own = new_http_session()
        try:
            conn = Connection(
                self.url,
                http,
                transports=self.transports,
                path=self.path,
                reconnection=self.policy,
                rng=self.rng,
                headers=self.headers,
                query=self.query,
                timeout=self.timeout,
                websocket_impl=self.websocket_impl,
                local_addr=self.local_addr or source_address(http),
                parser=self.parser,
            )
            sockets = [conn.socket(ns, self.auth) for ns in self.namespaces]
            client = Client(conn, own, self.index)
        except BaseException:
            if own is not None:
                await own.close()
            raise
        loop = conn.loop
        closed = False
        # one future woken by the first of: every CONNECT answered, one refused or failed,
        # the connection closed; callbacks on the sockets' own futures (no Task, no
        # asyncio.wait, no shield per socket: bench/README.md "Acked emits: the connect
        # path, wave 2e (engineer 59)")
        ready: asyncio.Future[None] = loop.create_future()

        def wake(_: object = None) -> None:
            if not ready.done():
                ready.set_result(None)

        def on_close(reason: str, detail: str) -> None:
            nonlocal closed
            closed = True
            wake()

        waiters: list[asyncio.Future[None]] = []

        def answered(waiter: asyncio.Future[None]) -> None:
            if _outcome(waiters) != _PENDING:
                wake()

        conn.on_close = on_close
        try:
            await conn.start()
            deadline = loop.time() + self.timeout
            for sock in sockets:
                waiter = sock._connect_future()
                if waiter is not None:
                    waiters.append(waiter)
            outcome = _outcome(waiters)
            if outcome == _PENDING:
                for waiter in waiters:
                    waiter.add_done_callback(answered)
                timer = loop.call_at(deadline, wake)
                try:
                    await ready
                finally:
                    timer.cancel()
                    for waiter in waiters:
                        waiter.remove_done_callback(answered)
                outcome = _outcome(waiters)
                if outcome == _PENDING and not closed:
                    raise TimeoutError  # no CONNECT answer within the timeout
            if outcome != _ANSWERED:
                await self._settle(conn, http, sockets, waiters, closed, deadline)
        except BaseException:
            await client.close()
            raise
        finally:
            if conn.on_close is on_close:
                conn.on_close = None
        return client

    async def _settle(
        self,
        conn: Connection,
        http: Any,
        sockets: list[Socket],
        waiters: list[asyncio.Future[None]],
        closed: bool,
        deadline: float,
    ) -> None:
        """The rare end of :meth:`_create`: raise a failure, or wait on until ``deadline``.

        Closed before any CONNECT answer: the other parser, perhaps? (ParserMismatch.) A
        reconnection policy may still bring the answers within the deadline.
        """
        async with asyncio.timeout_at(deadline):
            if (
                closed
                and not any(s.connected for s in sockets)
                and not any(_refused(w) for w in waiters)
            ):
                other = await self._other_parser_answers(conn, http)
                if other is not None:
                    raise ParserMismatch(self.url, other)
            while True:
                for waiter in waiters:
                    if _failed(waiter):
                        waiter.result()  # raises its ConnectRefused, ConnectionClosed
                pending = [w for w in waiters if not w.done()]
                if not pending:
                    return
                # the futures are not cancelled by a timeout here (asyncio.wait's own is)
                await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)

    async def _other_parser_answers(self, conn: Connection, http: Any) -> str | None:
        """The other parser's name if a server that closed on us answers CONNECT in it."""
        for violation in conn.violations:
            if violation.detail.startswith("the server speaks the "):
                return conn.parser.foreign(violation.raw or b"") or None
        other = MSGPACK if conn.parser is DEFAULT else DEFAULT
        sniff = Connection(
            self.url,
            http,
            transports=self.transports,
            path=self.path,
            reconnection=None,
            headers=self.headers,
            query=self.query,
            timeout=self.timeout,
            websocket_impl=self.websocket_impl,
            local_addr=conn.local_addr,
            parser=other,
        )
        sock = sniff.socket(self.namespaces[0] if self.namespaces else "/", self.auth)
        try:
            await sniff.start()
            await sock.wait_connected(min(self.timeout, 5.0))
        except ConnectRefused:
            return other.name  # a CONNECT_ERROR in its parser is an answer too
        except (WsbenchError, TimeoutError, OSError):
            return None
        finally:
            await sniff.close()
        return other.name

    def __await__(self) -> Generator[Any, None, Client]:
        return self._create().__await__()

    async def __aenter__(self) -> Client:
        self._client = await self._create()
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.close()


_ANSWERED, _FAILED, _PENDING = 0, 1, 2


def _outcome(waiters: list[asyncio.Future[None]]) -> int:
    """``_FAILED`` if one CONNECT answer failed, else ``_PENDING`` if one is missing."""
    if any(_failed(w) for w in waiters):
        return _FAILED
    return _ANSWERED if all(w.done() for w in waiters) else _PENDING


def _failed(waiter: asyncio.Future[None]) -> bool:
    """A CONNECT answer's future that ended in a refusal or a failure."""
    return waiter.done() and (waiter.cancelled() or waiter.exception() is not None)


def _refused(waiter: asyncio.Future[None]) -> bool:
    return (
        waiter.done()
        and not waiter.cancelled()
        and isinstance(waiter.exception(), ConnectRefused)
    )
