"""scenarios/seed.yaml (expectations derived from scenarios/apps/seed.yaml) against the seed's
own server (tests/targets/seed): the correct build and the fixed copy pass with 0
violations, faulty variants the scenario can observe are caught by the kind naming them."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import run_text, violations
from wsbench.launch.server import Server, seed_server, seed_server_available

SCENARIO = ROOT / "scenarios" / "seed.yaml"
SECRET = "seed-secret"  # the scenario's auth.jwt secret

pytestmark = pytest.mark.skipif(
    not seed_server_available(), reason="node or tests/targets/seed/node_modules missing"
)

#: fault -> the violation kind the scenario must report (tests/targets/README.md)
CAUGHT = {
    "room-leak": "forbidden_delivery",  # room message to another room: must_not non_members
    "private-dup": "duplicate",  # private message delivered twice, 1 in 30
    "announce-joiner": "sender_included",  # join room's user joined to the joiner, 1 in 20
    "leave-ignored": "forbidden_delivery",  # the leaver still gets the room's messages
    # room message's copy carries 'msg' instead of 'message', 1 in 25: each copy is checked
    # against the payload apps/seed.yaml declares
    "payload-rename": "payload_mismatch",
}


def _run(build: str, tmp_path, processes: int = 1):  # noqa: ANN001
    spec = seed_server(fixed=True) if build == "fixed" else seed_server(
        fault=None if build == "correct" else build)
    with Server(spec.with_args("--jwt-secret", SECRET)) as server:
        out = run_text(SCENARIO.read_text(), tmp_path / f"{build}-{processes}",
                       source=str(SCENARIO), clients=60, duration="8s", target=server.url,
                       processes=processes)
    return out.summary


@pytest.mark.timeout(240)
def test_seed_scenario_on_the_seed_servers(tmp_path) -> None:
    builds = ["correct", "fixed", *CAUGHT]
    got = {b: _run(b, tmp_path) for b in builds}  # one at a time: the runs own the loop
    for build in ("correct", "fixed"):
        s = got[build]
        assert violations(s) == {}, (build, s.sections.delivery.violations.samples[:3])
        assert s.sections.delivery.delivery_ratio == 1.0
        assert s.sections.delivery.expected > 1000
        # fire-and-forget leaves, confirmed by the user left they cause, not by a clock
        assert s.metrics["counters"].get("joins_pending_until_effect", 0) > 0
    for fault, kind in CAUGHT.items():
        counts = violations(got[fault])
        assert counts.get(kind, 0) > 0, (fault, counts)


@pytest.mark.timeout(120)
def test_payload_mismatch_is_judged_across_processes(tmp_path) -> None:
    """--processes 2: the copy's receiver and its sender's expectation are in different
    processes; the expectation travels with the EMIT record, the copy with its DELIVERY,
    and the judge reports the renamed payload (and nothing on the correct build)."""
    for build, want in (("payload-rename", {"payload_mismatch"}), ("correct", set())):
        s = _run(build, tmp_path, processes=2)
        assert set(violations(s)) == want, (build, violations(s))
        assert s.sections.delivery.delivery_ratio == 1.0
        for v in s.sections.delivery.violations.samples:  # expected vs got, and where
            assert "args[0].message: missing" in v.detail and "'msg':" in v.detail, v.detail
