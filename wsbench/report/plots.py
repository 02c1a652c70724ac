"""The report's plots: a run summary in, matplotlib Figures out.

Theory of operation
-------------------
Each ``plot_*`` function takes a :class:`~wsbench.metrics.RunSummary` and returns a
``matplotlib.figure.Figure`` (or None when the run has no data for it, e.g. no
reconnections). Functions never show, never save and never touch global pyplot
state: figures are built with ``Figure()`` directly on the Agg canvas, so they
are safe in child processes, tests and servers without a display. matplotlib is
imported inside the functions, so importing this module is cheap and
``wsbench --help`` never loads it.

:func:`render_all` returns ``{file stem: PNG bytes}`` for every plot that has
data; :mod:`wsbench.report.html` embeds them and the runner writes them next to
``summary.json``. Nothing reaches stderr: a legend is drawn only where something has a
label, and any other matplotlib warning (an empty log axis...) is logged at debug level
with the plot's name instead of being printed.

The plots:

* ``latency_over_time`` — per-second p50/p95/p99/max of delivery and ack latency
  (from the intended send time), on a log axis;
* ``latency_distribution`` — the HDR percentile spectrum of every latency
  histogram (x = 1/(1-q), so p99, p99.9 and p99.99 are evenly spaced);
* ``fanout`` — left, by audience size, percentiles over emits (HDR histograms) of the
  time to each emit's first, median and last recipient (p50; last also p99, max); right, completion curves: the fraction of emits
  whose last recipient had them by time t, one curve per audience class;
* ``connections_throughput`` — connected sockets, and emits, deliveries and
  acks per second;
* ``reconnection`` — distribution of time to reconnect, and the
  thundering-herd shape: reconnections per second over the run;
* ``generator`` — the driver's event-loop lag (p99 per second) and CPU percent
  of the driver and of the embedded server, to show who was the bottleneck;
* ``cross_node`` — a cluster run only (``sections.delivery.cross_node`` with 2+ nodes):
  left, the latency CDFs of copies to recipients on the sender's node and on another node
  (histograms ``delivery.same_node`` / ``delivery.other_node``; the gap is the adapter's
  lag); right, their per-second p50 and p99 over the run.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import TYPE_CHECKING, Any

from wsbench.metrics import RunSummary
from wsbench.report.data import (
    LATENCY_NAMES,
    cdf,
    counter_series,
    fanout_classes,
    fanout_rows,
    gauge_series,
    histogram,
    latency_series,
    percentile_spectrum,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "PLOTS",
    "plot_latency_over_time",
    "plot_latency_distribution",
    "plot_fanout",
    "plot_connections_throughput",
    "plot_reconnection",
    "plot_generator",
    "plot_cross_node",
    "render_all",
    "to_png",
]

_log = logging.getLogger(__name__)

_COLORS = {"p50": "#1f77b4", "p95": "#ff7f0e", "p99": "#d62728", "max": "#7f7f7f"}


def _figure(ncols: int = 1, title: str = "", width: float = 9.0) -> tuple[Figure, list]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width if ncols == 1 else width * 1.5, 4.2), dpi=100, layout="constrained")
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    if title:
        fig.suptitle(title, fontsize=11)
    for ax in axes:
        ax.grid(True, which="major", alpha=0.3)
    return fig, axes


def _plain_log(ax, axis: str = "y") -> None:
    """Log axis labelled 0.5, 2, 10, 300 instead of 5x10^-1."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


def _subtitle(summary: RunSummary) -> str:
    partial = "  [PARTIAL: " + (summary.partial_reason or "") + "]" if summary.partial else ""
    return f"{summary.scenario}  {summary.started_at}{partial}"


def _points(t: tuple[float, ...], v: tuple[float | None, ...]) -> tuple[list[float], list[float]]:
    pairs = [(x, y) for x, y in zip(t, v, strict=True) if y is not None]
    return [p[0] for p in pairs], [float(p[1]) for p in pairs]


