"""``app: FILE`` in a scenario: resolved relative to the scenario file, its errors pointed."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsbench.exceptions import ScenarioError
from wsbench.scenario.loader import load_scenario

APPS = Path(__file__).resolve().parents[2] / "scenarios" / "apps"


def _write(tmp_path: Path, body: str, app: str = "apps/reference.yaml") -> Path:
    (tmp_path / "apps").mkdir(exist_ok=True)
    (tmp_path / "apps" / "reference.yaml").write_text((APPS / "reference.yaml").read_text())
    p = tmp_path / "s.yaml"
    p.write_text(f"app: {app}\ngroups:\n  - flow:\n      - connect: /\n{body}")
    return p


def test_app_path_is_relative_to_the_scenario_file(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    s = load_scenario(_write(tmp_path, '      - emit: {event: chat message, data: hi}\n'))
    assert s.app is not None and s.app.name == "reference"
    assert s.app_path == str(tmp_path / "apps" / "reference.yaml")


def test_a_missing_app_file_names_the_scenario_line(tmp_path):
    with pytest.raises(ScenarioError, match=r"s.yaml:1: .*app file 'apps/nope.yaml' not found"):
        load_scenario(_write(tmp_path, "", app="apps/nope.yaml"))


def test_an_invalid_app_file_reports_its_own_file_and_line(tmp_path):
    p = _write(tmp_path, "")
    (tmp_path / "apps" / "reference.yaml").write_text("app: x\nnamespaces:\n  /:\n    bogus: 1\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(p)
    text = str(info.value)
    assert "reference.yaml:4" in text and "bogus" in text


def test_an_undeclared_event_and_an_invented_ack_are_load_errors(tmp_path):
    with pytest.raises(ScenarioError, match=r"s.yaml:5: .*declares no event 'nope'"):
        load_scenario(_write(tmp_path, "      - emit: {event: nope, data: hi}\n"))
    with pytest.raises(ScenarioError, match=r"never acks 'message'"):
        load_scenario(_write(tmp_path, "      - emit: {event: message, data: hi, ack: true}\n"))


def test_explicit_expect_still_works_for_an_undeclared_event(tmp_path):
    s = load_scenario(_write(
        tmp_path, "      - emit: {event: nope, data: hi, expect: [{event: x, to: all}]}\n"))
    assert s.groups[0].flow[1].expect[0].event == "x"


def test_must_not_reads_its_forms(tmp_path):
    s = load_scenario(_write(tmp_path, (
        "      - emit: {event: chat message, data: hi, must_not: [private message,\n"
        "          {event: x, to: non_members, room: r}]}\n")))
    a, b = s.groups[0].flow[1].must_not
    assert (a.event, a.to) == ("private message", "others")
    assert (b.event, b.to, len(b.rooms)) == ("x", "non_members", 1)
    with pytest.raises(ScenarioError, match="rooms only apply to to: non_members"):
        load_scenario(_write(tmp_path, (
            "      - emit: {event: chat message, data: hi, must_not: {event: x, room: r}}\n")))
