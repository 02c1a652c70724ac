"""The HTTP long-polling transport on aiohttp, with the pause the upgrade needs.

Theory of operation
-------------------
Spec "HTTP long-polling": the client receives with a long GET and sends with a
short POST, "at most one of each in flight"; records are joined with
``\\x1e`` and "clients use maxPayload to decide how many packets to batch".

* :meth:`PollingTransport.read_loop` is the GET loop: one GET at a time, each
  body handed to the connection, until the session closes, the server answers
  anything but 200, or :meth:`PollingTransport.pause` asks it to stop.
* :meth:`PollingTransport.send` is synchronous: it appends to a queue and, if
  no POST is in flight, starts one; the POST task drains the queue in batches
  of at most ``max_payload`` bytes (:func:`~wsbench.protocol.client.polling_payloads`)
  and exits when the queue is empty. So at most one POST task exists.
* Upgrade (spec "Upgrade"): after ``3probe`` the connection calls
  :meth:`pause`, which resolves once the GET in flight has returned (the
  server releases it with a NOOP) and no POST is in flight; the read loop
  then returns ``ReadResult(None)`` and never issues another GET.

Bodies are read bounded (:func:`read_bounded`): a GET body by the handshake's
maxPayload (at least 1 MB, the bound the websocket path puts on one message), the
handshake by 1 MB; a larger Content-Length is refused before reading, a body that
grows past the bound is cut after bound + 1 bytes. An oversized GET ends the
transport like a websocket message over ``max_size``: a 1009 violation, closed with
``transport error``.

A GET is awaited together with an abort future so that :meth:`abort`
(ping timeout, user close) stops the loop at once instead of after a
pingInterval-long poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aiohttp

from wsbench.client.transport import ReadResult, open_error
from wsbench.exceptions import ConnectFailed
from wsbench.protocol.client import polling_payloads
from wsbench.protocol.events import DisconnectReason
from wsbench.protocol.websocket import FrameViolation

__all__ = ["PollingTransport", "handshake", "read_bounded", "BodyTooLarge"]

FIRST = asyncio.FIRST_COMPLETED
_TEXT_PLAIN = {"Content-Type": "text/plain;charset=UTF-8"}
_MIN_BODY = 1_000_000


class BodyTooLarge(Exception):
    """A response body over the bound (internal: turned into a transport error)."""

    def __init__(self, limit: int, announced: int | None) -> None:
        super().__init__(limit, announced)
        self.limit = limit
        self.announced = announced

    @property
    def size_text(self) -> str:
        if self.announced is not None:
            return f"of {self.announced:,} bytes is over the {self.limit:,}-byte bound"
        return f"is over the {self.limit:,}-byte bound"


async def read_bounded(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body of ``resp``, at most ``limit`` bytes; never buffers more than ``limit`` + 1.

    Raises:
        BodyTooLarge: Content-Length says more, or more arrived.
    """
    length = resp.content_length
    if length is not None and length > limit:
        raise BodyTooLarge(limit, length)
    chunks: list[bytes] = []
    total = 0
    while chunk := await resp.content.read(limit + 1 - total):
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge(limit, length)
    return b"".join(chunks)


async def handshake(
    http: aiohttp.ClientSession,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 20.0,
) -> str:
    """The opening GET (no sid): returns the body holding the OPEN packet.

    Raises:
        HandshakeRejected, ConnectFailed, ResourceLimit.
    """
    try:
        async with asyncio.timeout(timeout):
            async with http.get(url, headers=headers) as resp:
                try:
                    body = (await read_bounded(resp, _MIN_BODY)).decode("utf-8", "replace")
                except BodyTooLarge as exc:
                    raise ConnectFailed(url, f"handshake body {exc.size_text}") from None
                if resp.status != 200:
                    from wsbench.exceptions import HandshakeRejected

                    raise HandshakeRejected(url, resp.status, body)
                return body
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise open_error(url, exc) from exc


