"""The HTML report, rendered from the JSON index only (Autobahn's report shape).

``index.html`` is a matrix: one row per check grouped by area, two cells per target
(verdict and close verdict, with the close code and time to close), each verdict cell
linking to the case page ``<target>/<case>.html``: title, spec, official case, the reason,
measured details and the full wire transcript. Several targets side by side show where
implementations differ at a glance.
"""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path
from typing import Any

__all__ = ["write_html"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eee}.area td{background:#f6f6f6;font-weight:bold}
.OK{background:#9f9}.NON-STRICT{background:#ff9}.INFORMATIONAL{background:#9df}
.UNIMPLEMENTED{background:#ddd}.FAILED{background:#f88}.MISSING{background:#fff;color:#999}
.NOT.CLOSED,.WRONG.CODE{background:#fc9}a{color:inherit}
pre{background:#fafafa;border:1px solid #ddd;padding:8px;font-size:12px;overflow-x:auto}
small{color:#666}
"""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def _case_page(target: str, case: str, meta: dict[str, Any], res: dict[str, Any]) -> str:
    official = ", ".join(meta.get("official", []))
    rows = [
        ("check", f"<code>{escape(case)}</code>"),
        ("title", escape(meta.get("title", ""))),
        ("tier", escape(meta.get("tier", ""))),
        ("spec", escape(meta.get("spec", ""))),
        ("official case", escape(f"{official} {meta.get('official_name', '')}".strip()) or "-"),
        ("notes", escape(meta.get("notes", "")) or "-"),
        ("target", escape(target)),
        ("verdict", f"<span class='{escape(res['verdict'])}'>{escape(res['verdict'])}</span>"),
        (
            "close",
            escape(
                f"{res['close_verdict']} code={res.get('close_code')} "
                f"time-to-close={res.get('time_to_close_ms')} ms"
            ),
        ),
        ("reason", escape(res.get("reason", ""))),
        ("duration", f"{res.get('duration', 0)} ms"),
        (
            "details",
            f"<code>{escape(json.dumps(res.get('details', {}), ensure_ascii=False))}</code>",
        ),
    ]
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    transcript = escape("\n".join(res.get("transcript", [])))
    legend = "<small>&gt; sent, &lt; received, % automatic pong, = state, x close, ! error, - timeout, # note</small>"
    return _page(
        f"{case} - {target}",
        f"<p><a href='../index.html'>&larr; matrix</a></p><h2>{escape(case)}</h2>"
        f"<table>{table}</table><h3>Wire transcript</h3>{legend}<pre>{transcript}</pre>",
    )


def write_html(folder: Path, index: dict[str, Any]) -> Path:
    """Write ``index.html`` and one page per (target, case); returns the index path."""
    folder.mkdir(parents=True, exist_ok=True)
    catalog: dict[str, Any] = index["catalog"]
    results: dict[str, dict[str, Any]] = index["results"]
    targets = list(results)
    head = (
        "<tr><th>check</th><th>official</th>"
        + "".join(
            f"<th colspan='2'>{escape(t)}<br><small>{escape(index['targets'][t]['url'])}</small></th>"
            for t in targets
        )
        + "</tr>"
    )
    body_rows = []
    by_area: dict[str, list[str]] = {}  # catalog order, each area's checks together
    for case in catalog:
        by_area.setdefault(case.rsplit(".", 1)[0], []).append(case)
    ordered = [(area, case) for area, cases in by_area.items() for case in cases]
    area = None
    for this_area, case in ordered:
        meta = catalog[case]
        if this_area != area:
            area = this_area
            body_rows.append(
                f"<tr class='area'><td colspan='{2 + 2 * len(targets)}'>{escape(area)}</td></tr>"
            )
        cells = []
        for t in targets:
            res = results[t].get(case)
            if res is None:
                cells.append("<td class='MISSING'>MISSING</td><td></td>")
                continue
            href = f"{_slug(t)}/{_slug(case)}.html"
            (folder / _slug(t)).mkdir(exist_ok=True)
            (folder / href).write_text(_case_page(t, case, meta, res), encoding="utf-8")
            close = res["close_verdict"]
            code = f" {res['close_code']}" if res.get("close_code") is not None else ""
            ttc = (
                f"<br><small>{res['time_to_close_ms']} ms</small>"
                if res.get("time_to_close_ms") is not None
                else ""
            )
            why = (  # the matrix says why a check did not run, not only on hover
                f"<br><small>{escape(res.get('reason', ''))}</small>"
                if res["verdict"] == "UNIMPLEMENTED" else ""
            )
            cells.append(
                f"<td class='{escape(res['verdict'])}' title='{escape(res.get('reason', ''))}'>"
                f"<a href='{escape(href)}'>{escape(res['verdict'])}</a>{why}</td>"
                f"<td class='{escape(close)}'>{escape(close)}{escape(code)}{ttc}</td>"
            )
        official = escape(", ".join(meta.get("official", [])))
        body_rows.append(
            f"<tr><td><code>{escape(case)}</code><br><small>{escape(meta['title'])}</small></td>"
            f"<td>{official}</td>{''.join(cells)}</tr>"
        )
    counts = "".join(
        f"<li>{escape(t)}: "
        + ", ".join(f"{k} {v}" for k, v in index["targets"][t]["counts"].items())
        + "</li>"
        for t in targets
    )
    html = _page(
        "wsbench conform",
        f"<h1>wsbench conform</h1><ul>{counts}</ul><table>{head}{''.join(body_rows)}</table>",
    )
    out = folder / "index.html"
    out.write_text(html, encoding="utf-8")
    return out
