"""The preflight of ``wsbench run``: is there a Socket.IO server at the target, at all?

Theory of operation
-------------------
Before any client starts, :func:`preflight` sends the one request every Socket.IO
client starts with, the Engine.IO v4 polling handshake
``GET <url><path>?EIO=4&transport=polling``, bounded by 2 s in total and by
:data:`MAX_BODY` bytes of answer, and judges what came back:

* nothing (refused, unresolvable, no answer in time): :class:`ConnectFailed`;
* an answer that is not an Engine.IO OPEN packet — a 404 page, a 200 HTML page,
  an Engine.IO v3 payload, an Engine.IO error object other than "Transport
  unknown": :class:`NotSocketIO`, whose message is ONE line naming what was
  requested, what came back (status, content type, the start of the body, made
  printable) and what that probably means;
* ``400 {"code":0,"message":"Transport unknown"}``: a Socket.IO server with polling
  disabled; accepted when the scenario uses websocket only;
* an OPEN packet: accepted; the session it opened is closed at once (a best-effort
  ``1`` POST) so the probe leaves nothing behind on the server.

Both errors are :class:`~wsbench.exceptions.ConnectFailed`, so the command line
maps them to exit 4. A server that completes the Engine.IO handshake but never
answers the Socket.IO CONNECT passes the preflight; its clients then fail to
connect, and each failed client is a ``connect_failed`` violation (exit 1).
"""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp

from wsbench.exceptions import ConnectFailed, ParserMismatch, RemoteProtocolError, WsbenchError
from wsbench.protocol.engineio import OpenInfo

__all__ = ["preflight", "parser_check", "NotSocketIO", "MAX_BODY", "TIMEOUT_S"]

MAX_BODY = 64 * 1024  #: bytes of the handshake answer read at most
TIMEOUT_S = 2.0  #: the whole preflight, connection to last byte
_EIO3 = re.compile(r"^\d+:0\{")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


class NotSocketIO(ConnectFailed):
    """The target answered, but not as an Engine.IO v4 / Socket.IO v5 server (exit 4)."""

    def __init__(self, url: str, requested: str, answered: str, meaning: str) -> None:
        ConnectFailed.__init__(self, url, f"GET {requested} answered {answered}: {meaning}")
        self.args = (
            f"no Socket.IO server at {url}: GET {requested} answered {answered}: {meaning}",
        )
        self.requested = requested
        self.answered = answered
        self.meaning = meaning

    def __str__(self) -> str:
        return str(self.args[0])


def _excerpt(body: str, content_type: str) -> str:
    """The start of a body, printable on one line: an HTML page's title, else ~60 chars."""
    if "html" in content_type or body.lstrip()[:1] == "<":
        title = _TITLE.search(body)
        if title:
            return "page titled " + json.dumps(" ".join(title.group(1).split())[:60])
    text = " ".join(body.split())
    return json.dumps(text[:60] + ("..." if len(text) > 60 else "")) if text else "an empty body"


def _meaning(status: int, body: str, path: str) -> str | None:
    """What an answer that is not an OPEN packet probably means (None: it is acceptable)."""
    if status == 200 and _EIO3.match(body):
        return (
            "an Engine.IO v3 payload: a socket.io 2.x server; wsbench speaks socket.io 4.x (EIO=4)"
        )
    if status == 200:
        return f"not an Engine.IO handshake: a web server without Socket.IO at {path}"
    if status == 404:
        return f"nothing at {path}: not a Socket.IO server, or it serves another path (set 'path:')"
    if status in (401, 403):
        return "the server refused the handshake itself (auth at the HTTP level is not supported)"
    if status == 400:
        try:
            err = json.loads(body)
        except ValueError:
            err = None
        if isinstance(err, dict) and "code" in err:
            if err.get("message") == "Unsupported protocol version":
                return "an Engine.IO server that does not speak protocol 4 (socket.io 2.x?)"
            return f"an Engine.IO server refused the handshake: {err.get('message')!r}"
        return "a web server without Socket.IO at this path"
    if status >= 500:
        return "the server failed on the handshake (a server error, not a Socket.IO answer)"
    return f"not an Engine.IO handshake answer at {path}"


