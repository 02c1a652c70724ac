"""Servers under test for the conformance gate, started once per module on free loopback ports.

``reference`` and ``node_twin`` are started as ``wsbench conform --target embedded`` starts its
servers: the wire tiers on the suites' 300/200 ms heartbeat, the contract, security and load
tiers on a default-heartbeat twin (``TargetSpec.app_target``), merged by :func:`run`
(``run_specs``: issue 9 #1).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Iterator, Sequence

import pytest

from tests.conftest import ROOT, TIMEOUT_FACTOR
from wsbench import launch
from wsbench.conformance.command import run_specs
from wsbench.conformance.embedded import APP_OPTIONS, SUITE_OPTIONS, embedded_targets
from wsbench.conformance.registry import select
from wsbench.conformance.runner import TargetReport, TargetSpec
from wsbench.launch import Server, ServerSpec, node_twin_available


def run(
    spec: TargetSpec, tiers: Sequence[str] | None = None, cases: Sequence[str] = ()
) -> TargetReport:
    """Run the selected checks on ``spec`` (on its ``app_target`` for the app tiers, merged)."""
    checks = select(tiers, cases)
    return run_specs([spec], checks, factor=TIMEOUT_FACTOR, live=False)[0]


def non_ok(report: TargetReport) -> dict[str, str]:
    return {cid: str(r.verdict) for cid, r in report.results.items() if str(r.verdict) != "OK"}


def overloaded(result) -> bool:  # type: ignore[no-untyped-def]
    """A load check that could not judge on an overloaded machine (INFORMATIONAL, saying so):
    as good as OK for a verdict map, since the gate passes it and it claims nothing."""
    return (
        result.id.startswith("load.")
        and str(result.verdict) == "INFORMATIONAL"
        and ("overloaded machine" in result.reason or "starved checker" in result.reason)
    )


def unexpected(report: TargetReport, expected: dict[str, str]) -> dict[str, str]:
    """Every check whose verdict differs from ``expected`` (default OK), with its reason.

    ``assert unexpected(report, EXPECTED) == {}`` prints, for each surprise, the verdict
    it got and why, e.g. ``{'contract.x': 'FAILED (expected OK): B got 0 of 1'}``.
    """
    out = {}
    for cid, r in report.results.items():
        want = expected.get(cid, "OK")
        if want == "OK" and overloaded(r):
            continue
        if str(r.verdict) != want:
            out[cid] = f"{r.verdict} (expected {want}): {r.reason}"
    for cid in expected:
        if cid not in report.results:
            out[cid] = f"not run (expected {expected[cid]})"
    return out


@pytest.fixture(scope="module")
def reference() -> Iterator[TargetSpec]:
    with embedded_targets(app_tiers=True) as spec:
        yield spec


def _node_pair(options: Sequence[str]) -> contextlib.AbstractContextManager[TargetSpec]:
    """The Node twin with ``options`` and its auth+recovery twin."""

    @contextlib.contextmanager
    def pair() -> Iterator[TargetSpec]:
        spec = launch.node_twin(*options)
        with (
            Server(spec) as main,
            Server(spec.with_args("--jwt-secret", "node-secret", "--recovery")) as aux,
        ):
            yield TargetSpec(
                main.url, "node", auth_url=aux.url, auth_secret="node-secret",
                recovery_url=aux.url,
            )

    return pair()


@pytest.fixture(scope="module")
def node_twin() -> Iterator[TargetSpec]:
    if not node_twin_available():
        pytest.skip("needs node and npm ci --prefix reference_server/node")
    with _node_pair(APP_OPTIONS) as app, _node_pair(SUITE_OPTIONS) as suite:
        yield dataclasses.replace(suite, app_target=app)


@pytest.fixture(scope="module")
def python_socketio() -> Iterator[TargetSpec]:
    app = ServerSpec(
        (sys.executable, str(ROOT / "tests" / "targets" / "python_socketio_app.py")),
        cwd=str(ROOT),
        name="python-socketio target",
    )
    with Server(app) as server:
        yield TargetSpec(server.url, "python-socketio")
