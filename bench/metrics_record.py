"""Throughput of the metrics hot path: records per second, on this machine.

Not a test (timings depend on the machine and its load). Run::

    python bench/metrics_record.py [records]

It times LatencyHistogram.record_ns through a bound method (what the client's
receive path does), Metrics.record_ns by name, a Metrics.recorder() callable,
and hdrh's own record_value for comparison, plus the cost of one per-second
rollover of a busy name.
"""

from __future__ import annotations

import sys
import time

from hdrh.histogram import HdrHistogram

from wsbench.metrics import HIGHEST_US, LatencyHistogram, Metrics


def rate(label: str, record, values: list[int]) -> None:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for v in values:
        record(v)
    elapsed = time.perf_counter() - start
    print(f"{label:<40} {len(values) / elapsed:>12,.0f} records/s  ({elapsed / len(values) * 1e9:.0f} ns each)")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    values = [(i * 7_919) % 80_000_000 for i in range(n)]  # 0–80 ms in ns, spread over buckets
    rate("LatencyHistogram.record_ns (bound)", LatencyHistogram().record_ns, values)
    metrics = Metrics(origin_ns=0)
    rate("Metrics.record_ns(name, ns)", lambda v: metrics.record_ns("fanout", v), values)
    rate("Metrics.recorder(name)", metrics.recorder("ack"), values)
    reference = HdrHistogram(1, HIGHEST_US, 3)
    rate("hdrh HdrHistogram.record_value (µs)", lambda v: reference.record_value(v // 1000), values)

    start = time.perf_counter()
    metrics.tick(1_000_000_000)
    print(f"{'one rollover, 2 busy names':<40} {(time.perf_counter() - start) * 1e3:>12.2f} ms")


if __name__ == "__main__":
    main()
