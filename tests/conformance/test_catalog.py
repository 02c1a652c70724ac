"""The catalog itself: ids, official coverage, fault coverage, and the generated docs."""

from __future__ import annotations

import re

from wsbench.conformance import docs
from wsbench.conformance.model import Tier
from wsbench.conformance.registry import (
    ADAPTER_FAULTS,
    FAULTS,
    catalog,
    fault_index,
    official_index,
    select,
)

PREFIX = {
    Tier.ENGINEIO: "eio.",
    Tier.SOCKETIO: "sio.",
    Tier.CONTRACT: "contract.",
    Tier.SECURITY: "security.",
    Tier.LOAD: "load.",
    Tier.CLUSTER: "cluster.",
}


def test_ids_are_dotted_unique_and_prefixed_by_tier() -> None:
    checks = catalog()
    ids = [c.spec.id for c in checks]
    assert len(ids) == len(set(ids))
    for c in checks:
        assert re.fullmatch(r"[a-z]+(\.[a-z0-9-]+){2,3}", c.spec.id), c.spec.id
        assert c.spec.id.startswith(PREFIX[c.spec.tier]), c.spec.id
        assert c.spec.title and c.spec.spec, c.spec.id


def test_every_official_case_is_carried_under_its_official_name() -> None:
    index = official_index()
    labels = [f"E{i}" for i in range(1, 26)] + [f"S{i}" for i in range(1, 33)]
    assert [label for label in labels if label not in index] == []
    distinct = {ids[0] for ids in index.values()}
    assert len(distinct) == 41  # 25 Engine.IO + 16 Socket.IO-level (research §1.1)
    for c in catalog():
        if c.spec.official:
            assert c.spec.official_name, c.spec.id


def test_every_fault_is_caught_by_some_check() -> None:
    assert all(fault_index()[f] for f in FAULTS)
    # the Redis adapter's faults by the cluster tier (tests/cluster/test_cluster_tier.py)
    assert all(fault_index()[f] for f in ADAPTER_FAULTS)
    assert {c.spec.tier for f in ADAPTER_FAULTS for c in catalog()
            if c.spec.id in fault_index()[f]} == {Tier.CLUSTER}  # fmt: skip


def test_the_cluster_tier_runs_only_when_asked_for() -> None:
    assert Tier.CLUSTER not in {c.spec.tier for c in select()}
    assert {c.spec.tier for c in select(["cluster"])} == {Tier.CLUSTER}


def test_selection_by_tier_glob_and_official_label() -> None:
    assert {c.spec.tier for c in select(["load"])} == {Tier.LOAD}
    assert [c.spec.id for c in select(cases=["S27"])] == ["sio.message.binary-event"]
    assert all(c.spec.id.startswith("sio.parser.") for c in select(cases=["sio.parser.*"]))
    assert not [c for c in select(exclude=["eio.*"]) if c.spec.id.startswith("eio.")]


def test_docs_conformance_md_is_generated_from_the_registry() -> None:
    assert docs.DOC_PATH.read_text(encoding="utf-8") == docs.render(), (
        "docs/conformance.md is stale: run python -m wsbench.conformance.docs"
    )


def test_the_gate_knows_every_fault_of_the_reference_server() -> None:
    # The gate may not import the server (independence), so the list is written twice; keep them equal.
    from reference_server.config import FAULTS as SERVER_FAULTS

    assert tuple(FAULTS) == tuple(SERVER_FAULTS)
    from reference_server.config import ADAPTER_FAULTS as SERVER_ADAPTER_FAULTS

    assert tuple(ADAPTER_FAULTS) == tuple(SERVER_ADAPTER_FAULTS)


def test_the_fault_table_lists_the_adapter_faults_with_their_catching_checks() -> None:
    from wsbench.conformance.registry import ADAPTER_FAULTS, fault_index

    text = docs.render()
    table = text[text.index("### Redis adapter faults"):]
    assert set(docs.ADAPTER_FAULT_EFFECTS) == set(ADAPTER_FAULTS)
    for fault in ADAPTER_FAULTS:
        row = next(line for line in table.splitlines() if line.startswith(f"| `{fault}` |"))
        assert fault_index()[fault], f"no check catches {fault}"
        assert all(f"`{cid}`" in row for cid in fault_index()[fault]), row
