from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from wsbench.exceptions import OptionError, ScenarioError
from wsbench.oracle import Semantics
from wsbench.scenario import (
    Overrides,
    apply_overrides,
    load_scenario,
    loads_scenario,
    parse_duration,
    schema_path,
)
from wsbench.scenario import model as m
from wsbench.scenario.loader import option_duration
from wsbench.scenario.schema import build_schema

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
VALIDATOR = jsonschema.Draft202012Validator(json.loads(schema_path().read_text()))

MINIMAL = "groups:\n  - flow:\n      - connect: /\n"


def error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, "s.yaml")
    return info.value


def test_examples_exist():
    names = {p.stem for p in SCENARIOS}
    assert {
        "chat",
        "rooms",
        "broadcast",
        "volatile",
        "acks",
        "reconnect",
        "auth",
        "documents",
        "notifications",
    } <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_example_loads_and_validates_against_the_schema(path):
    scenario = load_scenario(path)
    assert scenario.groups and len(scenario.assign_groups()) == scenario.clients
    assert len(scenario.arrival_offsets()) == scenario.clients
    errors = [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


def test_schema_file_is_generated_from_the_generator():
    assert json.loads(schema_path().read_text()) == build_schema()
    jsonschema.Draft202012Validator.check_schema(build_schema())


def test_chat_is_sized_for_two_thousand_clients():
    s = load_scenario(ROOT / "scenarios" / "chat.yaml")
    assert s.clients == 2000 and s.embedded and 20 <= s.duration <= 30


def test_minimal_scenario_defaults():
    s = loads_scenario(MINIMAL, "min.yaml")
    assert s.name == "min" and s.target == "embedded" and s.transport is m.Transport.WEBSOCKET
    assert s.path == "/socket.io/" and s.clients == 1 and s.duration == 30.0
    assert s.groups[0].flow == (m.Connect(("/",)),)


def test_full_emit_step():
    s = loads_scenario(
        """
defaults: {within: 1s, ack_timeout: 3s}
groups:
  - namespace: /chat
    flow:
      - emit:
          event: broadcast room
          data: {room: "r{rand:3}", data: {who: "{client}"}}
          ack: true
          expect: [{event: event, to: room_others, room: "r{rand:3}"}, message]
""",
        "e.yaml",
    )
    (emit,) = s.groups[0].flow
    assert emit.namespace == "/chat" and emit.ack and emit.ack_timeout == 3.0
    assert (
        isinstance(emit.data["room"], m.Template) and emit.data["data"]["who"].source == "{client}"
    )
    first, second = emit.expect
    assert first.to is Semantics.ROOM_OTHERS and first.within == 1.0 and first.namespace == "/chat"
    assert second == m.Expect("message", namespace="/chat", within=1.0)
    assert emit.where.startswith("e.yaml:6 groups[0].flow[0]")


def test_every_step_kind_loads():
    s = loads_scenario(
        """
clients: 3
server: {ping_interval: 300ms, recovery: true, faults: [room-leak]}
auth: {jwt: {secret: k, claims: {userId: "u{client}"}, expires_in: 10m}}
arrival: {phases: [{duration: 1s, rate: 1, ramp_to: 5}, {pause: 1s}, {duration: 2s, users: 2}]}
thresholds:
  delivery_ratio: 0.99
  violations: {leak: 0, total: 3}
  latency: {delivery: {p99: 250ms, max: 2s}}
  reconnect_time: {p99: 3s}
  ack_timeouts: 0
  connect_errors: 1
groups:
  - flow:
      - connect: {namespaces: [/, /chat], token: expired, refused: Invalid token}
      - join: room-{client}
      - leave: {room: "{room}", event: leave room}
      - think: 1.5
      - think: {uniform: [1s, 2s]}
      - think: {poisson: 500ms}
      - expect: notification
      - listen: {event: typing, namespace: /chat, count: 3}
      - notify: {user: "u{client}", message: hi}
      - loop: {count: 2, steps: [disconnect, reconnect]}
      - every: {interval: 100ms, duration: 1s, steps: [{reconnect: {after: 1s}}]}
      - disconnect: {namespace: /chat}
      - fault: restart_server
      - fault: {kind: drop_transport, reconnect_within: 5s}
""",
    )
    flow = s.groups[0].flow
    kinds = [type(x).__name__ for x in flow]
    assert kinds == [
        "Connect",
        "Join",
        "Leave",
        "Think",
        "Think",
        "Think",
        "Listen",
        "Listen",
        "Notify",
        "Loop",
        "Every",
        "Disconnect",
        "Fault",
        "Fault",
    ]
    assert flow[0].token is m.TokenMode.EXPIRED and flow[0].namespaces == ("/", "/chat")
    assert flow[3] == m.Think(m.ThinkKind.FIXED, 1.5)
    assert flow[4] == m.Think(m.ThinkKind.UNIFORM, 1.0, 2.0)
    assert flow[6].wait and not flow[7].wait and flow[7].count == 3
    assert flow[9].steps == (m.Disconnect(), m.Reconnect())
    assert s.server.jwt_secret == "k" and s.server.ping_interval == 0.3  # secret defaults from auth
    t = s.thresholds
    assert t.violations == 3 and t.violations_by_kind == {"leak": 0}
    assert m.LatencyLimit("delivery", "p99", 0.25) in t.latency
    assert s.arrival.phases[1] == m.Phase(1.0)


@pytest.mark.parametrize(
    ("text", "line", "key_path", "message"),
    [
        (
            "groups:\n  - flow:\n      - emit: {event: x, ack_timeot: 1s}\n",
            3,
            "groups[0].flow[0].emit.ack_timeot",
            "did you mean 'ack_timeout'",
        ),
        (
            "groups:\n  - flow:\n      - emit:\n          event: x\n          ack_timeout: soon\n",
            5,
            "groups[0].flow[0].emit.ack_timeout",
            "500ms",
        ),
        ("clients: 0\n" + MINIMAL, 1, "clients", ">= 1"),
        ("nmae: x\n" + MINIMAL, 1, "nmae", "did you mean 'name'"),
        ("transport: websockets\n" + MINIMAL, 1, "transport", "did you mean 'websocket'"),
        ("target: ftp://x\n" + MINIMAL, 1, "target", "URL"),
        ("name: a\nname: b\n" + MINIMAL, 2, "name", "duplicate"),
        ("groups:\n  - flow:\n      - jump: 1\n", 3, "groups[0].flow[0].jump", "unknown key"),
        (
            "groups:\n  - flow:\n      - join: {room: '{oops}'}\n",
            3,
            "groups[0].flow[0].join.room",
            "unknown placeholder",
        ),
        (
            "groups:\n  - flow:\n      - emit: {event: x, expect: [{to: everyone}]}\n",
            3,
            "groups[0].flow[0].emit.expect[0].to",
            "expected one of",
        ),
        (
            "groups:\n  - flow:\n      - emit: {event: x, expect: [{to: all, room: a}]}\n",
            3,
            "groups[0].flow[0].emit.expect[0].room",
            "rooms only apply",
        ),
        ("groups:\n  - flow:\n      - think\n", 3, "groups[0].flow[0]", "needs settings"),
        (
            "groups:\n  - flow:\n      - {think: 1s, join: a}\n",
            3,
            "groups[0].flow[0]",
            "exactly one key",
        ),
        ("groups:\n  - flow: []\n", 2, "groups[0].flow", "at least one step"),
        (
            "clients: 3\ngroups:\n  - {count: 5, flow: [disconnect]}\n",
            3,
            "groups",
            "more than clients",
        ),
        ("clients: 3\ngroups:\n  - {count: 1, flow: [disconnect]}\n", 3, "groups", "have no group"),
        (
            "thresholds: {violations: {leaks: 0}}\n" + MINIMAL,
            1,
            "thresholds.violations.leaks",
            "did you mean 'leak'",
        ),
        (
            "thresholds: {latency: {delivery: {p98: 1s}}}\n" + MINIMAL,
            1,
            "thresholds.latency.delivery.p98",
            "unknown key",
        ),
        (
            "arrival: {phases: [{duration: 1s}]}\n" + MINIMAL,
            1,
            "arrival.phases[0]",
            "exactly one of",
        ),
        ("groups: [\n", 2, "", "not valid YAML"),
    ],
)
def test_errors_name_file_line_key_path_and_expectation(text, line, key_path, message):
    e = error(text)
    assert e.path == "s.yaml" and e.line == line and e.key_path == key_path
    assert message in e.message
    assert str(e).startswith(f"s.yaml:{line}")


def test_missing_file_and_empty_text():
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario("/nonexistent/x.yaml")
    assert "empty" in error("").message
    assert "missing required key 'groups'" in error("name: x\n").message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(5, 5.0), (0.5, 0.5), ("500ms", 0.5), ("30s", 30.0), ("2m", 120.0), ("1h", 3600.0)],
)
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["5", "5 sec", True, -1, None, "ms"])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_overrides_apply_with_validation():
    s = loads_scenario(
        "clients: 10\ngroups:\n  - {count: 4, flow: [disconnect]}\n  - {weight: 1, flow: [disconnect]}\n"
    )
    o = apply_overrides(
        s, Overrides(clients=20, duration="1m", target="http://127.0.0.1:3000", seed=9)
    )
    assert (o.clients, o.duration, o.target, o.seed) == (20, 60.0, "http://127.0.0.1:3000", 9)
    for bad, key in [
        (Overrides(clients=0), "--clients"),
        (Overrides(clients=3), "--clients"),
        (Overrides(duration="forever"), "--duration"),
        (Overrides(target="nowhere"), "--target"),
    ]:
        with pytest.raises(OptionError) as info:
            apply_overrides(s, bad)
        assert info.value.option == key
        assert not isinstance(info.value, ScenarioError)  # the file is fine: usage, exit 2


