"""Shared test helpers: the timeout factor and where the repository lives."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_FACTOR = float(os.environ.get("WSBENCH_TIMEOUT_FACTOR", "1"))


def scaled(seconds: float) -> float:
    """A timeout scaled by WSBENCH_TIMEOUT_FACTOR (slow CI machines set it above 1)."""
    return seconds * TIMEOUT_FACTOR
