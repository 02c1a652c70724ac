"""The cluster tier of ``wsbench conform`` against real clusters: Redis, nodes, HAProxy on loopback.

A correct cluster of Python reference nodes: 0 FAILED, given node by node, behind its one
balancer URL, and through the CLI (``--target embedded --nodes 3``). Each Redis adapter fault
of the reference server: FAILED on every check that declares it catches it, naming what broke.
A balancer without stickiness: the polling check FAILED saying so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from click.testing import CliRunner

from tests.cluster.conftest import needs_haproxy, needs_node, needs_redis
from tests.conftest import TIMEOUT_FACTOR
from wsbench.cli import cli
from wsbench.conformance.cluster import cluster_target, embedded_cluster
from wsbench.conformance.model import Tier
from wsbench.conformance.registry import ADAPTER_FAULTS, fault_index, select
from wsbench.conformance.runner import TargetReport, TargetSpec, run_all

pytestmark = [needs_redis, needs_haproxy, pytest.mark.slow, pytest.mark.timeout(300),
              pytest.mark.xdist_group("cluster-tier")]  # one module cluster, one worker

# what each fault's verdict must say (the behaviour that broke)
NAMED = {
    "adapter-double-emit": "duplicate copies",
    "adapter-drop-remote": "lost between nodes",
    "adapter-publish-per-room": "duplicate copies on other nodes",
}


def run(spec: TargetSpec, cases: tuple[str, ...] = ()) -> TargetReport:
    checks = select([Tier.CLUSTER], cases)
    return asyncio.run(run_all([spec], checks, factor=TIMEOUT_FACTOR))[0]


def verdicts(report: TargetReport) -> dict[str, str]:
    return {cid: f"{r.verdict}: {r.reason}" for cid, r in report.results.items()}


@pytest.fixture(scope="module")
def python_cluster():
    with embedded_cluster(3) as spec:
        yield spec


def test_a_correct_cluster_passes_every_check_node_by_node(python_cluster) -> None:
    report = run(python_cluster)
    assert len(report.results) == len(select([Tier.CLUSTER])) >= 9
    assert {c: v for c, v in verdicts(report).items() if not v.startswith("OK")} == {}
    every = report.results["cluster.broadcast.all-exactly-once"].details
    # 500 sends, 9 sockets on 3 nodes: copies to the sender's node and to the two others
    assert every["same-node"] == {"expected": 1500, "delivered": 1500}
    assert every["other-node"] == {"expected": 3000, "delivered": 3000}
    assert len(report.results["cluster.server-side-emit.every-other-node"].details["node_ids"]) == 3


def test_behind_one_balancer_url_the_nodes_are_found_by_cluster_emit(python_cluster) -> None:
    spec = cluster_target([python_cluster.balancer], None, "default")
    assert spec.balancer and not spec.nodes
    report = run(spec)
    assert {c: v for c, v in verdicts(report).items() if not v.startswith("OK")} == {}
    nodes = report.results["cluster.broadcast.all-exactly-once"].details["nodes"]
    assert len(nodes) >= 2  # HAProxy's round robin spread the 9 sockets over the nodes


def test_the_cluster_tier_is_unimplemented_on_a_single_server() -> None:
    from wsbench.conformance.embedded import embedded_targets

    with embedded_targets() as spec:
        report = run(spec)
    assert {str(r.verdict) for r in report.results.values()} == {"UNIMPLEMENTED"}
    assert "not a cluster" in report.results["cluster.broadcast.all-exactly-once"].reason


@pytest.mark.parametrize("fault", ADAPTER_FAULTS)
def test_each_adapter_fault_fails_the_checks_that_catch_it(fault: str) -> None:
    ids = tuple(fault_index()[fault])
    assert ids
    with embedded_cluster(3, python_args=("--fault", fault)) as spec:
        report = run(spec, ids)
    escaped = {c: v for c, v in verdicts(report).items() if not v.startswith("FAILED")}
    assert escaped == {}, f"--fault {fault} passed: {escaped}"
    for cid in ids:
        if cid.startswith("cluster.broadcast."):
            assert NAMED[fault] in report.results[cid].reason, report.results[cid].reason


def test_a_balancer_without_stickiness_is_named() -> None:
    with embedded_cluster(3, stickiness="none") as spec:
        report = run(spec, ("cluster.polling.*",))
    result = report.results["cluster.polling.sticky-sessions"]
    assert str(result.verdict) == "FAILED"
    assert "not sticky" in result.reason and "Session ID unknown" in result.reason


def test_a_source_hash_balancer_is_sticky_without_a_cookie() -> None:
    with embedded_cluster(2, stickiness="source") as spec:
        report = run(spec, ("cluster.polling.*",))
    result = report.results["cluster.polling.sticky-sessions"]
    assert str(result.verdict) == "OK", result.reason
    assert result.details["cookie"] is None


@needs_node
def test_a_mixed_cluster_of_python_and_node_twin_nodes_passes() -> None:
    with embedded_cluster(3, "mixed") as spec:
        report = run(spec)
    assert {c: v for c, v in verdicts(report).items() if not v.startswith("OK")} == {}


def test_cli_conform_embedded_nodes_runs_the_cluster_tier(tmp_path) -> None:
    out = tmp_path / "conform.json"
    result = CliRunner().invoke(
        cli, ["conform", "--target", "embedded", "--nodes", "2", "--cases", "cluster.broadcast.all*",
              "--cases", "cluster.polling.*", "--json", str(out),
              "--timeout-factor", str(TIMEOUT_FACTOR)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    index = json.loads(out.read_text())
    [(target, results)] = index["results"].items()
    assert "embedded cluster" in target
    assert set(results) == {"cluster.broadcast.all-exactly-once", "cluster.polling.sticky-sessions"}


def test_cli_cluster_usage_errors() -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["conform", "--target", "embedded", "--cluster"])
    assert bad.exit_code == 2 and "--nodes N" in bad.output
    bad = runner.invoke(cli, ["conform", "--target", "http://127.0.0.1:1", "--nodes", "3"])
    assert bad.exit_code == 2 and "--target embedded alone" in bad.output
    spec = cluster_target(["http://127.0.0.1:1/", "http://127.0.0.1:2"], None, "default")
    assert dataclasses.astuple(spec)[:2] == ("http://127.0.0.1:1", "cluster of 2 nodes")
    assert spec.nodes == ("http://127.0.0.1:1", "http://127.0.0.1:2") and spec.balancer is None


# the room rules across nodes: FAILED before h49 (a join of a room named like a socket id of
# another node was not refused, and the joiner read 460 of 460 of its private messages)
CROSS_NODE_ROOM_RULES = (
    "app.root.join-room.refusal", "app.root.join.refusal", "app.security.sid-room-hijack",
)  # fmt: skip


def test_cli_conform_app_on_an_embedded_cluster(tmp_path) -> None:
    """``--app`` with ``--nodes`` (was a usage error): the app file's checks run against the
    balancer next to the cluster tier, in one report (h44), and the cluster passes the room
    rules too: 0 FAILED (h49)."""
    from tests.conftest import ROOT

    out = tmp_path / "conform.json"
    cases = ("app.root.broadcast-room.exactly-once", "app.root.join.joins",
             "cluster.broadcast.room-exactly-once-no-leak", *CROSS_NODE_ROOM_RULES)  # fmt: skip
    result = CliRunner().invoke(
        cli, ["conform", "--target", "embedded", "--nodes", "2",
              "--app", str(ROOT / "scenarios" / "apps" / "reference.yaml"),
              *(a for c in cases for a in ("--cases", c)), "--json", str(out),
              "--timeout-factor", str(TIMEOUT_FACTOR)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [(target, results)] = json.loads(out.read_text())["results"].items()
    assert "embedded cluster" in target
    assert {c: r["verdict"] for c, r in results.items()} == dict.fromkeys(cases, "OK"), results
    # the hijack check had sockets on both nodes to judge: its 460 private messages were sent
    hijack = results["app.security.sid-room-hijack"]
    assert "460" in hijack["reason"], hijack


def test_the_app_checks_on_a_cluster_see_an_adapter_fault() -> None:
    """The app checks' sockets are spread over the nodes by the balancer: a node that drops
    every 100th broadcast from another node fails the app's exactly-once check."""
    from tests.conftest import ROOT
    from wsbench.conformance.cluster import parse_cluster_tiers
    from wsbench.conformance.command import APP_TIERS, app_checks, run_specs

    app = str(ROOT / "scenarios" / "apps" / "reference.yaml")
    assert parse_cluster_tiers(None, app) == [Tier.CLUSTER, *APP_TIERS]
    assert parse_cluster_tiers(None) == [Tier.CLUSTER]
    checks = app_checks(parse_cluster_tiers(None, app), ("app.root.broadcast-all.exactly-once",),
                        (), app)
    assert [c.spec.id for c in checks] == ["app.root.broadcast-all.exactly-once"]
    with embedded_cluster(2, python_args=("--fault", "adapter-drop-remote")) as spec:
        [report] = run_specs([spec], checks, factor=TIMEOUT_FACTOR, live=False)
    result = report.results["app.root.broadcast-all.exactly-once"]
    assert result.verdict == "FAILED", (result.verdict, result.reason)