@pytest.mark.parametrize(
    ("value", "seconds"), [("15", 15.0), (" 1.5 ", 1.5), ("500ms", 0.5), ("2m", 120.0), (3, 3.0)]
)
def test_command_line_durations_take_bare_seconds_like_the_yaml(value, seconds):
    assert option_duration(value) == seconds
    assert loads_scenario(f"duration: {value}\n" + MINIMAL).duration == seconds


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "1e3", "forever", "5 sec"])
def test_bad_command_line_durations(value):
    with pytest.raises(ValueError, match="duration"):
        option_duration(value)


DOC_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


def test_every_yaml_block_in_the_docs_loads():
    text = (ROOT / "docs" / "scenarios.md").read_text()
    blocks = DOC_BLOCK.findall(text)
    assert len(blocks) >= 5
    for i, block in enumerate(blocks):
        # as if saved in scenarios/ (an 'app: apps/...' path is relative to the file)
        loads_scenario(block, str(ROOT / "scenarios" / f"docs-scenarios-md-block{i}.yaml"))
        assert list(VALIDATOR.iter_errors(yaml.safe_load(block))) == [], i


def test_stall_step() -> None:
    s = loads_scenario(
        "groups: [{flow: [{connect: /}, {stall: 5s}, {stall: {duration: 500ms}}]}]\n"
    )
    assert s.groups[0].flow[1:] == (m.Stall(5.0), m.Stall(0.5))
    with pytest.raises(ScenarioError, match="positive duration"):
        loads_scenario("groups: [{flow: [{stall: 0s}]}]\n")


MANY_MISTAKES = """\
name: bad
clientz: 3
duration: forever
groups:
  - name: a
    on_finish: never
    flow:
      - emit: {evnt: y}
      - emit: {event: x, ack_timeot: 1s}
      - think: soon
  - flow: [{jion: r}]
thresholds:
  delivery_ratio: 2
"""


def test_every_mistake_is_reported_once_in_line_order():
    e = error(MANY_MISTAKES)
    found = [(x.line, x.key_path) for x in e.errors]
    assert found == [
        (2, "clientz"),
        (3, "duration"),
        (6, "groups[0].on_finish"),
        (8, "groups[0].flow[0].emit.evnt"),  # the typo only, not also "missing 'event'"
        (9, "groups[0].flow[1].emit.ack_timeot"),
        (10, "groups[0].flow[2].think"),
        (11, "groups[1].flow[0].jion"),  # not also "a step has exactly one key"
        (13, "thresholds.delivery_ratio"),
    ]
    assert (e.line, e.key_path) == (2, "clientz")  # the first, for one-error callers
    assert str(e).count("\n") == 7 and str(e).startswith("s.yaml:2: clientz: unknown key")

