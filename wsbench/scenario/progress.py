"""The live progress display: one updating line on a TTY, periodic lines otherwise.

Theory of operation
-------------------
The driver calls :meth:`Progress.update` once a second with a :class:`Status`
(elapsed time, connected sockets, messages per second, the last second's p99,
violations so far, and a phase word: ``ramping``, ``running``, ``draining``).
On a terminal the status is redrawn in place with ``\\r`` and cleared before
anything else is printed (:meth:`Progress.clear`), so warnings and the final
summary table do not interleave with it. On a pipe or a CI log — where ``\\r``
makes a mess — a plain line is printed every ``interval`` seconds instead.
Writing never raises: a closed stdout must not end a run that is measuring.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

__all__ = ["Status", "Progress"]


@dataclass(frozen=True, slots=True)
class Status:
    elapsed_s: float
    duration_s: float
    phase: str
    connected: int
    clients: int
    msgs_per_s: float
    p99_ms: float | None
    violations: int
    cpu_percent: float | None = None

    def line(self) -> str:
        p99 = f"{self.p99_ms:,.1f} ms" if self.p99_ms is not None else "-"
        cpu = f"  cpu {self.cpu_percent:.0f}%" if self.cpu_percent is not None else ""
        return (
            f"[{self.elapsed_s:5.1f}/{self.duration_s:g}s] {self.phase:<8} "
            f"connected {self.connected:,}/{self.clients:,}  {self.msgs_per_s:,.0f} msg/s  "
            f"p99 {p99}  violations {self.violations:,}{cpu}"
        )


class Progress:
    """Renders :class:`Status` updates to ``stream`` (stderr by default)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interval: float = 5.0,
        tty: bool | None = None,
        enabled: bool = True,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self.enabled = enabled
        self._last_printed = -1e9
        self._width = 0

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False

    def update(self, status: Status) -> None:
        if not self.enabled:
            return
        line = status.line()
        if self.tty:
            pad = max(0, self._width - len(line))
            self._width = len(line)
            self._write("\r" + line + " " * pad)
        elif status.elapsed_s - self._last_printed >= self.interval:
            self._last_printed = status.elapsed_s
            self._write(line + "\n")

    def message(self, text: str) -> None:
        """Print a line (a warning, a limit reached) without breaking the status line."""
        self.clear()
        self._write(text + "\n")

    def clear(self) -> None:
        if self.enabled and self.tty and self._width:
            self._write("\r" + " " * self._width + "\r")
            self._width = 0
