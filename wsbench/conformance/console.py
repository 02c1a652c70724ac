"""Console output for ``wsbench conform``: one live line per finished check, then a summary.

Lines are printed as results arrive (``OK      eio.handshake.polling.opens-session  3 ms``)
so a slow target shows progress; the summary is one table row per target with the count
of each verdict, followed by every FAILED check and its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

import click

from wsbench.conformance.model import CheckResult, Verdict
from wsbench.conformance.registry import Check
from wsbench.conformance.runner import TargetReport

__all__ = ["LiveConsole", "summary"]

_COLORS = {
    Verdict.OK: "green",
    Verdict.NON_STRICT: "yellow",
    Verdict.INFORMATIONAL: "cyan",
    Verdict.UNIMPLEMENTED: "bright_black",
    Verdict.FAILED: "red",
    Verdict.MISSING: "bright_black",
}
_ORDER = (
    Verdict.OK,
    Verdict.NON_STRICT,
    Verdict.INFORMATIONAL,
    Verdict.UNIMPLEMENTED,
    Verdict.FAILED,
)


class LiveConsole:
    """A result hook for the runner that prints one line per check."""

    def __init__(
        self, total: int, targets: int, out: TextIO | None = None, color: bool | None = None
    ) -> None:
        self.total = total * targets
        self.done = 0
        self.targets = targets
        self.out = out
        self.color = color

    def __call__(self, target: str, chk: Check, result: CheckResult) -> None:
        self.done += 1
        verdict = click.style(f"{result.verdict:<13}", fg=_COLORS[result.verdict])
        prefix = f"[{self.done:>3}/{self.total}] "
        who = f"{target}  " if self.targets > 1 else ""
        line = f"{prefix}{verdict} {who}{chk.spec.id}  ({result.duration_ms:.0f} ms)"
        if result.verdict is not Verdict.OK:
            line += f"  {result.reason}"
        click.echo(line, file=self.out, color=self.color)


def summary(
    reports: Sequence[TargetReport], out: TextIO | None = None, color: bool | None = None
) -> None:
    width = max([len("target")] + [len(r.name) for r in reports])
    header = f"{'target':<{width}}  " + "  ".join(f"{v:>13}" for v in _ORDER)
    click.echo("", file=out)
    click.echo(header, file=out)
    for r in reports:
        counts = r.counts()
        cells = "  ".join(
            click.style(
                f"{counts.get(str(v), 0):>13}", fg=_COLORS[v] if counts.get(str(v)) else None
            )
            for v in _ORDER
        )
        click.echo(f"{r.name:<{width}}  {cells}", file=out, color=color)
    for r in reports:
        for cid, res in r.results.items():
            if res.verdict is Verdict.FAILED:
                click.echo(
                    click.style("FAILED", fg="red") + f" {r.name} {cid}: {res.reason}",
                    file=out,
                    color=color,
                )
