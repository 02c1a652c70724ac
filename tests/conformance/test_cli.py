"""``wsbench conform`` in-process: exit statuses and the JSON, JUnit and HTML outputs."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from xml.etree import ElementTree as ET

from click.testing import CliRunner

from wsbench.cli import cli
from wsbench.conformance.runner import TargetSpec


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_target_fails_fast_with_4() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    result = CliRunner().invoke(cli, ["conform", "--target", url, "--tier", "engineio"])
    assert result.exit_code == 4, result.output
    assert url in result.output


def test_usage_errors_exit_2() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["conform", "--target", "http://x", "--tier", "nope"]).exit_code == 2
    assert runner.invoke(cli, ["conform"]).exit_code == 2
    assert runner.invoke(cli, ["conform", "--target", "ftp://x"]).exit_code == 2


def test_two_targets_write_matrix_outputs(
    reference: TargetSpec, python_socketio: TargetSpec, tmp_path: Path
) -> None:
    out_json, out_xml, out_html = tmp_path / "i.json", tmp_path / "c.xml", tmp_path / "html"
    args = [
        "conform",
        "--target",
        reference.url,
        "--target",
        python_socketio.url,
        "--cases",
        "S2*",
        "--cases",
        "E1",
        "--json",
        str(out_json),
        "--junit",
        str(out_xml),
        "--html",
        str(out_html),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output  # python-socketio FAILS E1 and S21
    index = json.loads(out_json.read_text())
    ref = index["results"][reference.url]
    py = index["results"][python_socketio.url]
    assert ref["sio.connect.unknown-namespace"]["verdict"] == "OK"
    assert py["sio.connect.unknown-namespace"]["verdict"] == "FAILED"
    assert py["sio.connect.unknown-namespace"]["transcript"]
    assert "sio.connect.unknown-namespace" in index["differences"]
    suites = ET.parse(out_xml).getroot()
    assert int(sum(int(s.get("failures", 0)) for s in suites)) >= 2
    page = (out_html / "index.html").read_text()
    assert "sio.connect.unknown-namespace" in page and page.count("FAILED") >= 2
    assert list(out_html.glob("*/sio.connect.unknown-namespace.html"))


def test_default_tiers_leave_the_cluster_tier_out(reference: TargetSpec, tmp_path: Path) -> None:
    """Without --tier a single server is not judged by the 9 cluster checks (they used to be
    listed UNIMPLEMENTED); they run only with --cluster or --target embedded --nodes N."""
    from wsbench.conformance.command import parse_tiers
    from wsbench.conformance.model import Tier

    assert Tier.CLUSTER not in parse_tiers(None)
    out_json = tmp_path / "i.json"
    result = CliRunner().invoke(cli, ["conform", "--target", reference.url, "--cases", "cluster.*",
                                      "--cases", "E1", "--json", str(out_json)])
    assert result.exit_code == 0, result.output
    ran = json.loads(out_json.read_text())["results"][reference.url]
    assert "eio.handshake.polling.opens-session" in ran  # E1
    assert not [cid for cid in ran if cid.startswith("cluster.")], sorted(ran)
    assert "cluster." not in result.output


def test_cluster_tier_on_a_single_server_is_a_usage_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    result = CliRunner().invoke(cli, ["conform", "--target", url, "--tier", "cluster"])
    assert result.exit_code == 2, result.output
    assert "--cluster" in result.output and "--nodes" in result.output
