"""Soak: the whole catalog, many times, against both reference implementations, on a loaded
machine. Proof that the gate gives no false FAIL (issue 9 #1). Not in the default suite:

    python3 -m pytest -m stress -s tests/conformance/test_stress.py -p no:cacheprovider

``WSBENCH_STRESS_RUNS`` sets the catalogs per target (default 30). A CPU hog spins on one
core for the whole test (pinned there when the platform allows), so every check runs next
to a busy core, at the default timeout factor unless ``WSBENCH_TIMEOUT_FACTOR`` says
otherwise. Each run's counts and every FAILED reason are printed; any FAILED fails the test.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conformance.conftest import run
from wsbench.conformance.runner import TargetSpec

RUNS = int(os.environ.get("WSBENCH_STRESS_RUNS", "30"))
HOG = "while True: pass"


@contextlib.contextmanager
def cpu_hog() -> Iterator[int]:
    """A busy-looping child process on one core; stopped (by its pid) on exit."""
    hog = subprocess.Popen([sys.executable, "-c", HOG])
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(hog.pid, {min(os.sched_getaffinity(0))})
    try:
        yield hog.pid
    finally:
        hog.kill()
        hog.wait()


def _soak(spec: TargetSpec, label: str) -> None:
    failed: list[str] = []
    started = time.monotonic()
    with cpu_hog():
        for i in range(RUNS):
            t0 = time.monotonic()
            report = run(spec)
            bad = [
                f"run {i + 1}: {cid}: {r.reason}"
                for cid, r in report.results.items()
                if str(r.verdict) == "FAILED"
            ]
            failed += bad
            counts = report.counts()
            print(
                f"[{label} {i + 1}/{RUNS}] {len(report.results)} checks, "
                f"FAILED {counts['FAILED']}, {time.monotonic() - t0:.1f} s",
                flush=True,
            )
            for line in bad:
                print("   ", line, flush=True)
    wall = time.monotonic() - started
    print(f"{label}: {RUNS} catalogs, {len(failed)} FAILED, wall {wall:.0f} s", flush=True)
    assert failed == []


@pytest.mark.stress
@pytest.mark.timeout(7200)
def test_reference_server_soak(reference: TargetSpec) -> None:
    _soak(reference, "reference")


@pytest.mark.stress
@pytest.mark.node
@pytest.mark.timeout(7200)
def test_node_twin_soak(node_twin: TargetSpec) -> None:
    _soak(node_twin, "node")
