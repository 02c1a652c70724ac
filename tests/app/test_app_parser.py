"""``parser:`` in app files, and ``wsbench conform --app FILE`` on the file's parser (issue 13 #1):
--parser wins when given, the file's parser otherwise, a contradiction is a usage error naming both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, TIMEOUT_FACTOR
from wsbench.app import loads_app
from wsbench.cli import cli
from wsbench.conformance.command import resolve_parser
from wsbench.exceptions import ScenarioErrors
from wsbench.launch import Server, reference_server

REFERENCE = ROOT / "scenarios" / "apps" / "reference.yaml"
MINIMAL = "app: t\n{parser}namespaces:\n  /:\n    events:\n      echo: {{ack: {{args: $args}}}}\n"


def test_parser_key_is_read_and_checked() -> None:
    assert loads_app(MINIMAL.format(parser="parser: msgpack\n")).parser == "msgpack"
    assert loads_app(MINIMAL.format(parser="")).parser is None
    with pytest.raises(ScenarioErrors) as err:
        loads_app(MINIMAL.format(parser="parser: protobuf\n"), "a.yaml")
    assert "a.yaml:2" in str(err.value) and "protobuf" in str(err.value)


@pytest.fixture
def msgpack_app(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(REFERENCE.read_text().replace("app: reference\n", "app: reference\nparser: msgpack\n"))
    return path


def test_resolve_parser(msgpack_app: Path) -> None:
    assert resolve_parser(None, str(msgpack_app)) == "msgpack"
    assert resolve_parser("msgpack", str(msgpack_app)) == "msgpack"
    assert resolve_parser(None, str(REFERENCE)) == "default"  # not declared
    assert resolve_parser("msgpack", str(REFERENCE)) == "msgpack"
    assert resolve_parser(None, None) == "default"


def test_conflicting_parser_is_a_usage_error_naming_both(msgpack_app: Path) -> None:
    result = CliRunner().invoke(cli, ["conform", "--target", "http://127.0.0.1:9", "--app",
                                      str(msgpack_app), "--parser", "default"])
    assert result.exit_code == 2, result.output
    assert "--parser default" in result.output and "parser: msgpack" in result.output


@pytest.fixture(scope="module")
def msgpack_server() -> Iterator[str]:
    with Server(reference_server("--parser", "msgpack", "--app-heartbeat-interval", "0")) as s:
        yield s.url


@pytest.mark.timeout(120)
def test_conform_app_runs_on_the_files_parser(msgpack_app: Path, msgpack_server: str) -> None:
    # no --parser: the file's msgpack is used (the default parser would fail the preflight, exit 4)
    result = CliRunner().invoke(cli, [
        "conform", "--target", msgpack_server, "--app", str(msgpack_app),
        "--tier", "socketio,contract", "--cases", "sio.message.plain-event",
        "--cases", "app.root.echo.*", "--timeout-factor", str(TIMEOUT_FACTOR)])
    assert result.exit_code == 0, result.output
    assert "wsbench conform: 11 checks x 1 target(s)" in result.output, result.output
