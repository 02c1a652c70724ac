"""``wsbench.metrics`` imports its submodules on first use (issue 14, acked emits).

A load-generator child that only records latencies (bench/acked_emits.py) should not pay
for psutil, the summary's schema and its sections at start-up (~50 ms of CPU). Every name
of ``__all__`` still resolves, to the same object as the submodule's.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import wsbench.metrics as metrics

ROOT = Path(__file__).resolve().parents[2]


def test_recording_latencies_imports_neither_psutil_nor_the_summary() -> None:
    code = (
        "import json, sys\n"
        "from wsbench.metrics import LatencyHistogram\n"
        "h = LatencyHistogram(); h.record_ns(1500)\n"
        "heavy = ('psutil', 'jsonschema', 'wsbench.metrics.process', 'wsbench.metrics.summary',"
        " 'wsbench.metrics.sections', 'wsbench.metrics.registry')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_every_exported_name_is_the_submodules_object() -> None:
    for name in metrics.__all__:
        module = importlib.import_module(f"wsbench.metrics.{metrics._LAZY[name]}")
        assert getattr(metrics, name) is getattr(module, name), name
    assert set(metrics._LAZY) == set(metrics.__all__)
    assert set(metrics.__all__) <= set(dir(metrics))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        metrics.NoSuchThing  # noqa: B018
