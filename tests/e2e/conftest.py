"""End-to-end helpers: run a (shortened) scenario in-process and read its summary."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from wsbench.metrics import RunSummary
from wsbench.scenario import apply_overrides, loads_scenario
from wsbench.scenario.runner import RunOptions, RunOutcome, run_async

NODE_SERVER = ROOT / "reference_server" / "node" / "server.js"
HAVE_NODE = (
    shutil.which("node") is not None
    and (ROOT / "reference_server/node/node_modules/socket.io").exists()
)


def run_text(
    text: str,
    out: Path,
    *,
    server: tuple[str, ...] = (),
    processes: int = 1,
    source: str = str(ROOT / "scenarios" / "<test>.yaml"),
    **overrides,
) -> RunOutcome:
    """Run scenario YAML ``text`` with ``overrides`` (clients, duration...) into ``out``;
    ``source``: the file it came from (an ``app:`` path is relative to it; by default a
    file in scenarios/, so a bundled scenario's ``app: apps/...`` resolves)."""
    from wsbench.client import run as run_loop
    from wsbench.scenario import Overrides

    scenario = apply_overrides(loads_scenario(text, source), Overrides(**overrides))
    opts = RunOptions(
        out=str(out), progress=False, plots=False, server_command=server, processes=processes
    )
    return run_loop(run_async(scenario, opts))


def violations(summary: RunSummary) -> dict[str, int]:
    return dict(summary.sections.delivery.violations.counts)


node = pytest.mark.skipif(
    not HAVE_NODE, reason="node or reference_server/node/node_modules missing"
)
