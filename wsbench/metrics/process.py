"""Resource usage of a process, sampled on demand: CPU seconds, CPU percent, RSS, fds.

Theory of operation
-------------------
The load generator has to show that *it* was not the bottleneck, so it samples
its own CPU time and memory next to its latency measurements; the same sampler
watches an embedded reference server by pid. :class:`ProcessSampler` owns no
thread and no timer: the driver calls :meth:`ProcessSampler.sample` when it
wants a reading (typically from the same once-a-second tick that rolls
:class:`~wsbench.metrics.registry.Metrics` over), and :meth:`ProcessSampler.record`
stores the reading as gauges.

CPU percent is the CPU time (user + system) consumed between two samples
divided by the monotonic time between them, times 100: 100 means one full
core, 200 two cores. The first sample has no predecessor, so its percent is
None.

Sources: for the current process, CPU comes from :func:`resource.getrusage`
(or :func:`os.times`), RSS from ``/proc/self/statm`` and fds from ``/proc/self/fd`` on
Linux; psutil is used when installed, and is required to watch another pid or
to read RSS and fds on platforms without ``/proc``. A value that cannot be read
is None rather than a guess.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..exceptions import ConfigError
from .clock import now_ns

if TYPE_CHECKING:
    from .registry import Metrics

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

try:  # optional: preferred when present, required for other pids
    import psutil
except ImportError:  # pragma: no cover - psutil is present in the dev environment
    psutil = None  # type: ignore[assignment]

__all__ = ["ProcessSample", "ProcessSampler"]

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One reading of a process's resource usage."""

    t_ns: int  #: monotonic time of the reading
    cpu_user_s: float
    cpu_system_s: float
    rss_bytes: int | None
    fds: int | None
    cpu_percent: float | None  #: over the interval since the previous sample; None for the first

    @property
    def cpu_s(self) -> float:
        """User plus system CPU seconds since the process started."""
        return self.cpu_user_s + self.cpu_system_s


class ProcessSampler:
    """Samples one process (default: this one) each time :meth:`sample` is called."""

    def __init__(self, pid: int | None = None) -> None:
        self.pid = os.getpid() if pid is None else pid
        self._own = pid is None or pid == os.getpid()
        self._proc = None
        if psutil is not None:
            try:
                self._proc = psutil.Process(self.pid)
            except psutil.Error as exc:
                raise ConfigError(f"cannot watch process {self.pid}: {exc}") from exc
        elif not self._own:
            raise ConfigError("watching another process needs psutil (pip install psutil)")
        self._last: ProcessSample | None = None

    def _cpu(self) -> tuple[float, float]:
        if self._own:
            if resource is not None:  # microsecond resolution, where os.times ticks at 10 ms
                usage = resource.getrusage(resource.RUSAGE_SELF)
                return usage.ru_utime, usage.ru_stime
            times = os.times()
            return times.user, times.system
        times = self._proc.cpu_times()  # type: ignore[union-attr]
        return times.user, times.system

    def _rss(self) -> int | None:
        if self._own:
            try:
                with open("/proc/self/statm", "rb") as statm:
                    return int(statm.read().split()[1]) * _PAGE_SIZE
            except OSError:
                pass
        if self._proc is not None:
            try:
                return int(self._proc.memory_info().rss)
            except psutil.Error:
                return None
        return None

    def _fds(self) -> int | None:
        if self._own:
            for folder in ("/proc/self/fd", "/dev/fd"):
                try:
                    return len(os.listdir(folder)) - 1  # minus the fd listdir itself opened
                except OSError:
                    continue
        if self._proc is not None and hasattr(self._proc, "num_fds"):
            try:
                return int(self._proc.num_fds())
            except psutil.Error:
                return None
        return None

    def sample(self) -> ProcessSample:
        """Read the process now.

        Raises:
            ConfigError: the watched process no longer exists.
        """
        t = now_ns()
        try:
            user, system = self._cpu()
        except Exception as exc:  # psutil.NoSuchProcess, AccessDenied
            raise ConfigError(f"cannot sample process {self.pid}: {exc}") from exc
        percent = None
        last = self._last
        if last is not None and t > last.t_ns:
            percent = 100.0 * ((user + system) - last.cpu_s) / ((t - last.t_ns) / 1e9)
        current = ProcessSample(t, user, system, self._rss(), self._fds(), percent)
        self._last = current
        return current

    def record(self, metrics: Metrics, prefix: str = "process") -> ProcessSample:
        """Sample and store the reading as gauges ``<prefix>.cpu_percent``, ``.rss_bytes``, ``.fds``."""
        current = self.sample()
        for key in ("cpu_percent", "rss_bytes", "fds"):
            value = getattr(current, key)
            if value is not None:
                metrics.set_gauge(f"{prefix}.{key}", value)
        return current
