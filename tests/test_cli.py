"""The CLI's own behaviour: ``wsbench serve`` starts the reference server and answers a handshake."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import ROOT, scaled
from wsbench.launch import Server, ServerSpec


def test_serve_starts_the_reference_server_and_answers_a_handshake() -> None:
    serve = ServerSpec(
        (sys.executable, "-m", "wsbench", "serve"), ("--ping-interval", "5000"), cwd=str(ROOT)
    )
    with Server(serve) as server:
        assert server.banner == f"wsbench reference server listening on {server.url}"
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(
            f"{server.url}/socket.io/?EIO=4&transport=polling", timeout=scaled(5)
        ) as resp:
            body = resp.read().decode()
        assert body.startswith("0{")
        info = json.loads(body[1:])
        assert info["pingInterval"] == 5000
        assert info["upgrades"] == ["websocket"]
        assert server.stop(grace=scaled(10)) == 0


def test_serve_rejects_unknown_options_with_usage_status() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "wsbench", "serve", "--no-such-option"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(20),
    )
    assert out.returncode == 2
    assert "--no-such-option" in out.stderr


# -- item 13: option values -----------------------------------------------------------


TINY = "name: tiny\nclients: 2\nduration: 30s\ngroups:\n  - {count: 2, flow: [{connect: /}]}\n"


def test_run_takes_a_bare_number_of_seconds_for_duration(tmp_path) -> None:
    from click.testing import CliRunner

    from wsbench.cli import cli

    f = tmp_path / "s.yaml"
    f.write_text(TINY)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["run", str(f), "--duration", "1", "--quiet", "--no-plots", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sections"]["run"]["planned_duration_s"] == 1.0


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--duration", "forever"], "--duration"),
        (["--duration", "0"], "--duration"),
        (["--duration", "-5"], "--duration"),
        (["--clients", "0"], "--clients"),
        (["--clients", "1"], "--clients"),  # fewer than the groups' counts (2)
        (["--target", "nowhere"], "--target"),
        (["--processes", "0"], "--processes"),
    ],
)
def test_a_bad_option_value_is_a_usage_error_that_does_not_blame_the_file(
    tmp_path, args: list[str], option: str
) -> None:
    from click.testing import CliRunner

    from wsbench.cli import cli

    f = tmp_path / "s.yaml"
    f.write_text(TINY)
    result = CliRunner().invoke(cli, ["run", str(f), "--quiet", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output
    assert option in result.output
    assert f"{f}:" not in result.output  # no FILE:LINE or FILE: blame
    assert not (tmp_path / "o").exists()


# -- item 15: every --help works and documents every option -------------------------


def _click_commands():
    from wsbench.cli import cli

    return sorted(cli.commands)


@pytest.mark.parametrize("name", [None, *_click_commands()])
def test_every_subcommands_help_works_and_documents_every_option(name: str | None) -> None:
    """Walks the click group: each ``wsbench CMD --help`` exits 0 and describes each option."""
    import argparse

    import click
    from click.testing import CliRunner

    from reference_server.config import build_parser
    from wsbench.cli import cli

    args = ["--help"] if name is None else [name, "--help"]
    result = CliRunner().invoke(cli, args, prog_name="wsbench")
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.lower().startswith("usage: wsbench" + (f" {name}" if name else "")), text[:200]
    command = cli if name is None else cli.commands[name]
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"wsbench {name} {param.opts}: no help text"
            for opt in param.opts:
                assert opt in text, f"{opt} missing from wsbench {name} --help"
    if name == "serve":  # the reference server's own parser, under wsbench's name
        for action in build_parser()._actions:
            assert action.help and action.help != argparse.SUPPRESS, action.option_strings
            for opt in action.option_strings:
                assert opt in text, f"{opt} missing from wsbench serve --help"
    if name == "locust":  # every other option goes to Locust: its own list is shown too
        for opt in ("--headless", "--users", "--spawn-rate", "--run-time", "--master", "--worker"):
            assert opt in text, f"Locust's {opt} missing from wsbench locust --help"


def test_help_after_the_scenario_is_wsbenchs_help_too(tmp_path) -> None:
    from click.testing import CliRunner

    from wsbench.cli import cli

    f = tmp_path / "s.yaml"
    f.write_text(TINY)
    result = CliRunner().invoke(cli, ["locust", str(f), "--help"], prog_name="wsbench")
    assert result.exit_code == 0 and "--wsbench-report-dir" in result.output
    assert "does not exist" not in result.output


# -- item 14: validate reports every mistake of every file --------------------------


def test_validate_reports_every_mistake_of_every_file_in_line_order_then_exits_3(tmp_path) -> None:
    from click.testing import CliRunner

    from wsbench.cli import cli

    one = tmp_path / "one.yaml"
    one.write_text(
        "clientz: 3\n"  # 1
        "groups:\n"  # 2
        "  - flow:\n"  # 3
        "      - emit: {event: x, ack_timeot: 1s}\n"  # 4
        "      - think: soon\n"  # 5
        "duration: forever\n"  # 6
    )
    good = tmp_path / "good.yaml"
    good.write_text(TINY)
    two = tmp_path / "two.yaml"
    two.write_text("groups:\n  - flow: [{jion: r}]\n")
    missing = tmp_path / "missing.yaml"
    result = CliRunner().invoke(cli, ["validate", str(one), str(good), str(two), str(missing)])
    assert result.exit_code == 3, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error: ")]
    assert [ln.split(": ")[1] for ln in lines] == [
        f"{one}:1", f"{one}:4", f"{one}:5", f"{one}:6", f"{two}:2", str(missing),
    ]
    assert f"{good}: ok" in result.output
    assert "6 mistake(s) in 3 of 4 file(s)" in result.output
