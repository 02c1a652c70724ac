"""Binary payload values in scenarios: ``{bytes: N}`` and ``{bytes: N, fill: text}``.

Read by the loader (with file:line errors), published in the schema, rendered to bytes per
step execution (random from the seeded choices, or the fill repeated), and stamped with the
binary form of :mod:`wsbench.oracle.stamp` (a header object beside the bytes).
"""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from tests.conftest import ROOT
from wsbench.exceptions import ScenarioErrors
from wsbench.oracle.stamp import BINARY_KEY, STAMP_KEY, Stamp, embed_stamp, find_stamp
from wsbench.scenario import loads_scenario
from wsbench.scenario.model import MAX_BINARY, Binary, Template, render_value

BASE = """\
name: t
clients: 2
duration: 1s
groups:
  - name: g
    flow:
      - connect: /
      - emit:
          event: broadcast all
          data: {data: %s}
"""


def _data(value: str):  # noqa: ANN202
    step = loads_scenario(BASE % value, "<t>").groups[0].flow[1]
    return step.data["data"]


def test_binary_values_are_read() -> None:
    assert _data("{bytes: 1024}") == Binary(1024)
    fill = _data('{bytes: 64, fill: "c{client} "}')
    assert fill.size == 64 and isinstance(fill.fill, Template)
    assert _data('{bytes: 3, fill: "ab"}') == Binary(3, "ab")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{bytes: 0}", "'bytes' must be an integer from 1 to"),
        (f"{{bytes: {MAX_BINARY + 1}}}", "'bytes' must be an integer from 1 to"),
        ('{bytes: "10"}', "'bytes' must be an integer"),
        ("{bytes: 8, fill: ''}", "'fill' must be a non-empty string"),
        ("{bytes: 8, size: 2}", "a binary value takes only 'bytes' and 'fill', got size"),
    ],
)
def test_bad_binary_values_name_the_line(value: str, message: str) -> None:
    with pytest.raises(ScenarioErrors) as info:
        loads_scenario(BASE % value, "<t>")
    text = str(info.value)
    assert message in text and "<t>:10" in text, text


def test_rendering_random_and_templated() -> None:
    picks = {}

    def pick(n: int) -> int:  # the step's choices: one value per N, as the interpreter's
        return picks.setdefault(n, 12345)

    a = render_value({"data": Binary(1024)}, {}, pick)["data"]
    b = render_value(Binary(1024), {}, pick)
    assert isinstance(a, bytes) and len(a) == 1024 and a == b  # reproducible from the seed
    assert render_value(Binary(1024), {}, lambda n: 7) != a
    filled = render_value(Binary(7, Template.parse("c{client}")), {"client": 3}, pick)
    assert filled == b"c3c3c3c"
    assert render_value(Binary(2, "é"), {}, pick) == "é".encode()


def test_a_binary_value_carries_its_stamp_in_a_header_object() -> None:
    stamp = Stamp.new("r1", 4, 9, 123)
    blob = b"\x00\x01" * 10
    sent = embed_stamp({"data": blob}, stamp)  # the carrier key holds the bytes
    assert sent == {"data": {STAMP_KEY: stamp.to_json(), BINARY_KEY: blob}}
    assert find_stamp([sent["data"]]) == stamp  # the server re-emits data verbatim
    assert find_stamp([sent]) == stamp
    bare = embed_stamp(blob, stamp)
    assert bare[BINARY_KEY] == blob and find_stamp([bare]) == stamp


def test_the_schema_takes_binary_values_and_the_bundled_msgpack_scenario() -> None:
    schema = json.loads((ROOT / "wsbench" / "scenario" / "schema.json").read_text())
    doc = yaml.safe_load((ROOT / "scenarios" / "msgpack.yaml").read_text())
    jsonschema.validate(doc, schema)
    bad = yaml.safe_load(BASE % "{bytes: 8, size: 2}")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    path = ROOT / "scenarios" / "msgpack.yaml"  # its app: path resolves next to it
    loads_scenario(path.read_text(), str(path))
