"""Reports rendered from saved run summaries only: plots, HTML, JUnit, console, comparison.

Nothing here imports the client, the protocol, the oracle or the scenario runner (an
import-linter contract enforces it): every output is a pure function of a
``summary.json`` artifact, so ``wsbench report`` can re-render any past run.
:func:`write_report` is what the runner and ``wsbench report`` call.
"""

from __future__ import annotations

import os
from pathlib import Path

from wsbench.metrics import RunSummary

__all__ = ["write_report"]


def write_report(summary: RunSummary, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write every PNG plot, ``report.html`` and ``junit.xml`` into ``out_dir``.

    Returns the written paths by name. ``summary.json`` itself is written by the caller.
    """
    from wsbench.report.html import write_html
    from wsbench.report.junit import write_junit
    from wsbench.report.plots import render_all

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    pngs = render_all(summary)
    for stem, png in pngs.items():
        path = out / f"{stem}.png"
        path.write_bytes(png)
        written[stem] = path
    write_html(summary, str(out / "report.html"), pngs)
    written["html"] = out / "report.html"
    write_junit(summary, str(out / "junit.xml"))
    written["junit"] = out / "junit.xml"
    return written
