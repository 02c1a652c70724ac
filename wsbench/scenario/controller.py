"""Choose where the clients run: :class:`~wsbench.scenario.processes.SingleProcess` (this
process's event loop) or :class:`~wsbench.scenario.parent.MultiProcess` (``--processes N``
spawned children judged by one oracle). Both controllers have ``run()`` and ``abort(reason)``
and give the same :class:`~wsbench.scenario.processes.RunResult`.

This module sits above both so that neither imports the other (the parent builds on
:mod:`~wsbench.scenario.processes`' result assembly; the single-process controller never
needs the parent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from wsbench.exceptions import ConfigError
from wsbench.scenario.driver import Driver
from wsbench.scenario.model import Scenario
from wsbench.scenario.parent import MultiProcess
from wsbench.scenario.processes import SingleProcess
from wsbench.scenario.progress import Status

__all__ = ["drive"]

def drive(
    scenario: Scenario,
    url: str,
    processes: int,
    *,
    origin_ns: int,
    origin_wall: float,
    restart: Callable[[float], Awaitable[int]] | None,
    server_pid: Callable[[], int | None] | None,
    on_status: Callable[[Status], None],
    on_message: Callable[[str], None],
    restart_redis: Callable[[float], Awaitable[tuple[int, int, int | None]]] | None = None,
) -> SingleProcess | MultiProcess:
    """The controller for ``processes`` processes (see the module docstring)."""
    if processes < 1:
        raise ConfigError(f"--processes must be at least 1, got {processes}")
    if processes > 1:
        return MultiProcess(
            scenario,
            url,
            min(processes, scenario.clients),
            origin_ns=origin_ns,
            origin_wall=origin_wall,
            restart=restart,
            server_pid=server_pid,
            on_status=on_status,
            on_message=on_message,
            restart_redis=restart_redis,
        )
    driver = Driver(
        scenario,
        url,
        origin_ns=origin_ns,
        origin_wall=origin_wall,
        start_ns=None,
        restart=restart,
        restart_redis=restart_redis,
        server_pid=server_pid,
        on_status=on_status,
        on_message=on_message,
    )
    return SingleProcess(driver)
