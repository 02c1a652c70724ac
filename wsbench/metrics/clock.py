"""The two clocks of wsbench, and which one to use for what.

Every *measurement* uses :func:`now_ns`, the monotonic clock in integer
nanoseconds (:func:`time.monotonic_ns`). On Linux and macOS it is system-wide:
two processes on one host read the same clock, so a send time stamped in one
process and a receive time taken in another subtract correctly. It never jumps
when NTP or an operator changes the wall clock. Integer nanoseconds avoid
float rounding on the hot path; histograms convert to microseconds.

:func:`wall_time` and :func:`iso_timestamp` are for *labels* only: the
``started_at`` of a run summary, the origin of a per-second series so that
series from several machines can be lined up. Never subtract wall times to
measure a latency.
"""

from __future__ import annotations

import datetime as _dt
import os
import time

__all__ = ["now_ns", "wall_time", "iso_timestamp"]

#: For tests only: ``WSBENCH_TEST_CLOCK_SKEW_NS`` adds a constant to :func:`now_ns` in
#: this process, so one host can play a machine whose clock is elsewhere (a distributed
#: Locust worker's offset estimation is tested with it).
CLOCK_SKEW_ENV = "WSBENCH_TEST_CLOCK_SKEW_NS"


def _skew() -> int:
    raw = os.environ.get(CLOCK_SKEW_ENV, "").strip()
    try:
        return int(raw) if raw else 0
    except ValueError:
        raise ValueError(f"{CLOCK_SKEW_ENV} must be an integer of nanoseconds, not {raw!r}") from None


_SKEW_NS = _skew()

if _SKEW_NS:

    def now_ns() -> int:
        """Monotonic time in integer nanoseconds, plus the test-only skew."""
        return time.monotonic_ns() + _SKEW_NS

else:
    #: Monotonic time in integer nanoseconds, comparable across processes on one host.
    #: An alias rather than a wrapper: it sits on hot paths.
    now_ns = time.monotonic_ns


def wall_time() -> float:
    """Wall-clock time in seconds since the Unix epoch, for report timestamps only."""
    return time.time()


def iso_timestamp(wall: float | None = None) -> str:
    """Format a wall time (default: now) as ISO 8601 in UTC with millisecond precision."""
    if wall is None:
        wall = time.time()
    moment = _dt.datetime.fromtimestamp(wall, tz=_dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
