"""Shared test helpers: the timeout factor and where the repository lives."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_FACTOR = float(os.environ.get("WSBENCH_TIMEOUT_FACTOR", "1"))

# CI (WSBENCH_CI set, as .ci/run does) runs the property tests on a fixed seed: the same
# examples on every run, so a verdict never depends on what a random search happened to
# try; elsewhere Hypothesis searches at random (and keeps what it finds in .hypothesis/)
settings.register_profile("ci", derandomize=True)
if os.environ.get("WSBENCH_CI"):
    settings.load_profile("ci")


def scaled(seconds: float) -> float:
    """A timeout scaled by WSBENCH_TIMEOUT_FACTOR (slow CI machines set it above 1)."""
    return seconds * TIMEOUT_FACTOR


async def until(predicate: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Wait until ``predicate()`` holds, at most ``seconds`` (scaled); returns whether it held.

    A test synchronises on a condition with this, never on a fixed sleep.
    """
    deadline = time.monotonic() + scaled(seconds)
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True
