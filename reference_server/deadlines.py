"""HTTP deadlines of the reference server: request head, request body, idle connection.

Theory of operation
-------------------
Three documented options (docs/events.md "Server options"), each 0 to disable:

* ``--idle-timeout``: aiohttp's own ``keepalive_timeout``. In aiohttp 3.14 its timer starts
  when the connection is made and again after every response, and closes the connection if
  no complete request head has arrived by then ("handler in idle state"). So it covers a
  connection that never sends a byte, and bounds a partial head too.
* ``--header-timeout``: aiohttp has no deadline measured from the *first byte* of a request
  head (``RequestHandler`` has no header-read timeout; ``keepalive_timeout`` is measured from
  idleness, and is typically long). :class:`DeadlineHandler` is a small subclass of the
  low-level ``RequestHandler`` that arms one timer when head bytes arrive while no request is
  in progress, cancels it when the parser produces the request, and closes the transport if
  it fires first. That is the "small protocol-level watchdog": it reads three attributes of
  ``RequestHandler`` (``_request_count``, ``_current_request``, ``_upgraded``), which is why
  it is kept here, alone, with a test per deadline.
* ``--body-timeout``: applied where bodies are read (polling POST, ``POST /notifications``)
  with :func:`read_body`; a body that is not complete in time is answered ``408`` and the
  connection is closed (for polling, the session too).

Upgraded (WebSocket) connections and requests in progress (a long-polling GET waiting for
packets) are never touched by the head watchdog; the Engine.IO heartbeat bounds those.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

__all__ = ["DeadlineHandler", "handler_factory", "read_body", "BodyTimeout", "answer_and_close"]


class BodyTimeout(Exception):
    """The request body did not arrive within ``--body-timeout``."""


class DeadlineHandler(RequestHandler):
    """aiohttp's request handler plus a deadline on a request head, from its first byte."""

    def __init__(self, manager: web.Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._head_timeout = header_timeout
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_count = 0

    def data_received(self, data: bytes) -> None:
        count = self._request_count
        super().data_received(data)
        if self._request_count != count or self._upgraded:
            self._cancel_head_timer()  # the head is complete (or the stream is a websocket)
        elif (
            data
            and self._head_timer is None
            and self._head_timeout > 0
            and self._current_request is None
            and not self._messages
        ):
            self._head_count = count
            self._head_timer = self._loop.call_later(self._head_timeout, self._on_head_timeout)

    def _on_head_timeout(self) -> None:
        self._head_timer = None
        if self._request_count == self._head_count and not self._upgraded:
            self.force_close()  # no answer: the peer has not even sent a whole request

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)


def handler_factory(server: web.Server, header_timeout_ms: int) -> Any:
    """A protocol factory for ``loop.create_server``: the runner's server, our handler."""
    loop = asyncio.get_running_loop()
    kwargs = dict(getattr(server, "_kwargs", {}))  # what AppRunner passes RequestHandler

    def make() -> DeadlineHandler:
        return DeadlineHandler(server, loop=loop, header_timeout=header_timeout_ms / 1000, **kwargs)

    return make


async def read_body(request: web.Request, limit: int, timeout_ms: int) -> bytes:
    """Read at most ``limit + 1`` bytes of the body within ``timeout_ms`` (0: no deadline).

    Raises:
        BodyTimeout: the body was not complete in time.
    """

    async def read() -> bytes:
        body = await request.content.read(limit + 1)
        while len(body) <= limit and not request.content.at_eof():
            chunk = await request.content.read(limit + 1 - len(body))
            if not chunk:
                break
            body += chunk
        return body

    if timeout_ms <= 0:
        return await read()
    try:
        async with asyncio.timeout(timeout_ms / 1000):
            return await read()
    except TimeoutError:
        raise BodyTimeout(f"request body not complete within {timeout_ms} ms") from None


async def answer_and_close(request: web.Request, response: web.Response) -> web.Response:
    """Send ``response`` and close the connection (aiohttp would otherwise linger, reading
    the rest of a body that may never come, for up to ``lingering_time``)."""
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    if request.transport is not None:
        request.transport.close()  # close() flushes what was written first
    return response
