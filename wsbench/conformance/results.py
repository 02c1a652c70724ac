"""Writers for conformance results: the JSON index (Autobahn's ``index.json``) and JUnit XML.

JSON index::

    {"wsbench": {...run info...},
     "catalog": {case: {title, tier, spec, official, ...}},
     "targets": {target: {"url":..., "limits":..., "counts":...}},
     "results": {target: {case: {verdict, close_verdict, duration, reason, transcript, ...}}}}

so ``index["results"][target][case]["verdict"]`` is Autobahn's
``index[agent][case]["behavior"]``, and two targets' columns can be diffed directly.
JUnit XML has one ``<testsuite>`` per target and tier; FAILED is a ``<failure>``,
UNIMPLEMENTED is ``<skipped>``, NON-STRICT and INFORMATIONAL pass with their reason in
``<system-out>`` (they are conformant).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from wsbench import __version__
from wsbench.conformance.model import TIER_ORDER, Verdict
from wsbench.conformance.registry import Check, describe
from wsbench.conformance.runner import TargetReport

__all__ = ["to_index", "write_json", "write_junit", "differences"]


def to_index(reports: Sequence[TargetReport], checks: Sequence[Check]) -> dict[str, Any]:
    return {
        "wsbench": {
            "version": __version__,
            "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        "catalog": {c.spec.id: describe(c) for c in checks},
        "targets": {
            r.name: {
                "url": r.url,
                "limits": None
                if r.limits is None
                else {
                    "pingInterval": r.limits.ping_interval,
                    "pingTimeout": r.limits.ping_timeout,
                    "maxPayload": r.limits.max_payload,
                },
                "counts": r.counts(),
            }
            for r in reports
        },
        "results": {
            r.name: {cid: res.to_json() for cid, res in r.results.items()} for r in reports
        },
    }


def differences(index: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Cases whose verdict differs between targets: ``{case: {target: verdict}}``."""
    results = index["results"]
    cases = {c for per in results.values() for c in per}
    out = {}
    for case in sorted(cases):
        verdicts = {
            t: per.get(case, {}).get("verdict", str(Verdict.MISSING)) for t, per in results.items()
        }
        if len(set(verdicts.values())) > 1:
            out[case] = verdicts
    return out


def write_json(
    path: Path, reports: Sequence[TargetReport], checks: Sequence[Check]
) -> dict[str, Any]:
    index = to_index(reports, checks)
    if len(reports) > 1:
        index["differences"] = differences(index)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return index


def write_junit(path: Path, reports: Sequence[TargetReport], checks: Sequence[Check]) -> None:
    root = ET.Element("testsuites", name="wsbench conform")
    by_id = {c.spec.id: c for c in checks}
    for report in reports:
        for tier in TIER_ORDER:
            cases = [(cid, r) for cid, r in report.results.items() if by_id[cid].spec.tier is tier]
            if not cases:
                continue
            suite = ET.SubElement(root, "testsuite", name=f"{report.name} {tier}")
            failures = skipped = 0
            total_ms = 0.0
            for cid, res in cases:
                spec = by_id[cid].spec
                case = ET.SubElement(
                    suite,
                    "testcase",
                    classname=f"{report.name}.{spec.area}",
                    name=f"{cid}: {spec.title}",
                    time=f"{res.duration_ms / 1000:.3f}",
                )
                total_ms += res.duration_ms
                if res.verdict is Verdict.FAILED:
                    failures += 1
                    node = ET.SubElement(case, "failure", message=res.reason, type="FAILED")
                    node.text = "\n".join(res.transcript)
                elif res.verdict is Verdict.UNIMPLEMENTED:
                    skipped += 1
                    ET.SubElement(case, "skipped", message=res.reason)
                out = ET.SubElement(case, "system-out")
                out.text = f"{res.verdict}: {res.reason}" + (
                    f"\nspec: {spec.spec}" if spec.spec else ""
                )
            suite.set("tests", str(len(cases)))
            suite.set("failures", str(failures))
            suite.set("skipped", str(skipped))
            suite.set("errors", "0")
            suite.set("time", f"{total_ms / 1000:.3f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
