"""The runner's pieces: thresholds, JWT minting, the embedded server, CLI exit codes."""

from __future__ import annotations

import asyncio
import json

import jwt
from click.testing import CliRunner

from tests.conftest import scaled
from wsbench.cli import cli
from wsbench.launch import AsyncServer, reference_server
from wsbench.scenario import loads_scenario
from wsbench.scenario.model import LatencyLimit, Thresholds, TokenMode, server_args
from wsbench.scenario.progress import Progress, Status
from wsbench.scenario.thresholds import evaluate
from wsbench.scenario.tokens import connect_payload, user_id

SECRET = "a-secret-that-is-long-enough-for-hs256"


def test_thresholds_judge_and_implicit_violations() -> None:
    hist = {"delivery": {"count": 10, "p99_ms": 120.0}}
    delivery = {
        "delivery_ratio": 0.99,
        "expected": 100,
        "missing": 1,
        "violations": {"total": 2, "counts": {"leak": 2}},
        "acks": {"timeouts": 0},
    }
    t = Thresholds(
        delivery_ratio=0.999,
        latency=(LatencyLimit("delivery", "p99", 0.1), LatencyLimit("ack", "p50", 1.0)),
    )
    results = {r.name: r for r in evaluate(t, hist, delivery, 0)}
    assert not results["delivery_ratio"].passed
    assert not results["violations"].passed and "leak: 2" in results["violations"].detail
    assert not results["latency.delivery.p99"].passed
    assert "no ack latency" in results["latency.ack.p50"].detail
    # a kind no threshold names fails the run (it passed before: rooms.yaml's 800 ack timeouts)
    unlisted = evaluate(Thresholds(violations_by_kind={"missing": 0}), hist, delivery, 0)
    assert [(r.name, r.passed) for r in unlisted] == [
        ("violations.unlisted", False),
        ("violations.missing", True),
    ]
    assert unlisted[0].detail == "leak: 2"
    allowed = evaluate(Thresholds(violations_by_kind={"leak": 2}), hist, delivery, 0)
    assert all(r.passed for r in allowed)
    assert all(r.passed for r in evaluate(Thresholds(violations=2), hist, delivery, 0))
    # ack_timeouts / connect_errors allow their violation kinds
    timeouts = {**delivery, "violations": {"total": 3, "counts": {"ack_timeout": 2,
                                                                   "connect_failed": 1}}}
    both = evaluate(Thresholds(ack_timeouts=2, connect_errors=1), hist, timeouts, 1)
    assert all(r.passed for r in both), both
    assert {r.name: r.limit for r in both}["violations.ack_timeout"] == "<= 2 (ack_timeouts)"
    assert not all(r.passed for r in evaluate(Thresholds(ack_timeouts=1), hist, timeouts, 1))
    # a ratio of nothing expected proves nothing
    nothing = {"delivery_ratio": 1.0, "expected": 0, "violations": {"total": 0, "counts": {}}}
    ratio = evaluate(Thresholds(delivery_ratio=0.99), hist, nothing, 0)[0]
    assert not ratio.passed and ratio.actual is None and "nothing was expected" in ratio.detail


def test_tokens() -> None:
    s = loads_scenario(
        f"auth: {{jwt: {{secret: {SECRET}, claims: {{userId: 'u-{{client}}'}}}}}}\n"
        "groups: [{flow: [{connect: /}]}]\n"
    )
    good = connect_payload(s.auth, {"client": 7})
    assert jwt.decode(good["token"], SECRET, algorithms=["HS256"])["userId"] == "u-7"
    assert user_id(s.auth, {"client": 7}) == "u-7"
    assert connect_payload(s.auth, {"client": 7}, TokenMode.NONE) is None
    bad = connect_payload(s.auth, {"client": 7}, TokenMode.INVALID)["token"]
    expired = connect_payload(s.auth, {"client": 7}, TokenMode.EXPIRED)["token"]
    for token in (bad, expired):
        try:
            jwt.decode(token, SECRET, algorithms=["HS256"])
            raise AssertionError("token accepted")
        except jwt.InvalidTokenError:
            pass
    assert "--jwt-secret" in server_args(s)


def test_embedded_server_starts_restarts_and_stops() -> None:
    async def go() -> None:
        server = AsyncServer(reference_server("--max-rooms", "5"))
        url = await asyncio.wait_for(server.start(), scaled(20))
        assert url.startswith("http://127.0.0.1:") and server.running
        up = await asyncio.wait_for(server.restart(0.1), scaled(20))
        assert up > 0 and server.restarts == 1 and server.url == url
        assert await server.stop() == 0
        assert not server.died.done()  # a stop we asked for is not a death
        server.close()

    asyncio.run(go())


def test_progress_lines() -> None:
    import io

    buf = io.StringIO()
    p = Progress(buf, tty=False, interval=5)
    for t in range(11):
        p.update(Status(float(t), 10, "running", 5, 10, 100.0, 1.5, 0))
    assert buf.getvalue().count("\n") == 3 and "connected 5/10" in buf.getvalue()


def test_cli_validate_and_bad_file(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n  - flow:\n      - emit: {event: x, ack_timeot: 1s}\n")
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 3
    assert f"{bad}:3" in result.output and "ack_timeot" in result.output


def test_cli_unreachable_target_exits_4(tmp_path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("groups: [{flow: [{connect: /}]}]\n")
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(f),
            "--target",
            "http://127.0.0.1:9",
            "--quiet",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 4
    assert "127.0.0.1:9" in result.output


def test_cli_run_and_report(tmp_path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "name: tiny\nclients: 5\nduration: 2s\ngroups:\n  - flow:\n      - connect: /\n"
        "      - emit: {event: chat message, data: hi, ack: true, "
        "expect: [{event: chat message, to: all}]}\n"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(f), "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sections"]["delivery"]["violations"]["total"] == 0
    assert (out / "report.html").exists() and (out / "junit.xml").exists()
    again = CliRunner().invoke(
        cli, ["report", str(out / "summary.json"), str(out / "summary.json")]
    )
    assert again.exit_code == 0 and "wsbench compare" in again.output
