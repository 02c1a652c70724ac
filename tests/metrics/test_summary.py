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


# -- typed sections (issue 10 #4) ----------------------------------------------------------

#: sections exactly as the scenario runner wrote them before they were typed
RUNNER_SECTIONS = {
    "run": {"clients": 12, "transport": "websocket", "seed": 7, "processes": 2,
            "planned_duration_s": 3.0, "groups": {"talkers": 12}, "source": "name: x\n",
            "run_id": "ab12cd34", "oracle_partitioning": "2 processes, ..."},
    "delivery": {
        "emits": 120, "open_emits": 0, "closed_emits": 120, "expected": 1440, "delivered": 1439,
        "missing": 1, "delivery_ratio": 0.9993055555555556,
        "volatile": {"expected": 0, "delivered": 0, "drops": 0, "ratio": 1.0},
        "lost_while_away": 0, "optional_deliveries": 2,
        "latency": {"count": 1439, "min_ms": 0.4, "mean_ms": 1.2, "max_ms": 9.5},
        "acks": {"expected": 120, "ok": 120, "timeouts": 0, "late": 0, "pending": 0,
                 "latency": {"count": 120, "min_ms": 0.3, "mean_ms": 0.9, "max_ms": 4.0}},
        "violations": {"total": 1, "counts": {"missing": 1}, "samples": [
            {"kind": "missing", "stamp": "ab12cd34:3:9", "sender": 3, "receiver": [5, "/"],
             "namespace": "/", "event": "message", "expected": 12, "detail": "", "at_ns": 99}]},
        "fanout": [{"audience": "11-100", "emits": 120, "expected": 1440, "delivered": 1439,
                    "complete_emits": 119, "completion": 0.9993, "mean_first_ms": 0.5,
                    "mean_median_ms": 1.1, "mean_last_ms": 2.0, "max_last_ms": 9.5}],
    },
    "connections": {"attempted": 12, "connected": 12, "peak": 12, "errors": {},
                    "refused_as_expected": 0, "closes": {"io client disconnect": 12},
                    "pending_at_end": 0, "limit": None},
    "reconnection": {"reconnects": 0, "failed": 0, "lost_while_away": 0, "replayed": 0,
                     "server_restarts": 0, "herd": {}},
    "generator": {"processes": 2, "warnings": [], "loop_lag_p99_ms": 1.5,
                  "cpu_percent_mean": 40.0, "cpu_percent_max": 80.5},
    "server": {"embedded": True, "pid": 4242, "stopped": True, "restarts": 0, "banner": "x"},
    "thresholds": [{"name": "delivery_ratio", "limit": ">= 0.999", "actual": 0.9993,
                    "passed": True, "detail": ""},
                   {"name": "violations", "limit": "== 0 (implicit)", "actual": 1,
                    "passed": False, "detail": "missing: 1"}],
    "warnings": [],
    "messages": ["embedded reference server (pid 4242) listening on http://127.0.0.1:1"],
}  # fmt: skip

#: sections as the Locust integration writes them: other keys, fewer keys, other order
LOCUST_SECTIONS = {
    "delivery": {"emits": 5, "expected": 10, "delivered": 10, "missing": 0,
                 "delivery_ratio": 1.0, "volatile": {"expected": 0, "delivered": 0, "drops": 0},
                 "lost_while_away": 0, "optional_deliveries": 0,
                 "violations": {"total": 0, "counts": {}, "samples": []},
                 "fanout": [{"audience": "2-10", "emits": 5, "completion": 1.0,
                             "last_p99_ms": 3.5}]},
    "generator": {"driver": "locust", "processes": 2, "received": 10,
                  "sources": {"w1": {"received": 10}}},
    "run": {"clients": 4, "transport": "websocket", "processes": 2, "seed": 0, "driver": "locust"},
    "thresholds": [{"name": "violations", "limit": "== 0 (implicit)", "actual": 0,
                    "passed": True, "detail": ""}],
    "locust": {"requests": 20, "failures": 0},
}  # fmt: skip


@pytest.mark.parametrize("sections", [RUNNER_SECTIONS, LOCUST_SECTIONS], ids=["runner", "locust"])
def test_typed_sections_round_trip_exactly(sections, tmp_path: Path) -> None:
    """Same keys and values (and, for the runner's, the same order): the meaning does not change."""
    summary = make_summary(sections=sections)
    assert summary.to_dict()["sections"] == sections
    if sections is RUNNER_SECTIONS:  # byte for byte what the runner wrote before
        assert json.dumps(summary.to_dict()["sections"]) == json.dumps(sections)
    path = summary.write(tmp_path / "summary.json")
    loaded = RunSummary.load(path)
    assert loaded == summary and path.read_text() == summary.to_json() + "\n"
    jsonschema.validate(summary.to_dict(), schema())


def test_typed_sections_are_read_as_attributes() -> None:
    from wsbench.metrics import Delivery, Herd, Sections, Threshold, ViolationSample

    s = make_summary(sections=RUNNER_SECTIONS).sections
    assert isinstance(s, Sections) and isinstance(s.delivery, Delivery)
    assert s.delivery.violations.total == 1 and s.delivery.acks.latency.max_ms == 4.0
    assert s.delivery.violations.samples[0] == ViolationSample(
        "missing", "ab12cd34:3:9", 3, [5, "/"], "/", "message", 12, "", 99
    )
    assert s.thresholds is not None and s.thresholds[1] == Threshold(
        "violations", False, "== 0 (implicit)", 1, "missing: 1"
    )
    assert s.reconnection is not None and not s.reconnection.herd  # {}: no restart
    assert s.reconnection.herd.t_ms == () and not Herd() and Herd(100, (0,), (3,))
    assert s.connections is not None and s.connections.closes == {"io client disconnect": 12}
    locust = make_summary(sections=LOCUST_SECTIONS).sections
    assert locust.connections is None and locust.server is None  # absent sections
    assert locust.delivery is not None and locust.delivery.acks.expected == 0  # absent key: default
    assert "acks" in locust.delivery.absent and locust.delivery.fanout[0].extra == {"last_p99_ms": 3.5}
    assert locust.generator is not None and locust.generator.extra["driver"] == "locust"
    assert locust.generator.extra["sources"] == {"w1": {"received": 10}}
    assert locust.extra == {"locust": {"requests": 20, "failures": 0}}


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("delivery", "emits"), "12", "sections.delivery.emits: expected an integer, found str"),
        (("delivery", "emits"), True, "sections.delivery.emits: expected an integer, found bool"),
        (("delivery", "violations", "samples"), {}, "sections.delivery.violations.samples: expected an array, found dict"),
        (("connections", "errors"), {"refused": "2"}, "sections.connections.errors.refused: expected an integer, found str"),
        (("thresholds",), [{"name": "x"}], "sections.thresholds[0]: missing field 'passed'"),
        (("run",), [], "sections.run: expected an object, found list"),
    ],
)  # fmt: skip
def test_a_mistyped_section_field_is_named(path, value, message, tmp_path: Path) -> None:
    data = make_summary(sections=RUNNER_SECTIONS).to_dict()
    node = data["sections"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    target = tmp_path / "summary.json"
    target.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as err:
        RunSummary.load(target)
    assert str(err.value) == f"{target}: {message}"
