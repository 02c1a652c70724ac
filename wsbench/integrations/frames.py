"""Reading WebSocket frames for many connections: a frame parser and a shared poller.

Theory of operation
-------------------
:class:`FrameReader` turns the bytes of one connection into WebSocket messages
(RFC 6455: server frames are unmasked; fragmented messages are joined; ping is
answered with pong; close ends the stream). It is fed whatever one ``recv``
returned, so a burst of broadcasts costs one system call and one pass.

:class:`Poller` is what lets one Locust process hold thousands of connections
cheaply. Instead of one green thread per connection (one wake-up, one
``recv`` and one would-block ``recv`` per frame), one green thread waits on an
``epoll`` descriptor and, when it wakes, reads every ready socket once with a
plain non-blocking ``os.read``: the per-frame cost is one system call and no
green-thread switch. Callbacks run in the poller and must not block for long.
The caller passes the green-thread primitives (``wait_read``, ``epoll``, ``spawn``),
so this module imports neither gevent nor locust.
"""

from __future__ import annotations

import logging
import os
import select
import struct
from collections.abc import Callable
from typing import Any

__all__ = ["FrameReader", "Poller", "READ_SIZE"]

log = logging.getLogger(__name__)
READ_SIZE = 65536


class FrameReader:
    """Bytes in, messages out, for one WebSocket connection.

    Args:
        on_message: called with each whole text (``str``) or binary (``bytes``) message.
        on_ping: called with a ping's payload (answer it with a pong).
    """

    __slots__ = ("on_message", "on_ping", "_buf", "_fragments", "_text", "closed")

    def __init__(self, on_message: Callable[[Any], None], on_ping: Callable[[bytes], None]) -> None:
        self.on_message = on_message
        self.on_ping = on_ping
        self._buf = b""
        self._fragments: list[bytes] = []
        self._text = False
        #: set when the server sent a close frame; nothing after it is read
        self.closed = False

    def feed(self, data: bytes) -> None:
        """Parse every whole frame in ``data`` (plus what was left over before)."""
        buf = self._buf + data if self._buf else data
        receive = self.on_message
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = struct.unpack_from("!H", buf, pos + 2)[0]
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = struct.unpack_from("!Q", buf, pos + 2)[0]
                head = 10
            if b1 & 0x80:  # a masked server frame breaks RFC 6455 §5.1; be lenient, skip the key
                head += 4
            if end - pos < head + length:
                break
            payload = buf[pos + head : pos + head + length]
            pos += head + length
            opcode = b0 & 0x0F
            if opcode == 1 and b0 & 0x80:
                receive(payload.decode("utf-8", "replace"))
            elif opcode == 2 and b0 & 0x80:
                receive(payload)
            elif opcode in (0, 1, 2):
                if opcode:
                    self._fragments, self._text = [payload], opcode == 1
                else:
                    self._fragments.append(payload)
                if b0 & 0x80:
                    whole = b"".join(self._fragments)
                    self._fragments = []
                    receive(whole.decode("utf-8", "replace") if self._text else whole)
            elif opcode == 9:
                self.on_ping(payload)
            elif opcode == 8:
                self.closed = True
                break
        self._buf = buf[pos:] if pos < end and not self.closed else b""


class Poller:
    """One green thread reading every registered socket when it is readable.

    Args:
        wait_read: blocks the calling green thread until a descriptor is readable.
        epoll: builds a real (not monkey-patched) ``select.epoll``.
        spawn: starts a green thread.
    """

    def __init__(
        self,
        wait_read: Callable[[int], None],
        epoll: Callable[[], Any],
        spawn: Callable[..., Any],
    ) -> None:
        self._wait_read = wait_read
        self._epoll = epoll()
        self._spawn = spawn
        self._readers: dict[int, Callable[[bytes], bool]] = {}
        self._greenlet: Any = None

    def add(self, fd: int, on_data: Callable[[bytes], bool]) -> None:
        """Call ``on_data(bytes)`` with what ``fd`` delivers (``b""`` at EOF) until it returns False."""
        self._readers[fd] = on_data
        self._epoll.register(fd, select.EPOLLIN)
        if self._greenlet is None:
            self._greenlet = self._spawn(self._run)

    def remove(self, fd: int) -> None:
        """Stop watching ``fd`` (call before closing it)."""
        if self._readers.pop(fd, None) is not None:
            try:
                self._epoll.unregister(fd)
            except (OSError, ValueError):
                pass

    def __len__(self) -> int:
        return len(self._readers)

    def _run(self) -> None:
        epoll, readers, read = self._epoll, self._readers, os.read
        while True:
            self._wait_read(epoll.fileno())
            for fd, _ in epoll.poll(0):
                on_data = readers.get(fd)
                if on_data is None:
                    continue
                try:
                    data = read(fd, READ_SIZE)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                try:
                    keep = on_data(data)
                except Exception:  # noqa: BLE001 - one bad connection must not stop the others
                    log.exception("wsbench: reader callback failed; connection dropped")
                    keep = False
                if not keep or not data:
                    self.remove(fd)
