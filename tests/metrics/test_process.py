"""ProcessSampler and the clock helpers."""

from __future__ import annotations

import gc
import os
import re

import pytest

from wsbench.exceptions import ConfigError
from wsbench.metrics import Metrics, ProcessSampler, iso_timestamp, now_ns


def burn(ms: int) -> None:
    deadline = now_ns() + ms * 1_000_000
    while now_ns() < deadline:
        pass


def test_first_sample_has_no_cpu_percent_then_busy_loop_shows_cpu() -> None:
    sampler = ProcessSampler()
    first = sampler.sample()
    assert first.cpu_percent is None
    assert first.rss_bytes is not None and first.rss_bytes > 1_000_000
    assert first.fds is not None and first.fds >= 3
    burn(60)
    second = sampler.sample()
    assert second.cpu_s >= first.cpu_s
    assert second.cpu_percent is not None and 0.0 <= second.cpu_percent < 100 * (os.cpu_count() or 1) + 50


def test_fd_count_follows_open_files(tmp_path) -> None:
    sampler = ProcessSampler()
    gc.collect()  # a collection between the two samples could close an earlier test's leftover
    gc.disable()
    try:
        before = sampler.sample().fds
        files = [open(tmp_path / f"f{i}", "w") for i in range(5)]
        try:
            assert sampler.sample().fds == before + 5  # type: ignore[operator]
        finally:
            for f in files:
                f.close()
    finally:
        gc.enable()


def test_record_stores_gauges() -> None:
    m = Metrics()
    sampler = ProcessSampler()
    sampler.record(m)
    sampler.record(m, prefix="generator")
    assert m.gauge("process.rss_bytes") is not None
    assert m.gauge("generator.fds") is not None
    assert m.gauge("generator.cpu_percent") is not None


def test_watching_another_process() -> None:
    sample = ProcessSampler(os.getppid()).sample()
    assert sample.cpu_s >= 0.0


def test_watching_a_missing_process_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        ProcessSampler(2**22 + 12345).sample()


def test_clock_helpers() -> None:
    a, b = now_ns(), now_ns()
    assert isinstance(a, int) and b >= a
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", iso_timestamp())
    assert iso_timestamp(0) == "1970-01-01T00:00:00.000Z"
