"""Latency histograms: HDR, microsecond units, mergeable exactly across processes.

Theory of operation
-------------------
A :class:`LatencyHistogram` wraps :class:`hdrh.histogram.HdrHistogram` (the
``hdrhistogram`` package) configured for 1 µs to 1 h at 3 significant digits:
every recorded value lands in a bucket no wider than 0.1 % of the value, the
counts array has a fixed size (about 190 KB) whatever the number of samples,
and raw samples are never stored. That makes memory bounded for runs of any
length and makes percentiles honest (no averaging of averages).

*Exact merge.* Two histograms with the same configuration merge by adding
their counts arrays bucket by bucket, which is what hdrh's ``add`` does in C.
:meth:`encode` produces HDR's standard compressed base64 "histoblob" (the V2
format shared with the Java and C HdrHistogram), so a histogram recorded in a
Locust worker or a child process travels as a string and merges into the
master's with no loss: the merge of N decoded histograms equals, bucket for
bucket, one histogram that recorded every value.

*Cheap recording.* :meth:`record_ns` sits on the receive path of every
delivery (100k+ records/s). hdrh's ``record_value`` costs about 1 µs in pure
Python because it also maintains min, max and total on every call. Here the
hot path computes the bucket index inline (the same formula as hdrh, checked
against it by the tests) and increments one counter in the ctypes array that
hdrh owns; min, max and total are derived from the counts array when a
statistic is read (:meth:`_sync`, a few hundred microseconds, once per read).
Reported min and max are therefore bucket-equivalent values, identical before
and after an encode/decode round trip.

*Range.* Values are whole microseconds (``ns // 1000``); 0 means "below 1 µs".
Negative values (clock misuse) record as 0 and values above 1 h record as 1 h;
both count in :attr:`clamped`, so a report can say that some values were out of
range instead of silently folding them in. ``clamped`` is kept next to the
histoblob by :meth:`to_dict`, because the HDR format has no field for it.

*Percentiles* use HDR's definition (the highest value equivalent to the bucket
holding the requested rank), computed with one cumulative sum and a bisection
instead of hdrh's per-call Python loop over the whole counts array.
"""

from __future__ import annotations

import binascii
import ctypes
import math
import sys
import zlib
from bisect import bisect_left, bisect_right
from itertools import accumulate, compress
from typing import Any

from hdrh.codec import HdrCookieException, HdrLengthException
from hdrh.histogram import HdrHistogram

from ..exceptions import ConfigError

__all__ = ["LatencyHistogram", "LOWEST_US", "HIGHEST_US", "SIGNIFICANT_DIGITS", "PERCENTILES"]

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3

#: The percentiles every summary reports, with their key in dicts.
PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}

# The inline bucket index of record_ns, for the configuration above. hdrh computes
#   bucket = bit_length(v | sub_bucket_mask) - unit_magnitude - (half_count_magnitude + 1)
#   index  = ((bucket + 1) << half_count_magnitude) + (v >> bucket) - half_count
# which with unit_magnitude 0 simplifies to (bucket << half_count_magnitude) + (v >> bucket).
# record_ns spells the constants literally (globals cost a lookup per record); this check
# fails loudly at import if hdrh ever lays its buckets out differently.
_PROTO = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
_HALF_MAG = _PROTO.sub_bucket_half_count_magnitude
_MASK = _PROTO.sub_bucket_mask
assert (_PROTO.unit_magnitude, _HALF_MAG, _MASK) == (0, 10, 2047), "hdrh bucket layout changed"
_COUNTS_LEN = _PROTO.counts_len
del _PROTO


_BLOCK = 4096
_ZEROS = bytes(_BLOCK)


def _end_of_data(raw: bytes) -> int:
    """One past the last non-zero byte of ``raw`` (0 if all zero).

    Latency counts are mostly a long tail of zeros; comparing 4 KB blocks with
    memcmp skips it about 50 times faster than ``rstrip`` walking byte by byte.
    """
    end = len(raw)
    while end > 0:
        start = max(0, end - _BLOCK)
        block = raw[start:end]
        if block != _ZEROS[: end - start]:
            return start + len(block.rstrip(b"\0"))
        end = start
    return 0


def _counts_of(raw: bytes, n: int, counts: Any) -> list[int]:
    """The first ``n`` counts of ``raw`` (a copy of the ctypes array ``counts``) as ints."""
    return memoryview(raw).cast(counts._type_._type_)[:n].tolist()