class PollingTransport:
    """An open Engine.IO long-polling transport for session ``url`` (with ``sid``)."""

    name = "polling"

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        max_payload: int,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._http = http
        self.url = url
        self.max_payload = max_payload
        self._headers = {**_TEXT_PLAIN, **(headers or {})}
        self._get_headers = headers
        self._queue: list[str] = []
        self._post_task: asyncio.Task[None] | None = None
        self._aborted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._paused: asyncio.Future[None] | None = None
        self._get_in_flight = False
        self._reading: asyncio.Future[None] | None = None  # set while reading is paused
        self.error: str | None = None
        self.too_large = False

    # -- writing -------------------------------------------------------------------------

    def send(self, messages: list[str | bytes]) -> None:
        if self._aborted.done():
            return
        self._queue.extend(messages)  # type: ignore[arg-type]  # polling records are str
        if self._post_task is None:
            self._post_task = asyncio.get_running_loop().create_task(self._post_all())

    async def _post_all(self) -> None:
        try:
            while self._queue and not self._aborted.done():
                records, self._queue = self._queue, []
                for body in polling_payloads(records, self.max_payload):
                    async with self._http.post(
                        self.url, data=body.encode("utf-8"), headers=self._headers
                    ) as resp:
                        await resp.read()
                        if resp.status != 200:
                            self._fail(f"POST answered HTTP {resp.status}")
                            return
        except (aiohttp.ClientError, OSError) as exc:
            self._fail(f"POST failed: {type(exc).__name__}: {exc}")
        finally:
            self._post_task = None
            self._maybe_paused()

    # -- reading -------------------------------------------------------------------------

    @property
    def max_body(self) -> int:
        """The largest GET body read: the handshake's maxPayload, at least 1 MB (as websocket)."""
        return max(_MIN_BODY, self.max_payload)

    async def _get(self) -> str | None:
        async with self._http.get(self.url, headers=self._get_headers) as resp:
            limit = self.max_body
            try:
                raw = await read_bounded(resp, limit)
            except BodyTooLarge as exc:
                self.error = f"GET body {exc.size_text} (maxPayload {self.max_payload:,})"
                self.too_large = True
                return None
            body = raw.decode("utf-8", "replace")
            if resp.status != 200:
                self.error = f"GET answered HTTP {resp.status}: {body[:100]}"
                return None
            return body

    async def read_loop(self, feed: Callable[[str | bytes], bool]) -> ReadResult:
        loop = asyncio.get_running_loop()
        while True:
            if self._paused is not None:
                self._maybe_paused()
                return ReadResult(None)
            if self._aborted.done():
                return ReadResult(DisconnectReason.TRANSPORT_CLOSE, self.error or "aborted")
            if self._reading is not None:  # paused by the user: no GET until resumed
                await asyncio.wait((self._reading, self._aborted), return_when=FIRST)
                continue
            get = loop.create_task(self._get())
            self._get_in_flight = True
            try:
                await asyncio.wait((get, self._aborted), return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._get_in_flight = False
            if not get.done():
                get.cancel()
                with contextlib.suppress(BaseException):
                    await get
                return ReadResult(DisconnectReason.TRANSPORT_CLOSE, self.error or "aborted")
            try:
                body = get.result()
            except (aiohttp.ClientError, OSError) as exc:
                return ReadResult(DisconnectReason.TRANSPORT_ERROR, f"{type(exc).__name__}: {exc}")
            if body is None:
                if self.too_large:  # like a websocket message over max_size: 1009, a violation
                    detail = self.error or "GET body too large"
                    return ReadResult(
                        DisconnectReason.TRANSPORT_ERROR,
                        detail,
                        FrameViolation(1009, detail, "Engine.IO HTTP long-polling, maxPayload"),
                    )
                return ReadResult(DisconnectReason.TRANSPORT_ERROR, self.error or "")
            if not feed(body):
                return ReadResult(None)
            if self.error is not None:
                return ReadResult(DisconnectReason.TRANSPORT_ERROR, self.error)

    # -- upgrade and closing ----------------------------------------------------------------

    async def pause(self) -> None:
        """Stop polling: returns once no GET and no POST is in flight."""
        if self._paused is None:
            self._paused = asyncio.get_running_loop().create_future()
        self._maybe_paused()
        await self._paused

    def _maybe_paused(self) -> None:
        paused = self._paused
        if (
            paused is not None
            and not paused.done()
            and not self._get_in_flight
            and self._post_task is None
        ):
            paused.set_result(None)

    def resume(self) -> None:
        """Undo :meth:`pause` (the upgrade failed after the probe): poll again."""
        self._paused = None

    def pause_reading(self) -> None:
        """Issue no new GET (the one in flight completes) until :meth:`resume_reading`."""
        if self._reading is None:
            self._reading = asyncio.get_running_loop().create_future()

    def resume_reading(self) -> None:
        reading, self._reading = self._reading, None
        if reading is not None and not reading.done():
            reading.set_result(None)

    def _fail(self, detail: str) -> None:
        self.error = detail
        self.abort()

    def abort(self) -> None:
        if not self._aborted.done():
            self._aborted.set_result(None)
        if self._paused is not None and not self._paused.done():
            self._paused.set_result(None)

    async def close(self) -> None:
        # Flush what is queued (the CLOSE packet "1", DISCONNECTs), bounded in time.
        task = self._post_task
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), 2.0)
        self.abort()
