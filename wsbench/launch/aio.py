"""The asyncio face of a :class:`~wsbench.launch.server.Launchable`: same object, same logic.

Blocking calls (start, stop, restart) run in a worker thread so the event loop keeps
serving clients meanwhile (a restart's downtime is exactly when reconnections happen);
the death callback becomes :attr:`AsyncServer.died`, a future set on the loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib

from wsbench.launch.server import STOP_GRACE, Launchable, Server, ServerDied, ServerSpec

__all__ = ["AsyncServer"]


class AsyncServer:
    """A :class:`Server` (or any :class:`Launchable`) for an asyncio caller.

    Attributes:
        launchable: the wrapped object; its ``url``, ``pid``, ``banner``, ``restarts`` and
            ``running`` are read through this wrapper's properties.
        died: created by the first :meth:`start`; resolves to a :class:`ServerDied` when the
            server exits without being asked to. Stays pending otherwise.
    """

    def __init__(self, launchable: Launchable | ServerSpec) -> None:
        self.launchable: Launchable = (
            Server(launchable) if isinstance(launchable, ServerSpec) else launchable
        )
        self.died: asyncio.Future[ServerDied] | None = None

    @property
    def url(self) -> str:
        return self.launchable.url

    @property
    def pid(self) -> int | None:
        return self.launchable.pid

    @property
    def banner(self) -> str:
        return self.launchable.banner

    @property
    def restarts(self) -> int:
        return self.launchable.restarts

    @property
    def running(self) -> bool:
        return self.launchable.running

    async def start(self, timeout: float | None = None) -> str:
        """:meth:`Server.start` off the loop; the URL."""
        if self.died is None:
            loop = asyncio.get_running_loop()
            died: asyncio.Future[ServerDied] = loop.create_future()
            self.died = died

            def resolve(report: ServerDied) -> None:
                if not died.done():
                    died.set_result(report)

            def on_death(report: ServerDied) -> None:  # a worker thread
                with contextlib.suppress(RuntimeError):  # the loop is already closed
                    loop.call_soon_threadsafe(resolve, report)

            self.launchable.on_death(on_death)
        return await asyncio.to_thread(self.launchable.start, timeout)

    async def stop(self, grace: float = STOP_GRACE) -> int | None:
        """:meth:`Server.stop` off the loop; the exit code."""
        return await asyncio.to_thread(self.launchable.stop, grace)

    async def restart(self, downtime: float) -> int:
        """:meth:`Server.restart` off the loop; the monotonic ns it was back up."""
        return await asyncio.to_thread(self.launchable.restart, downtime)

    def close(self) -> None:
        self.launchable.close()

    async def __aenter__(self) -> AsyncServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        self.close()
