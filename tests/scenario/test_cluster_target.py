"""``target:`` as a list of node URLs or ``{embedded: {nodes: N}}``; clients spread over nodes."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from wsbench.exceptions import ScenarioError
from wsbench.scenario import loads_scenario, schema_path
from wsbench.scenario.model import Transport

BODY = "groups:\n  - flow:\n      - connect: /\n"


def load(target: str):  # noqa: ANN201
    return loads_scenario(f"target: {target}\nclients: 5\n{BODY}", "s.yaml")


def test_a_list_of_node_urls_spreads_clients_round_robin() -> None:
    s = load("[http://127.0.0.1:3001/, http://127.0.0.1:3002]")
    assert s.target == "http://127.0.0.1:3001" or s.target.startswith("http://127.0.0.1:3001")
    assert s.nodes == ("http://127.0.0.1:3001", "http://127.0.0.1:3002") and s.cluster == 0
    assert [s.url_for(c, "x") for c in range(3)] == [
        "http://127.0.0.1:3001", "http://127.0.0.1:3002", "http://127.0.0.1:3001"]
    assert [s.node_of(c) for c in range(3)] == [0, 1, 0]


def test_polling_goes_through_the_balancer_when_there_is_one() -> None:
    s = load("{embedded: {nodes: 3}}")
    assert (s.target, s.cluster, s.embedded) == ("embedded", 3, True)
    up = s.replace(nodes=("http://n0", "http://n1", "http://n2"), balancer="http://lb")
    assert up.url_for(4, "http://lb") == "http://n1"  # websocket: the node itself
    polling = up.replace(transport=Transport.POLLING)
    assert polling.url_for(4, "http://lb") == "http://lb" and polling.node_of(4) is None
    assert load("embedded").url_for(2, "http://one") == "http://one"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("[]", "at least one node URL"),
        ("[http://a:1, http://a:1]", "listed twice"),
        ("[embedded]", "{embedded: {nodes: N}}"),
        ("[ftp://a]", "expected 'embedded' or a URL"),
        ("{embedded: {nodes: 0}}", "integer >= 1"),
        ("{embedded: {nodes: 99}}", "at most 16"),
        ("{embedded: {}}", "nodes"),
        ("{embedded: {nodes: 3, kind: java}}", "python, node, mixed"),
        ("{cluster: 3}", "cluster"),
    ],
)
def test_bad_targets_are_named_with_their_line(target: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load(target)
    text = str(info.value)
    assert message in text and "s.yaml:1" in text, text


def test_the_schema_accepts_the_cluster_forms() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(schema_path().read_text()))
    for target in ("[http://a:1, http://b:2]", "{embedded: {nodes: 3}}"):
        doc = yaml.safe_load(f"target: {target}\n{BODY}")
        assert [e.message for e in validator.iter_errors(doc)] == [], target
    bad = yaml.safe_load("target: {embedded: {nodes: 0}}\n" + BODY)
    assert list(validator.iter_errors(bad))
    for kind in ("python", "node", "mixed"):
        doc = yaml.safe_load(f"target: {{embedded: {{nodes: 3, kind: {kind}}}}}\n{BODY}")
        assert [e.message for e in validator.iter_errors(doc)] == [], kind
    assert list(validator.iter_errors(yaml.safe_load(
        "target: {embedded: {nodes: 3, kind: java}}\n" + BODY)))


@pytest.mark.parametrize("kind", ["python", "node", "mixed"])
def test_an_embedded_cluster_names_its_node_kind(kind: str) -> None:
    s = load(f"{{embedded: {{nodes: 3, kind: {kind}}}}}")
    assert (s.cluster, s.cluster_kind) == (3, kind)
    assert load("{embedded: {nodes: 2}}").cluster_kind == "python"


def test_the_cluster_spec_follows_the_kind_and_keeps_faults_on_python_nodes() -> None:
    from wsbench.launch.cluster import spec_for

    spec = spec_for(3, "mixed", ["--ping-interval", "300", "--fault", "adapter-drop-remote"])
    assert spec.nodes == ("python", "node", "python")
    assert spec.args == ("--ping-interval", "300")
    assert spec.python_args == ("--fault", "adapter-drop-remote")
    assert spec_for(2, "node", []).nodes == ("node", "node")


def test_faults_on_a_cluster_of_node_twins_only_are_refused() -> None:
    text = ("target: {embedded: {nodes: 2, kind: node}}\nserver: {faults: [adapter-drop-remote]}\n"
            f"clients: 5\n{BODY}")
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, "s.yaml")
    assert "Python reference nodes only" in str(info.value) and "s.yaml:2" in str(info.value)
