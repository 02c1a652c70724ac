"""RunSummary: write/load round trip, JSON Schema validity, clear errors on bad files."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from wsbench.exceptions import ConfigError
from wsbench.metrics import SCHEMA_VERSION, Environment, Metrics, RunSummary, Target, schema

S = 1_000_000_000


def make_summary(**overrides: object) -> RunSummary:
    m = Metrics(origin_ns=0, origin_wall=1_700_000_000.0)
    for second in range(3):
        for i in range(50):
            m.record_ns("ack.rtt", (i + 1) * 100_000)
        m.incr("emits", 50)
        m.set_gauge("clients", 100)
        m.tick((second + 1) * S)
    m.record_ns("ack.rtt", -1)  # a clamped value in the open second
    m.flush()
    fields: dict[str, object] = {
        "scenario": "chat",
        "target": Target("http://127.0.0.1:3000", embedded=True, server="wsbench reference_server"),
        "started_at": "2026-11-28T04:00:00.000Z",
        "duration_s": 3.2,
        "exit_status": 0,
        "metrics": m.snapshot(),
        "sections": {"oracle": {"verdict": "ok", "violations": []}, "fanout": {"10": {"p99_ms": 1.5}}},
        "environment": Environment.capture(uvloop=True),
    }
    fields.update(overrides)
    return RunSummary(**fields)  # type: ignore[arg-type]


def test_write_then_load_round_trips(tmp_path: Path) -> None:
    summary = make_summary()
    path = summary.write(tmp_path / "run" / "summary.json")
    loaded = RunSummary.load(path)
    assert loaded == summary
    assert loaded.schema_version == SCHEMA_VERSION
    assert Metrics.from_snapshot(loaded.metrics).histogram("ack.rtt").count == 151
    assert [p.name for p in tmp_path.joinpath("run").iterdir()] == ["summary.json"]  # no temp left


def test_written_summaries_validate_against_the_published_schema(tmp_path: Path) -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    for summary in (make_summary(), make_summary(partial=True, partial_reason="server died", exit_status=3),
                    make_summary(metrics=Metrics().snapshot(), sections={})):
        data = json.loads(summary.write(tmp_path / "s.json").read_text())
        jsonschema.validate(data, schema(), cls=jsonschema.Draft202012Validator)


def test_schema_rejects_what_load_rejects() -> None:
    data = make_summary().to_dict()
    data["schema_version"] = 2
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema(), cls=jsonschema.Draft202012Validator)


def test_schema_version_comes_first_in_the_file() -> None:
    assert make_summary().to_json().splitlines()[1].strip().startswith('"schema_version": 1')


def test_partial_summary_needs_a_reason() -> None:
    with pytest.raises(ConfigError, match="partial_reason"):
        make_summary(partial=True)


def test_nan_is_refused_at_write_time() -> None:
    with pytest.raises(ConfigError, match="JSON"):
        make_summary(duration_s=float("nan")).to_json()


def write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "summary.json"
    path.write_text(content)
    return path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read run summary"):
        RunSummary.load(tmp_path / "nope.json")


def test_not_json_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "schema_version": 1,\n  oops\n}')
    with pytest.raises(ConfigError, match=r"summary\.json:3:3: not valid JSON"):
        RunSummary.load(path)


def test_not_an_object(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="JSON object"):
        RunSummary.load(write(tmp_path, "[1, 2]"))


def test_newer_schema_version_says_upgrade(tmp_path: Path) -> None:
    data = make_summary().to_dict() | {"schema_version": 7}
    with pytest.raises(ConfigError, match="unsupported schema_version 7.*upgrade wsbench"):
        RunSummary.load(write(tmp_path, json.dumps(data)))


@pytest.mark.parametrize("version", [None, "1", 0, True])
def test_missing_or_odd_schema_version(tmp_path: Path, version: object) -> None:
    data = make_summary().to_dict() | {"schema_version": version}
    with pytest.raises(ConfigError, match="not a wsbench run summary"):
        RunSummary.load(write(tmp_path, json.dumps(data)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("scenario"), "missing field 'scenario'"),
        (lambda d: d.update(duration_s="long"), "'duration_s' has the wrong type"),
        (lambda d: d.update(exit_status=True), "'exit_status' has the wrong type"),
        (lambda d: d["target"].pop("url"), "target: missing field 'url'"),
        (lambda d: d.update(environment=[]), "field 'environment' has the wrong type"),
    ],
)
def test_bad_fields_are_named(tmp_path: Path, change: object, message: str) -> None:
    data = make_summary().to_dict()
    change(data)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=message):
        RunSummary.load(write(tmp_path, json.dumps(data)))