class LatencyHistogram:
    """An HDR latency histogram in microseconds, 1 µs to 1 h, 3 significant digits.

    Not thread-safe, like everything in :mod:`wsbench.metrics`: one recorder per
    thread, process or greenlet hub, merged afterwards.
    """

    __slots__ = ("_hdr", "_counts", "_word", "clamped")

    def __init__(self) -> None:
        self._hdr = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
        self._counts = self._hdr.counts  # ctypes array owned by hdrh's encoder
        self._word = ctypes.sizeof(self._counts._type_)
        #: How many recorded values fell outside [0 µs, 1 h] and were clamped.
        self.clamped = 0

    # -- recording (hot path) -------------------------------------------------

    def record_ns(self, ns: int) -> None:
        """Record one latency given in integer nanoseconds."""
        us = ns // 1000
        if not 0 <= us <= 3_600_000_000:
            us = self._clamp(us)
        b = (us | 2047).bit_length() - 11
        self._counts[(b << 10) + (us >> b)] += 1

    def record_us(self, us: float) -> None:
        """Record one latency given in microseconds (fractions are truncated)."""
        self.record_ns(int(us * 1000))

    def _clamp(self, us: int) -> int:
        self.clamped += 1
        return 0 if us < 0 else HIGHEST_US

    # -- reading ----------------------------------------------------------------

    def _sync(self) -> list[int]:
        """Derive total, min and max from the counts; return the cumulative counts.

        The cumulative list stops at the highest non-empty bucket; it is empty
        for an empty histogram.
        """
        hdr = self._hdr
        raw = bytes(self._counts)
        used = _end_of_data(raw)
        if not used:
            hdr.total_count, hdr.min_value, hdr.max_value = 0, sys.maxsize, 0
            return []
        hi = (used - 1) // self._word
        # the counts read from the copy through a memoryview (slicing the ctypes array builds
        # its ints ~4x slower), the lowest non-empty bucket by bisection of the cumulative
        # counts (lstrip copied the whole array again): a wide histogram's sync 1.2 -> 0.7 ms
        cumulative = list(accumulate(_counts_of(raw, hi + 1, self._counts)))
        hdr.set_internal_tacking_values(bisect_right(cumulative, 0), hi, cumulative[-1])
        return cumulative

    @property
    def count(self) -> int:
        """Number of recorded values."""
        cumulative = self._sync()
        return cumulative[-1] if cumulative else 0

    @property
    def min(self) -> int:
        """Smallest recorded value in µs (bucket-equivalent), 0 when empty."""
        return self._hdr.get_min_value() if self._sync() else 0

    @property
    def max(self) -> int:
        """Largest recorded value in µs (bucket-equivalent), 0 when empty."""
        return self._hdr.get_max_value() if self._sync() else 0

    def _moments(self, cumulative: list[int]) -> tuple[float, float]:
        """Mean and standard deviation in µs, each bucket counted at its median value.

        The same definition as hdrh's ``get_mean_value``/``get_stddev``, whose
        iterators walk every bucket in Python and take a second per call on a
        wide histogram; this walks the non-empty buckets only.
        """
        if not cumulative:
            return 0.0, 0.0
        counted = []
        counts = _counts_of(bytes(self._counts), len(cumulative), self._counts)
        for index in compress(range(len(counts)), counts):  # the non-empty buckets, at C speed
            n = counts[index]
            bucket = (index >> 10) - 1 if index >= 2048 else 0
            lowest = ((index & 1023) + (1024 if index >= 1024 else 0)) << bucket
            counted.append((lowest + ((1 << bucket) >> 1), n))
        total = cumulative[-1]
        mean = sum(v * n for v, n in counted) / total
        variance = sum((v - mean) * (v - mean) * n for v, n in counted) / total
        return mean, math.sqrt(variance)

    @property
    def mean(self) -> float:
        """Mean in µs (HDR: each value counted at its bucket's median), 0.0 when empty."""
        return self._moments(self._sync())[0]

    @property
    def stdev(self) -> float:
        """Standard deviation in µs, 0.0 when empty."""
        return self._moments(self._sync())[1]

    def _at(self, cumulative: list[int], percentile: float) -> int:
        if not cumulative:
            return 0
        total = cumulative[-1]
        # HDR's rank: round(p% of total), at least 1.
        rank = max(int(min(percentile, 100.0) * total / 100 + 0.5), 1)
        index = bisect_left(cumulative, rank)
        hdr = self._hdr
        value = hdr.get_value_from_index(index)
        if percentile:
            return int(hdr.get_highest_equivalent_value(value))
        return int(hdr.get_lowest_equivalent_value(value))

    def percentile(self, p: float) -> int:
        """Value in µs at percentile ``p`` (0–100): HDR's highest equivalent value."""
        if not 0.0 <= p <= 100.0:
            raise ValueError(f"percentile must be within [0, 100], got {p}")
        return self._at(self._sync(), p)

    def percentiles(self) -> dict[str, int]:
        """``{"p50", "p90", "p95", "p99", "p999", "max"}`` in µs (all 0 when empty)."""
        cumulative = self._sync()
        result = {key: self._at(cumulative, p) for key, p in PERCENTILES.items()}
        result["max"] = self._hdr.get_max_value() if cumulative else 0
        return result

    def summary(self) -> tuple[int, dict[str, int], str | None]:
        """``(count, percentiles(), encode())`` from ONE pass over the counts (``None``
        blob when empty): the per-second rollover of every series calls this, and each
        pass is ~1.5 ms on a wide histogram (issue 14: four passes per series per second
        were a 50-100 ms block of the driver's event loop every second)."""
        cumulative = self._sync()
        if not cumulative:
            return 0, {key: 0 for key in (*PERCENTILES, "max")}, None
        result = {key: self._at(cumulative, p) for key, p in PERCENTILES.items()}
        result["max"] = self._hdr.get_max_value()
        return cumulative[-1], result, self._hdr.encode().decode("ascii")

    # -- combining and transport ---------------------------------------------

    def merge(self, other: LatencyHistogram) -> None:
        """Add every count of ``other`` into this histogram (exact)."""
        other._sync()  # hdrh's add reads other's total, min and max
        self._add_synced(other)

    def _add_synced(self, other: LatencyHistogram) -> None:
        """:meth:`merge` for an ``other`` whose tracking values are current (just synced).
        This histogram's own need no sync first: every reading re-derives them."""
        self._hdr.add(other._hdr)
        self.clamped += other.clamped

    def copy(self) -> LatencyHistogram:
        """An independent histogram with the same counts."""
        twin = LatencyHistogram()
        twin.merge(self)
        return twin

    def reset(self) -> None:
        """Forget every value, in place (bound ``record_ns`` methods stay valid)."""
        ctypes.memset(ctypes.addressof(self._counts), 0, ctypes.sizeof(self._counts))
        self.clamped = 0

    def encode(self) -> str:
        """HDR's compressed base64 histoblob (V2), the transport format between processes."""
        self._sync()
        blob: bytes = self._hdr.encode()
        return blob.decode("ascii")

    @classmethod
    def decode(cls, blob: str | bytes, clamped: int = 0) -> LatencyHistogram:
        """Rebuild a histogram from :meth:`encode`'s output.

        Raises:
            ConfigError: ``blob`` is not an HDR histoblob, or it was recorded with a
                different range or precision (so it cannot merge exactly).
        """
        try:
            decoded = HdrHistogram.decode(blob)
        except (HdrCookieException, HdrLengthException, binascii.Error, zlib.error,
                ValueError, TypeError, RuntimeError) as exc:  # what hdrh raises on bad input
            raise ConfigError(f"invalid encoded histogram: {exc or type(exc).__name__}") from exc
        config = (decoded.lowest_trackable_value, decoded.highest_trackable_value,
                  decoded.significant_figures)
        if config != (LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS) or decoded.counts_len != _COUNTS_LEN:
            raise ConfigError(
                f"encoded histogram has range/precision {config}, expected "
                f"{(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)}"
            )
        hist = cls()
        hist._hdr.add(decoded)
        hist.clamped = clamped
        return hist

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: count, min, mean, stdev, p50…p99.9, max in ms, plus the histoblob."""
        cumulative = self._sync()
        hdr = self._hdr
        mean, stdev = self._moments(cumulative)
        stats_us: dict[str, float] = {"min": hdr.get_min_value() if cumulative else 0,
                                      "mean": mean, "stdev": stdev}
        # percentiles() and encode() from this one pass (each would sync again: ~1 ms apiece
        # on a wide histogram, and a Locust process's drain summarises every histogram)
        stats_us.update({key: self._at(cumulative, p) for key, p in PERCENTILES.items()})
        stats_us["max"] = hdr.get_max_value() if cumulative else 0
        summary: dict[str, Any] = {"count": cumulative[-1] if cumulative else 0}
        for key in ("min", "mean", "stdev", *PERCENTILES, "max"):
            summary[f"{key}_ms"] = stats_us[key] / 1000.0
        summary["clamped"] = self.clamped
        summary["hdr"] = hdr.encode().decode("ascii")
        return summary

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencyHistogram:
        """Rebuild from :meth:`to_dict` (only ``hdr`` and ``clamped`` are read)."""
        try:
            blob, clamped = data["hdr"], int(data.get("clamped", 0))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"invalid histogram summary: {exc!r}") from exc
        return cls.decode(blob, clamped)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatencyHistogram):
            return NotImplemented
        return bytes(self._counts) == bytes(other._counts) and self.clamped == other.clamped

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        p = self.percentiles()
        return f"<LatencyHistogram count={self.count} p50={p['p50']}µs p99={p['p99']}µs max={p['max']}µs>"
