from __future__ import annotations

import random

import pytest

from wsbench.scenario.model import (
    Arrival,
    Emit,
    Group,
    Phase,
    Scenario,
    Template,
    render_value,
)


def test_template_substitutes_and_escapes():
    t = Template.parse("user-{client} in {{room}} #{seq}")
    assert t.render({"client": 7, "seq": 3}) == "user-7 in {room} #3"


def test_rand_is_delegated_so_a_step_can_draw_once():
    draws = {}

    def rand(n):
        return draws.setdefault(n, random.Random(1).randrange(n))

    value = {
        "room": Template.parse("r{rand:10}"),
        "rooms": [Template.parse("r{rand:10}"), "x"],
        "n": 1,
    }
    out = render_value(value, {}, rand)
    assert out["room"] == out["rooms"][0] and out["rooms"][1] == "x" and out["n"] == 1


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{nope}", "unknown placeholder"),
        ("{rand}", "needs N"),
        ("{client:3}", "takes no"),
        ("{rand:0}", "N >= 1"),
        ("a { b", "unbalanced"),
        ("a } b", "unbalanced"),
    ],
)
def test_bad_templates(source, message):
    with pytest.raises(ValueError, match=message):
        Template.parse(source)


def test_missing_value_is_a_key_error():
    with pytest.raises(KeyError):
        Template.parse("{peer_sid}").render({})


def scenario(groups, clients, arrival=None):
    return Scenario("t", tuple(groups), clients, 10.0, arrival=arrival or Arrival())


FLOW = (Emit("x"),)


def test_assign_groups_counts_then_weights_interleaved():
    s = scenario(
        [Group("a", FLOW, count=2), Group("b", FLOW, weight=3), Group("c", FLOW, weight=1)], 10
    )
    groups = s.assign_groups()
    assert len(groups) == 10
    assert groups.count(0) == 2 and groups.count(1) == 6 and groups.count(2) == 2
    assert groups[:5].count(1) >= 2  # interleaved, not one block per group
    assert s.assign_groups() == groups  # deterministic


def test_groups_without_weight_or_count_weigh_one():
    s = scenario([Group("a", FLOW), Group("b", FLOW)], 5)
    assert sorted(s.assign_groups()) == [0, 0, 0, 1, 1]


def test_arrival_rate_and_default():
    assert scenario([Group("a", FLOW)], 4, Arrival(rate=2)).arrival_offsets() == (0, 0.5, 1.0, 1.5)
    default = scenario([Group("a", FLOW)], 1000).arrival_offsets()
    assert default[-1] == pytest.approx(999 / 200)


def test_arrival_phases_users_pause_and_ramp():
    phases = (Phase(2.0, users=4), Phase(1.0), Phase(2.0, rate=0, ramp_to=10))
    offsets = scenario([Group("a", FLOW)], 20, Arrival(phases=phases)).arrival_offsets()
    assert offsets[:4] == (0.0, 0.5, 1.0, 1.5)
    assert all(3.0 <= t < 5.0 for t in offsets[4:14])  # a ramp 0 -> 10/s starts ~10 in 2 s
    assert offsets[14:] == (5.0,) * 6  # the rest start when the phases end
    assert list(offsets) == sorted(offsets)
