"""App-file loader: bundled files load and validate; every mistake names file, line, key path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from wsbench.app import load_app, loads_app
from wsbench.app.schema import build_schema, schema_path
from wsbench.exceptions import ScenarioErrors

ROOT = Path(__file__).resolve().parents[2]
APPS = sorted((ROOT / "scenarios" / "apps").glob("*.yaml"))
VALIDATOR = jsonschema.Draft202012Validator(json.loads(schema_path().read_text()))


def docs_example() -> str:
    return re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "apps.md").read_text(), re.S)[0]


def test_both_bundled_app_files_exist():
    assert {p.name for p in APPS} >= {"seed.yaml", "reference.yaml"}


@pytest.mark.parametrize("path", APPS, ids=[p.stem for p in APPS])
def test_bundled_app_files_load_and_validate(path):
    app = load_app(path)
    assert app.events()
    VALIDATOR.validate(yaml.safe_load(path.read_text()))


def test_docs_example_loads_and_validates():
    app = loads_app(docs_example(), "docs/apps.md")
    assert [e.name for e in app.events()] == [
        "enter table", "leave table", "move", "whisper", "shout"
    ]
    VALIDATOR.validate(yaml.safe_load(docs_example()))


def test_schema_file_is_generated_from_the_generator():
    assert json.loads(schema_path().read_text()) == build_schema()
    jsonschema.Draft202012Validator.check_schema(build_schema())


BAD = """\
app: broken
namespaces:
  /:
    events:
      a:
        push:
          - {event: e, to: rom}
          - {event: e, to: room}
          - {event: e, to: all, payload: $argz}
        ack: {payload: "$args[0]", afterpushes: true}
        confirmed_by: ack
      b:
        join: "$args[0]"
        confirmed_by: nope
        push:
          - {event: e, to: all, namespace: /missing}
    connect:
      - {event: hello, to: sender, payload: "$args[0]"}
"""


def test_every_mistake_is_reported_with_file_line_and_key_path_in_line_order():
    with pytest.raises(ScenarioErrors) as info:
        loads_app(BAD, "bad.yaml")
    got = [(e.line, e.key_path) for e in info.value.errors]
    text = [str(e) for e in info.value.errors]
    assert got == sorted(got, key=lambda x: x[0])
    assert (7, "namespaces./.events.a.push[0].to") in got
    assert "did you mean 'room'?" in text[got.index((7, "namespaces./.events.a.push[0].to"))]
    assert (8, "namespaces./.events.a.push[1]") in got
    assert (9, "namespaces./.events.a.push[2].payload") in got
    assert (10, "namespaces./.events.a.ack.afterpushes") in got
    assert any(k == "namespaces./.events.a.confirmed_by" for _, k in got)
    assert any(k == "namespaces./.events.b.confirmed_by" for _, k in got)
    assert any(k.endswith("push[0].namespace") and "/missing" in t for (_, k), t in zip(got, text, strict=True))
    assert any(k == "namespaces./.connect[0].payload" and "$args" in t
               for (_, k), t in zip(got, text, strict=True))
    assert all(t.startswith("bad.yaml:") for t in text)
    assert len(got) == 8


def test_not_yaml_and_empty_and_missing_keys():
    with pytest.raises(ScenarioErrors, match=r"x.yaml:2: not valid YAML"):
        loads_app("app: a\n  b: [\n", "x.yaml")
    with pytest.raises(ScenarioErrors, match="empty"):
        loads_app("", "x.yaml")
    with pytest.raises(ScenarioErrors, match="missing required key 'namespaces'"):
        loads_app("app: a\n", "x.yaml")


def test_validate_cli_accepts_app_files_and_reports_their_mistakes(tmp_path):
    from click.testing import CliRunner

    from wsbench.cli import cli

    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    ok = CliRunner().invoke(cli, ["validate", str(APPS[0]), str(ROOT / "scenarios/chat.yaml")])
    assert ok.exit_code == 0, ok.output
    assert "ok (app" in ok.output
    res = CliRunner().invoke(cli, ["validate", str(bad)])
    assert res.exit_code == 3
    assert f"{bad}:7: namespaces./.events.a.push[0].to" in res.output


def test_a_scenario_that_names_its_app_file_is_still_a_scenario():
    from wsbench.app.loader import is_app_text

    assert is_app_text("app: shop\nnamespaces: {/: {}}\n")
    scenario = "app: apps/seed.yaml\ngroups: [{flow: [{connect: /}]}]\n"
    assert not is_app_text(scenario)  # app: names the file; groups make it a scenario
    assert not is_app_text("groups: []\n") and not is_app_text("- app\n")


SID_ROOM = """app: t
namespaces:
  /:
    events:
      dm:
        push:
          - {event: dm, to: room_others, socket: "$args[0].whom", payload: "$args[0].text"}
      yell:
        push:
          - {event: yell, to: room, room: "$args[0].to", payload: "$args[0].text"}
"""


def test_a_room_push_names_a_socket_id_room_with_socket_not_by_field_name():
    from wsbench.conformance.checks.app_traffic import plan_args

    app = loads_app(SID_ROOM, "t.yaml")
    dm, yell = app.event("/", "dm"), app.event("/", "yell")
    push = dm.push[0]
    assert push.room is not None and push.socket is not None
    assert str(push.room.value) == str(push.socket.value) == "$args[0].whom"
    # the declaration decides, not the field's name
    assert plan_args(dm).roles["$args[0].whom"] == "sid"
    assert plan_args(yell).roles["$args[0].to"] == "room"
    with pytest.raises(ScenarioErrors, match="not both"):
        loads_app(SID_ROOM.replace('socket: "$args[0].whom"',
                                   'socket: "$args[0].whom", room: r'), "t.yaml")