async def preflight(
    url: str, path: str = "/socket.io/", *, websocket_only: bool = False, timeout: float = TIMEOUT_S
) -> OpenInfo | None:
    """Check that ``url`` speaks Engine.IO v4 at ``path``; see the module docstring.

    Returns the handshake's :class:`OpenInfo`, or None when polling is disabled and
    ``websocket_only`` (nothing more can be learnt without opening a websocket).

    Raises:
        ConnectFailed: nothing answered within ``timeout``.
        NotSocketIO: something answered, but not Socket.IO.
    """
    base = url.rstrip("/")
    requested = f"{path}?EIO=4&transport=polling"
    probe = f"{base}{requested}"
    async with aiohttp.ClientSession() as http:
        try:
            async with asyncio.timeout(timeout):
                async with http.get(probe, allow_redirects=False) as resp:
                    raw = b""
                    while len(raw) < MAX_BODY and (chunk := await resp.content.read(MAX_BODY)):
                        raw += chunk  # at most MAX_BODY + one chunk: a bounded excerpt
                    status, ctype = resp.status, resp.headers.get("Content-Type", "")
        except TimeoutError:
            raise ConnectFailed(url, f"no answer to GET {requested} within {timeout:g} s") from None
        except aiohttp.ClientError as exc:
            reason = str(exc.__cause__ or exc) or type(exc).__name__
            raise ConnectFailed(url, reason) from None
        except OSError as exc:
            raise ConnectFailed(url, f"{type(exc).__name__}: {exc}") from None
        body = raw.decode("utf-8", "replace")
        info = _open_info(body) if status == 200 else None
        if info is not None:
            await _close_probe(http, f"{probe}&sid={info.sid}")
            return info
    if status == 400 and websocket_only and _transport_unknown(body):
        return None
    answered = f"HTTP {status}" + (f" {ctype.split(';')[0]}" if ctype else "")
    answered += f" ({_excerpt(body, ctype)})"
    meaning = _meaning(status, body, path) or "not a Socket.IO handshake"
    raise NotSocketIO(url, requested, answered, meaning)


async def parser_check(
    url: str, path: str, parser: str, transports: str, timeout: float = TIMEOUT_S
) -> None:
    """One Socket.IO CONNECT to ``/`` with the scenario's parser: a server speaking the other
    parser fails the run here with one line (:class:`ParserMismatch`), not with every client.

    Any other outcome (connected, refused by auth, timed out) is left to the run to judge.

    Raises:
        ParserMismatch: the server closed on our CONNECT and answers the other parser's.
    """
    from wsbench.client.api import connect

    try:
        client = await connect(
            url, path=path, parser=parser, transports=transports, reconnection=False,
            timeout=timeout,
        )
    except ParserMismatch:
        raise
    except (WsbenchError, TimeoutError, OSError):
        return
    await client.close()


def _open_info(body: str) -> OpenInfo | None:
    first = body.split("\x1e", 1)[0]
    if not first.startswith("0"):
        return None
    try:
        return OpenInfo.from_json(first[1:])
    except RemoteProtocolError:
        return None


def _transport_unknown(body: str) -> bool:
    try:
        err = json.loads(body)
    except ValueError:
        return False
    return isinstance(err, dict) and err.get("message") == "Transport unknown"


async def _close_probe(http: aiohttp.ClientSession, session_url: str) -> None:
    """Close the probe's Engine.IO session (best effort, within the preflight's deadline)."""
    try:
        async with asyncio.timeout(0.5):
            async with http.post(
                session_url, data=b"1", headers={"Content-Type": "text/plain;charset=UTF-8"}
            ) as resp:
                await resp.content.read(MAX_BODY)
    except (TimeoutError, aiohttp.ClientError, OSError):
        pass
