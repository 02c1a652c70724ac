"""Thresholds as JUnit XML, so CI systems show each one as a test case.

Theory of operation
-------------------
One ``<testsuite name="wsbench.<scenario>">`` with one ``<testcase>`` per threshold
of the summary's ``thresholds`` section (``classname`` ``thresholds``), failed ones
carrying a ``<failure>`` whose message names the limit and the measured value.
Each violation kind the oracle counted is one more failed test case
(``classname`` ``violations``) so a CI page shows *what* broke even when no
threshold bounds it; a partial run adds a failed ``run.complete`` case that says
why it stopped. Built with :mod:`xml.etree.ElementTree`, so every value is escaped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from wsbench.metrics import Delivery, RunSummary
from wsbench.metrics.sections import encode
from wsbench.report.console import fmt_actual

__all__ = ["render_junit", "write_junit"]


def _case(
    suite: ET.Element, classname: str, name: str, failure: str | None, text: str = ""
) -> None:
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")
    if failure is not None:
        node = ET.SubElement(case, "failure", message=failure, type="threshold")
        node.text = text or failure


def render_junit(summary: RunSummary) -> str:
    """The JUnit XML document as a string."""
    suites = ET.Element("testsuites")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"wsbench.{summary.scenario}",
        timestamp=summary.started_at,
        time=f"{summary.duration_s:.3f}",
    )
    for t in summary.sections.thresholds or ():
        failure = None
        if not t.passed:
            failure = f"{t.name}: {fmt_actual(t)} breaks {t.limit}"
        _case(suite, "thresholds", t.name, failure, t.detail or failure or "")
    vio = (summary.sections.delivery or Delivery()).violations
    for kind, n in vio.counts.items():
        sample = next((s for s in vio.samples if s.kind == kind), None)
        ev = encode(sample) if sample is not None else {}
        detail = ", ".join(
            f"{k}={v}" for k, v in ev.items() if v not in (None, "") and k != "at_ns"
        )
        _case(suite, "violations", kind, f"{n} {kind} violation(s)", detail)
    _case(
        suite,
        "run",
        "complete",
        f"partial run: {summary.partial_reason}" if summary.partial else None,
    )
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", "0")
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def write_junit(summary: RunSummary, path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(render_junit(summary))
