"""Measurement for wsbench: HDR latency histograms, counters, series, the run summary.

This package knows no protocol (metric names are plain strings) and imports
nothing of wsbench but :mod:`wsbench.exceptions`; it uses no asyncio, no
aiohttp, no locust and no gevent, so the asyncio driver, the Locust
integration and child processes all share it. Nothing here starts a thread or
reads the clock on its own: callers pass monotonic nanoseconds in.

* :mod:`~wsbench.metrics.clock` — :func:`now_ns` for measurements, wall time for labels.
* :mod:`~wsbench.metrics.histogram` — :class:`LatencyHistogram`, exact merge via HDR histoblobs.
* :mod:`~wsbench.metrics.registry` — :class:`Metrics`, the per-run store and its snapshots.
* :mod:`~wsbench.metrics.process` — :class:`ProcessSampler`, CPU / RSS / fds of a process.
* :mod:`~wsbench.metrics.summary` — :class:`RunSummary`, the versioned ``summary.json``.
* :mod:`~wsbench.metrics.sections` — its typed sections (:class:`Sections`, :class:`Delivery`...).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .clock import iso_timestamp, now_ns, wall_time
    from .histogram import HIGHEST_US, LOWEST_US, PERCENTILES, SIGNIFICANT_DIGITS, LatencyHistogram
    from .process import ProcessSample, ProcessSampler
    from .registry import DEFAULT_MAX_POINTS, SNAPSHOT_FORMAT, IntervalPoint, Metrics
    from .sections import (
        Acks,
        Connections,
        CrossNode,
        Delivery,
        FanoutClass,
        Generator,
        Herd,
        Latency,
        Reconnection,
        RedisRestart,
        Retries,
        RetryLatency,
        RunInfo,
        Sections,
        ServerInfo,
        Threshold,
        Violations,
        ViolationSample,
        Volatile,
        cross_node_section,
        redis_restart_section,
        retries_section,
    )
    from .summary import SCHEMA_VERSION, Environment, RunSummary, Target, schema

# name -> submodule: imported on first access (PEP 562), so a process that only records
# latencies (a load-generator child) does not import psutil, the summary's schema and
# sections (~50 ms of CPU at start-up; bench/README.md, issue 14)
_LAZY = {
    "iso_timestamp": "clock",
    "now_ns": "clock",
    "wall_time": "clock",
    "HIGHEST_US": "histogram",
    "LOWEST_US": "histogram",
    "PERCENTILES": "histogram",
    "SIGNIFICANT_DIGITS": "histogram",
    "LatencyHistogram": "histogram",
    "ProcessSample": "process",
    "ProcessSampler": "process",
    "DEFAULT_MAX_POINTS": "registry",
    "SNAPSHOT_FORMAT": "registry",
    "IntervalPoint": "registry",
    "Metrics": "registry",
    "Acks": "sections",
    "Connections": "sections",
    "CrossNode": "sections",
    "Delivery": "sections",
    "FanoutClass": "sections",
    "Generator": "sections",
    "Herd": "sections",
    "Latency": "sections",
    "Reconnection": "sections",
    "RedisRestart": "sections",
    "Retries": "sections",
    "RetryLatency": "sections",
    "RunInfo": "sections",
    "Sections": "sections",
    "ServerInfo": "sections",
    "Threshold": "sections",
    "Violations": "sections",
    "ViolationSample": "sections",
    "Volatile": "sections",
    "cross_node_section": "sections",
    "redis_restart_section": "sections",
    "retries_section": "sections",
    "SCHEMA_VERSION": "summary",
    "Environment": "summary",
    "RunSummary": "summary",
    "Target": "summary",
    "schema": "summary",
}

__all__ = [
    "now_ns",
    "wall_time",
    "iso_timestamp",
    "LatencyHistogram",
    "LOWEST_US",
    "HIGHEST_US",
    "SIGNIFICANT_DIGITS",
    "PERCENTILES",
    "Metrics",
    "IntervalPoint",
    "SNAPSHOT_FORMAT",
    "DEFAULT_MAX_POINTS",
    "ProcessSample",
    "ProcessSampler",
    "RunSummary",
    "Target",
    "Environment",
    "SCHEMA_VERSION",
    "schema",
    "Sections",
    "RunInfo",
    "Delivery",
    "Latency",
    "Acks",
    "Retries",
    "RetryLatency",
    "retries_section",
    "CrossNode",
    "RedisRestart",
    "redis_restart_section",
    "cross_node_section",
    "Volatile",
    "Violations",
    "ViolationSample",
    "FanoutClass",
    "Connections",
    "Reconnection",
    "Herd",
    "Generator",
    "ServerInfo",
    "Threshold",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
