"""A scenario with ``parser: msgpack`` (rooms and broadcasts, with binary arguments) passes on
the embedded reference server and on the Node twin, both started with ``--parser msgpack``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import NODE_SERVER, node, run_text, violations
from wsbench.scenario import loads_scenario
from wsbench.scenario.model import server_args

SOURCE = str(ROOT / "scenarios" / "rooms.yaml")  # its app: path resolves next to it
ROOMS = Path(SOURCE).read_text()
MSGPACK_ROOMS = "parser: msgpack\n" + ROOMS


def test_parser_is_read_and_passed_to_the_embedded_server() -> None:
    scenario = loads_scenario(MSGPACK_ROOMS, SOURCE)
    assert scenario.parser == "msgpack"
    assert server_args(scenario)[-2:] == ["--parser", "msgpack"]
    assert loads_scenario(ROOMS, SOURCE).parser == "default"
    with pytest.raises(Exception, match="parser"):
        loads_scenario("parser: json5\n" + ROOMS, SOURCE)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server", [(), pytest.param(("node", str(NODE_SERVER)), marks=node)],
                         ids=["python", "node"])
def test_msgpack_scenario_passes(server: tuple[str, ...], tmp_path) -> None:  # noqa: ANN001
    outcome = run_text(MSGPACK_ROOMS, tmp_path, server=server, clients=12, duration="4s")
    s = outcome.summary
    assert not s.partial, s.partial_reason
    assert violations(s) == {}, s.sections.delivery.violations.samples[:3]
    assert s.sections.connections.connected > 0
    failed = [t for t in s.sections.thresholds if not t.passed]
    assert outcome.exit_status == 0 and not failed, failed


def test_parser_mismatch_fails_the_run_in_one_line(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """parser: msgpack against a server on the default parser: exit 4 from the CLI."""
    import wsbench.scenario.runner as runner
    from wsbench.exceptions import ParserMismatch

    plain = runner.server_args
    monkeypatch.setattr(
        runner, "server_args", lambda s: [a for a in plain(s) if a not in ("--parser", "msgpack")]
    )
    with pytest.raises(ParserMismatch, match=r"speaks the default parser; run with --parser default$"):
        run_text(MSGPACK_ROOMS, tmp_path, clients=2, duration="1s")
