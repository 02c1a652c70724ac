"""``app.security.malformed-payloads`` (issue 11 #2/#4): payloads of the wrong shape must not
kill the server, judged by outcome (a fresh socket connects and round-trips, a bystander
stays connected), and the check runs after every other check of the run.

Real servers over loopback: the reference server and its Node twin with
scenarios/apps/reference.yaml (OK), the seed's own server with seed.yaml (its correct build
crashes on ``private message`` with ``null``: FAILED naming it; fixed.js: OK).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, TIMEOUT_FACTOR, until
from wsbench import launch
from wsbench.app import load_app
from wsbench.conformance.checks.app_family import generate
from wsbench.conformance.checks.app_robustness import CHECK_ID, echo_of, malformed
from wsbench.conformance.command import app_checks
from wsbench.conformance.embedded import APP_OPTIONS, embedded_app_target
from wsbench.conformance.model import Tier
from wsbench.conformance.registry import Check
from wsbench.conformance.runner import TargetReport, TargetSpec, run_all, run_target
from wsbench.launch import Server, node_twin_available, seed_server, seed_server_available

REFERENCE = ROOT / "scenarios" / "apps" / "reference.yaml"
SEED = ROOT / "scenarios" / "apps" / "seed.yaml"
APP_TIERS = [Tier.CONTRACT, Tier.SECURITY, Tier.LOAD]


def run_only(spec: TargetSpec, app_file: Path) -> TargetReport:
    checks = app_checks(APP_TIERS, (CHECK_ID,), (), str(app_file))
    assert [c.spec.id for c in checks] == [CHECK_ID]
    return asyncio.run(run_all([spec], checks, factor=TIMEOUT_FACTOR))[0]


@pytest.fixture(scope="module")
def reference() -> Iterator[TargetSpec]:
    with embedded_app_target() as spec:
        yield spec


# -- what is sent ---------------------------------------------------------------------------


def test_every_wrong_shape_is_sent_including_each_missing_field() -> None:
    app = load_app(SEED)
    spec = next(s for s in app.events() if s.name == "private message")
    labels = [label for label, _ in malformed(spec, "r")]
    for shape in ("null", "a number", "a string", "an array", "an empty object", "no arguments"):
        assert shape in labels
    assert any("nested" in label for label in labels)
    missing = dict((label, args) for label, args in malformed(spec, "r") if "without" in label)
    assert set(missing) == {"args[0] without 'to'", "args[0] without 'message'"}
    assert list(missing["args[0] without 'to'"][0]) == ["message"]
    assert dict(malformed(spec, "r"))["null"] == [None]
    assert dict(malformed(spec, "r"))["no arguments"] == []


def test_the_echo_is_the_files_acked_or_pushed_back_event() -> None:
    spec, pushed = echo_of(load_app(SEED))  # type: ignore[misc]
    assert (spec.name, pushed) == ("message-with-ack", None)


def test_one_check_per_file_in_the_security_tier_marked_last() -> None:
    made = [c for c in generate(load_app(SEED)) if c.spec.id == CHECK_ID]
    assert len(made) == 1
    assert made[0].spec.tier is Tier.SECURITY and made[0].spec.last


# -- outcomes -------------------------------------------------------------------------------


def test_reference_server_survives(reference: TargetSpec) -> None:
    result = run_only(reference, REFERENCE).results[CHECK_ID]
    assert str(result.verdict) == "OK", result.reason
    app = load_app(REFERENCE)
    assert result.details["events"] == len(app.events())
    assert result.details["sent"] == sum(len(malformed(s, "r")) for s in app.events())
    assert "'message-with-ack' round trip" in result.reason


def test_node_twin_survives() -> None:
    if not node_twin_available():
        pytest.skip("needs node and npm ci --prefix reference_server/node")
    with Server(launch.node_twin(*APP_OPTIONS)) as main:
        result = run_only(TargetSpec(main.url, "node"), REFERENCE).results[CHECK_ID]
    assert str(result.verdict) == "OK", result.reason


def test_no_client_event_is_unimplemented(reference: TargetSpec, tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("app: empty\nnamespaces:\n  /:\n    connect: []\n")
    result = run_only(reference, empty).results[CHECK_ID]
    assert str(result.verdict) == "UNIMPLEMENTED"
    assert "no client event" in result.reason


needs_seed = pytest.mark.skipif(not seed_server_available(),
                                reason="needs node and `npm ci --prefix tests/targets/seed`")


@pytest.mark.node
@needs_seed
def test_the_seeds_crash_on_a_null_payload_is_failed_naming_it() -> None:
    with Server(seed_server().with_args("--jwt-secret", "S")) as server:
        result = run_only(TargetSpec(server.url, jwt_secret="S"), SEED).results[CHECK_ID]
        # the check saw the server go away; the process's exit is reaped a moment later
        died = asyncio.run(until(lambda: not server.running, 5.0))
    assert str(result.verdict) == "FAILED", result.reason
    assert "the server died after / 'private message' with null" in result.reason
    assert died  # the outcome the verdict names: the Node process exited


@pytest.mark.node
@needs_seed
def test_the_seeds_fixed_copy_survives() -> None:
    with Server(seed_server(fixed=True).with_args("--jwt-secret", "S")) as server:
        result = run_only(TargetSpec(server.url, jwt_secret="S"), SEED).results[CHECK_ID]
        assert server.running
    assert str(result.verdict) == "OK", result.reason


# -- ordering -------------------------------------------------------------------------------


def test_it_runs_after_every_other_check_even_the_later_tiers(reference: TargetSpec) -> None:
    cases = ("app.root.message.order", "app.root.message.exactly-once",
             "app.security.unknown-namespace", CHECK_ID)
    checks = app_checks(APP_TIERS, cases, (), str(REFERENCE))
    tiers = {c.spec.id: c.spec.tier for c in checks}
    assert tiers["app.root.message.order"] is Tier.LOAD  # a tier after security
    order: list[str] = []

    def hook(_: str, chk: Check, __: object) -> None:
        order.append(chk.spec.id)

    report = asyncio.run(run_target(reference, checks, factor=TIMEOUT_FACTOR, on_result=hook))
    assert order[-1] == CHECK_ID, order
    assert set(order) == set(cases)
    assert list(report.results) == [c.spec.id for c in checks]  # reported in catalog order