def _legend(ax: Any, **kwargs: Any) -> None:
    """A legend when something on ``ax`` has a label (else matplotlib warns "No artists with
    labels found to put in legend" on stderr, e.g. a run without connect errors)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


def plot_latency_over_time(summary: RunSummary) -> Figure | None:
    """Per-second latency percentiles of ``delivery`` and ``ack``."""
    names = [n for n in ("delivery", "ack") if latency_series(summary, n, "count")]
    if not names:
        return None
    fig, axes = _figure(len(names), "Latency over time — " + _subtitle(summary))
    for ax, name in zip(axes, names, strict=True):
        for stat in ("p50", "p95", "p99", "max"):
            s = latency_series(summary, name, f"{stat}_ms")
            xs, ys = _points(s.t, s.values)
            if xs:
                ax.plot(
                    xs,
                    ys,
                    label=stat,
                    color=_COLORS[stat],
                    lw=1.2 if stat != "max" else 0.8,
                    ls="-" if stat != "max" else ":",
                )
        ax.set_yscale("log")
        _plain_log(ax)
        ax.set_xlabel("time since start (s)")
        ax.set_ylabel("latency (ms, log)")
        ax.set_title(LATENCY_NAMES[name], fontsize=10)
        _legend(ax, fontsize=8, loc="upper left")
    return fig


def plot_latency_distribution(summary: RunSummary) -> Figure | None:
    """HDR percentile spectrum of every latency histogram with data."""
    hists = [(n, histogram(summary, n)) for n in LATENCY_NAMES]
    hists = [(n, h) for n, h in hists if h is not None]
    if not hists:
        return None
    from matplotlib.ticker import FixedFormatter, FixedLocator

    fig, (ax,) = _figure(1, "Latency distribution — " + _subtitle(summary))
    for name, hist in hists:
        xs, ys = percentile_spectrum(hist)
        ax.plot(xs, ys, marker=".", ms=4, lw=1.2, label=f"{name} (n={hist.count:,})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log(ax)
    ticks = [1, 2, 10, 100, 1000, 10000, 100000]
    labels = ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter(labels))
    ax.xaxis.set_minor_locator(FixedLocator([]))
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms, log)")
    _legend(ax, fontsize=8, loc="upper left")
    return fig


def plot_fanout(summary: RunSummary) -> Figure | None:
    """Time to first/median/last recipient by audience size, and completion curves."""
    classes = fanout_classes(summary)
    rows = fanout_rows(summary)
    if not classes and not rows:
        return None
    fig, (left, right) = _figure(2, "Fan-out — " + _subtitle(summary))
    if rows:
        xs = list(range(len(rows)))
        for col, marker, style in (
            ("first p50", "v", "-"),
            ("median p50", "o", "-"),
            ("last p50", "^", "-"),
            ("last p99", "^", "--"),
            ("last max", "x", ":"),
        ):
            points = [(x, r[col]) for x, r in zip(xs, rows, strict=True) if r[col] is not None]
            if points:
                left.plot(*zip(*points, strict=True), marker=marker, lw=1, label=col, ls=style)
        left.set_xticks(
            xs,
            [
                f"{r['audience']}\n({r['emits']:,} emits,\n{100 * r['completion']:.2f}% done)"
                for r in rows
            ],
            fontsize=7,
        )
        left.set_yscale("log")
        _plain_log(left)
    left.set_xlabel("audience size (recipients per emit)")
    left.set_ylabel("time from intended send (ms, log)")
    left.set_title("percentiles over emits: first / median / last recipient", fontsize=10)
    _legend(left, fontsize=8)
    for label in classes:
        hist = histogram(summary, f"fanout.last.{label}")
        if hist is None:
            continue
        xs, ys = cdf(hist)
        right.plot(xs, ys, lw=1.3, label=f"audience {label} (n={hist.count:,})")
    right.set_xscale("log")
    _plain_log(right, "x")
    right.set_ylim(0, 1.02)
    right.set_xlabel("time since intended send (ms, log)")
    right.set_ylabel("fraction of emits complete")
    right.set_title("completion curves (last recipient reached)", fontsize=10)
    _legend(right, fontsize=8, loc="lower right")
    return fig


def plot_connections_throughput(summary: RunSummary) -> Figure | None:
    """Connected sockets over time, and message rates per second."""
    conns = gauge_series(summary, "connections")
    rates = {
        n: counter_series(summary, n) for n in ("emits", "deliveries", "acks", "connect_errors")
    }
    if not conns and not any(rates.values()):
        return None
    fig, (left, right) = _figure(2, "Connections and throughput — " + _subtitle(summary))
    if conns:
        left.plot(conns.t, conns.values, color="#2ca02c", lw=1.4, label="connected sockets")
        left.fill_between(conns.t, conns.values, alpha=0.15, color="#2ca02c")
    errors = rates.pop("connect_errors")
    if errors and any(errors.values):
        left.bar(errors.t, errors.values, color="#d62728", width=0.9, label="connect errors / s")
    left.set_xlabel("time since start (s)")
    left.set_ylabel("sockets")
    left.set_title("connections", fontsize=10)
    _legend(left, fontsize=8, loc="upper left")
    for name, s in rates.items():
        if s:
            right.plot(s.t, s.values, lw=1.2, label=f"{name} / s")
    right.set_xlabel("time since start (s)")
    right.set_ylabel("per second")
    right.set_title("throughput", fontsize=10)
    _legend(right, fontsize=8, loc="upper left")
    return fig


def plot_reconnection(summary: RunSummary) -> Figure | None:
    """Time-to-reconnect distribution and reconnections per second (herd shape)."""
    hist = histogram(summary, "reconnect")
    per_s = counter_series(summary, "reconnects")
    herd = summary.sections.reconnection.herd if summary.sections.reconnection else None
    if hist is None and not any(per_s.values):
        return None
    fig, (left, right) = _figure(2, "Reconnection — " + _subtitle(summary))
    if hist is not None:
        xs, ys = cdf(hist)
        left.plot(xs, ys, lw=1.4, color="#9467bd")
        p = hist.percentiles()
        left.set_title(
            f"time to reconnect: n={hist.count:,} p50={p['p50'] / 1000:.0f} ms "
            f"p99={p['p99'] / 1000:.0f} ms",
            fontsize=10,
        )
    left.set_xlabel("time from drop to connected again (ms)")
    left.set_ylabel("fraction of reconnections")
    left.set_ylim(0, 1.02)
    if herd:
        right.bar(
            [t / 1000 for t in herd.t_ms],
            herd.count,
            width=herd.bin_ms / 1000,
            align="edge",
            color="#8c564b",
        )
        right.set_xlabel("time since the server came back (s)")
        right.set_title("thundering herd: reconnections per bin after restart", fontsize=10)
    else:
        right.bar(per_s.t, per_s.values, width=0.9, color="#8c564b")
        right.set_xlabel("time since start (s)")
        right.set_title("reconnections per second", fontsize=10)
    right.set_ylabel("reconnections")
    return fig


def plot_generator(summary: RunSummary) -> Figure | None:
    """Driver event-loop lag and CPU of driver and server: who was the bottleneck."""
    lag = latency_series(summary, "loop_lag", "p99_ms")
    cpu = gauge_series(summary, "process.cpu_percent")
    server = gauge_series(summary, "server.cpu_percent")
    if not lag and not cpu:
        return None
    fig, (left, right) = _figure(2, "Load generator health — " + _subtitle(summary))
    xs, ys = _points(lag.t, lag.values)
    left.plot(xs, ys, color="#d62728", lw=1.2, label="loop lag p99")
    mx = latency_series(summary, "loop_lag", "max_ms")
    xs, ys = _points(mx.t, mx.values)
    left.plot(xs, ys, color="#7f7f7f", lw=0.8, ls=":", label="loop lag max")
    left.set_xlabel("time since start (s)")
    left.set_ylabel("ms")
    left.set_title("driver event-loop lag", fontsize=10)
    _legend(left, fontsize=8)
    if cpu:
        right.plot(cpu.t, cpu.values, lw=1.2, label="driver CPU %")
    if server:
        right.plot(server.t, server.values, lw=1.2, label="embedded server CPU %")
    right.axhline(100, color="#d62728", lw=0.8, ls="--", alpha=0.6)
    right.set_xlabel("time since start (s)")
    right.set_ylabel("CPU % (100 = one core)")
    right.set_title("CPU", fontsize=10)
    _legend(right, fontsize=8)
    return fig


_NODE_CURVES = (("delivery.same_node", "same node", "#1f77b4"),
                ("delivery.other_node", "other node (via the adapter)", "#d62728"))


def plot_cross_node(summary: RunSummary) -> Figure | None:
    """Same-node vs other-node delivery latency of a cluster run (None on one server)."""
    dl = summary.sections.delivery
    if dl is None or "cross_node" in dl.absent or dl.cross_node.nodes < 2:
        return None
    hists = [(name, label, color, histogram(summary, name)) for name, label, color in _NODE_CURVES]
    hists = [h for h in hists if h[3] is not None]
    if not hists:
        return None
    x = dl.cross_node
    fig, (left, right) = _figure(
        2, f"Cluster: delivery latency by recipient, {x.nodes} nodes — " + _subtitle(summary))
    for _name, label, color, hist in hists:
        xs, ys = cdf(hist)
        left.plot(xs, ys, lw=1.4, color=color, label=f"{label} (n={hist.count:,})")
    left.set_xscale("log")
    _plain_log(left, "x")
    left.set_ylim(0, 1.02)
    left.set_xlabel("time since intended send (ms, log)")
    left.set_ylabel("fraction of copies")
    left.set_title(f"adapter lag: p50 {x.adapter_lag_p50_ms:+.2f} ms, "
                   f"p99 {x.adapter_lag_p99_ms:+.2f} ms", fontsize=10)
    _legend(left, fontsize=8, loc="lower right")
    for name, label, color, _hist in hists:
        for stat, style in (("p50", "-"), ("p99", "--")):
            s = latency_series(summary, name, f"{stat}_ms")
            xs, ys = _points(s.t, s.values)
            if xs:
                right.plot(xs, ys, color=color, lw=1.2, ls=style, label=f"{label} {stat}")
    right.set_yscale("log")
    _plain_log(right)
    right.set_xlabel("time since start (s)")
    right.set_ylabel("latency (ms, log)")
    right.set_title("per second", fontsize=10)
    _legend(right, fontsize=8, loc="upper left")
    return fig


PLOTS = {
    "latency_over_time": plot_latency_over_time,
    "latency_distribution": plot_latency_distribution,
    "fanout": plot_fanout,
    "connections_throughput": plot_connections_throughput,
    "reconnection": plot_reconnection,
    "generator": plot_generator,
    "cross_node": plot_cross_node,
}
"""Every plot, by file stem, in report order."""


def to_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes with the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def render_all(summary: RunSummary) -> dict[str, bytes]:
    """``{stem: PNG bytes}`` for every plot that has data, in report order."""
    out: dict[str, bytes] = {}
    for stem, make in PLOTS.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig = make(summary)
            if fig is not None:
                out[stem] = to_png(fig)
        for w in caught:
            _log.debug("plot %s: %s", stem, w.message)
    return out
