"""A shared poller: one green thread reads every WebSocket of a Locust process.

Theory of operation
-------------------
Frames are parsed by the shared sans-I/O codec
(:class:`wsbench.protocol.websocket.FrameParser`, the one ``wsbench run`` uses),
fed whatever one ``read`` returned, so a burst of broadcasts costs one system
call and one pass.

:class:`Poller` is what lets one Locust process hold thousands of connections
cheaply. Instead of one green thread per connection (one wake-up, one
``recv`` and one would-block ``recv`` per frame), one green thread waits on an
``epoll`` descriptor and, when it wakes, reads every ready socket once with a
plain non-blocking ``os.read``: the per-frame cost is one system call and no
green-thread switch. Callbacks run in the poller and must not block for long.
The caller passes the green-thread primitives (``wait_read``, ``epoll``, ``spawn``),
so this module imports neither gevent nor locust.

The judge closes an emit at its deadline, and a copy still unread in a socket's buffer
then would be judged missing though it arrived in time: that happens when the process did
not run for a while (a loaded machine, a long callback) and the hub, woken at last, runs
the judge's timer before the poller. :meth:`Poller.read_horizon` says up to when everything
that reached the sockets has been read: now, when no socket has unread data, else the
start of the last completed pass; the judge sweeps only up to it.
"""

from __future__ import annotations

import logging
import os
import select
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Poller", "READ_SIZE"]

log = logging.getLogger(__name__)
READ_SIZE = 65536


class Poller:
    """One green thread reading every registered socket when it is readable.

    Args:
        wait_read: blocks the calling green thread until a descriptor is readable.
        epoll: builds a real (not monkey-patched) ``select.epoll``.
        spawn: starts a green thread.
        clock: the judge's clock (ns), for :meth:`read_horizon`.
    """

    def __init__(
        self,
        wait_read: Callable[[int], None],
        epoll: Callable[[], Any],
        spawn: Callable[..., Any],
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._wait_read = wait_read
        self._epoll = epoll()
        self._spawn = spawn
        self._clock = clock
        self._readers: dict[int, Callable[[bytes], bool]] = {}
        self._greenlet: Any = None
        self._read_to_ns = clock()  #: the start of the last completed pass

    def read_horizon(self, now: int) -> int:
        """A time up to which everything that reached a registered socket has been read and
        handed to its callback: ``now`` when no socket has unread data, else the start of
        the last completed pass (the poller has not run since the data came)."""
        if not self._readers or not self._epoll.poll(0):
            return now
        return min(now, self._read_to_ns)

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
        epoll, readers, read, clock = self._epoll, self._readers, os.read, self._clock
        while True:
            self._wait_read(epoll.fileno())
            started = clock()
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
            self._read_to_ns = started
