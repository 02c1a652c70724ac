"""Merging judges' payloads into one run view: the Fan-out table and the run summary.

Theory of operation
-------------------
An :class:`Aggregate` lives where Locust's totals live: on the master of a
distributed run, or in the single process of a local run. Each
:meth:`~wsbench.integrations.judge.Judge.drain` payload is added with
:meth:`Aggregate.add`: its metrics snapshot is merged into one
:class:`~wsbench.metrics.Metrics` store (histograms exactly, counters by
addition, per-second series second by second) and its violation samples are
kept, a bounded few per kind. Everything the Fan-out tab and ``summary.json``
show is computed from that one store, so a distributed run and a local run are
read by the same code.

Counter names written by the judge: ``deliveries`` (every push received), ``acks``,
``violations``, ``connect_errors``, ``reconnects``, ``recv.unstamped``,
``recv.foreign``, ``emits``, ``oracle.<OracleVerdict field>``,
``violations.<kind>``, ``fanout.{emits,expected,delivered,complete}.<audience>``,
``process.cpu_ns``. Histograms: ``delivery``, ``ack``, ``connect``,
``reconnect``, ``fanout.{first,median,last}.<audience>`` (one value per emit: the
report's fan-out table and plot show their percentiles, merged here like every
histogram, so a Locust summary reads like a ``wsbench run`` one).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from wsbench.exceptions import ConfigError
from wsbench.integrations.judge import MASTER_RUN
from wsbench.metrics import Metrics, cross_node_section, redis_restart_section, retries_section
from wsbench.metrics.sections import encode

__all__ = ["Aggregate", "TABLE_STRUCTURE"]

SAMPLES_PER_KIND = 10
_LATENCIES = ("delivery", "ack", "connect", "reconnect")

#: Columns of the Fan-out table (keys without underscores: the Locust UI camel-cases keys).
TABLE_STRUCTURE: list[dict[str, str]] = [
    {"key": "section", "title": "Section"},
    {"key": "name", "title": "Name"},
    {"key": "count", "title": "Emits / count"},
    {"key": "expected", "title": "Expected"},
    {"key": "delivered", "title": "Delivered"},
    {"key": "ratio", "title": "Ratio"},
    {"key": "p50", "title": "p50 ms"},
    {"key": "p95", "title": "p95 ms"},
    {"key": "p99", "title": "p99 ms"},
    {"key": "max", "title": "max ms"},
]


def _audience_order(label: str) -> int:
    digits = label.lstrip(">").split("-")[0]
    return int(digits) + (1 if label.startswith(">") else 0)


def _ms(us: int) -> float:
    return round(us / 1000.0, 3)


class Aggregate:
    """The merged measurements of every process of one Locust run."""

    def __init__(self) -> None:
        self.metrics: Metrics | None = None
        self.samples: list[dict[str, Any]] = []
        self._kept: dict[str, int] = {}
        #: per process (judge run id): its deliveries, judged deliveries (histogram count),
        #: payloads, and open emits / pending acks at its last report
        self.sources: dict[str, dict[str, int]] = {}
        self.payloads = 0
        #: restart_redis: the judging oracle's outage windows, samples, first resumed copy
        self.redis_restart: dict[str, Any] | None = None

    def add(self, payload: dict[str, Any]) -> None:
        """Merge one drained payload.

        Raises:
            ConfigError: the payload is not a judge payload this version understands.
        """
        if not isinstance(payload, dict) or payload.get("format") != 1:
            raise ConfigError(f"not a wsbench judge payload: {str(payload)[:80]}")
        snapshot = payload["metrics"]
        if isinstance(snapshot, Metrics):  # this process's judge (Judge.drain(encode=False))
            store = snapshot
            if self.metrics is None:
                self.metrics = Metrics(origin_ns=0, origin_wall=store.origin_wall)
            self.metrics.merge_store(store)
            deliveries = store.counter("deliveries")
            judged = store.histogram("delivery").count
        else:
            if self.metrics is None:
                self.metrics = Metrics.merge_snapshots([snapshot])
            else:
                self.metrics.merge(snapshot)
            deliveries = int(snapshot.get("counters", {}).get("deliveries", 0))
            judged = int(snapshot.get("histograms", {}).get("delivery", {}).get("count", 0))
        for sample in payload.get("samples", ()):
            kind = str(sample.get("kind", ""))
            if self._kept.get(kind, 0) < SAMPLES_PER_KIND:
                self._kept[kind] = self._kept.get(kind, 0) + 1
                self.samples.append(sample)
        source = self.sources.setdefault(
            str(payload.get("run", "?")), {"deliveries": 0, "judged": 0, "payloads": 0}
        )
        source["open_emits"] = int(payload.get("open_emits", 0))
        source["pending_acks"] = int(payload.get("pending_acks", 0))
        source["deliveries"] += deliveries
        source["judged"] += judged
        source["payloads"] += 1
        self.payloads += 1
        if payload.get("redis_restart") is not None:  # one judge has them: its latest state
            self.redis_restart = dict(payload["redis_restart"])

    # -- reading --------------------------------------------------------------------

    def counter(self, name: str) -> int:
        return self.metrics.counter(name) if self.metrics is not None else 0

    def _counters(self, prefix: str) -> dict[str, int]:
        if self.metrics is None:
            return {}
        return {
            k[len(prefix) :]: v for k, v in self.metrics.counters.items() if k.startswith(prefix)
        }

    def latency(self, name: str) -> dict[str, Any]:
        """count and p50/p95/p99/max (ms) of histogram ``name``."""
        if self.metrics is None or name not in self.metrics.histogram_names:
            return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
        hist = self.metrics.histogram(name)
        p = hist.percentiles()
        count = hist.count
        return {
            "count": count,
            **{k: _ms(p[k]) if count else None for k in ("p50", "p95", "p99", "max")},
        }

    def view(self) -> dict[str, Any]:
        """Everything the Fan-out tab shows, JSON-ready."""
        expected = self.counter("oracle.expected")
        delivered = self.counter("oracle.delivered")
        violations = {k: v for k, v in sorted(self._counters("violations.").items()) if v}
        audiences = []
        emits = self._counters("fanout.emits.")
        for label in sorted(emits, key=_audience_order):
            exp = self.counter(f"fanout.expected.{label}")
            got = self.counter(f"fanout.delivered.{label}")
            audiences.append(
                {
                    "audience": label,
                    "emits": emits[label],
                    "complete": self.counter(f"fanout.complete.{label}"),
                    "expected": exp,
                    "delivered": got,
                    "ratio": round(got / exp, 6) if exp else 1.0,
                    "last": self.latency(f"fanout.last.{label}"),
                    "first": self.latency(f"fanout.first.{label}"),
                }
            )
        cpu_s = self.counter("process.cpu_ns") / 1e9
        recv = self.counter("deliveries")
        return {
            "processes": len([k for k in self.sources if k != MASTER_RUN]),
            "emits": self.counter("oracle.emits"),
            "expected": expected,
            "delivered": delivered,
            "missing": self.counter("oracle.missing"),
            "delivery_ratio": round(delivered / expected, 6) if expected else 1.0,
            "volatile": {
                "expected": self.counter("oracle.volatile_expected"),
                "delivered": self.counter("oracle.volatile_delivered"),
                "drops": self.counter("oracle.volatile_drops"),
            },
            "lost_while_away": self.counter("oracle.lost_while_away"),
            "optional_deliveries": self.counter("oracle.optional_deliveries"),
            "left_in_flight": self.counter("oracle.left_in_flight"),
            "received": recv,
            "received_unstamped": self.counter("recv.unstamped"),
            "received_foreign": self.counter("recv.foreign"),
            "violations": violations,
            "violations_total": sum(violations.values()),
            "latency": {name: self.latency(name) for name in _LATENCIES},
            "audiences": audiences,
            "generator": {
                "cpu_s": round(cpu_s, 3),
                "received_per_cpu_s": round(recv / cpu_s, 1) if cpu_s else None,
            },
        }

    def rows(self) -> list[dict[str, Any]]:
        """The Fan-out table: one row per section line (see :data:`TABLE_STRUCTURE`)."""
        v = self.view()
        blank = dict.fromkeys(
            ("count", "expected", "delivered", "ratio", "p50", "p95", "p99", "max"), ""
        )
        lat = v["latency"]["delivery"]
        rows = [
            {
                **blank,
                "section": "delivery",
                "name": "all emits",
                "count": v["emits"],
                "expected": v["expected"],
                "delivered": v["delivered"],
                "ratio": v["delivery_ratio"],
                **_pcts(lat),
            }
        ]
        for a in v["audiences"]:
            rows.append(
                {
                    **blank,
                    "section": "time to last recipient",
                    "name": f"audience {a['audience']}",
                    "count": a["emits"],
                    "expected": a["expected"],
                    "delivered": a["delivered"],
                    "ratio": a["ratio"],
                    **_pcts(a["last"]),
                }
            )
        for name in ("ack", "connect", "reconnect"):
            lat = v["latency"][name]
            if lat["count"]:
                rows.append(
                    {
                        **blank,
                        "section": "latency",
                        "name": name,
                        "count": lat["count"],
                        **_pcts(lat),
                    }
                )
        if v["violations"]:
            for kind, count in v["violations"].items():
                rows.append({**blank, "section": "violation", "name": kind, "count": count})
        else:
            rows.append({**blank, "section": "violation", "name": "none", "count": 0})
        gen = v["generator"]
        rows.append(
            {
                **blank,
                "section": "generator",
                "name": "received per CPU-s",
                "count": gen["received_per_cpu_s"] if gen["received_per_cpu_s"] is not None else "",
            }
        )
        return rows

    def summary_sections(self) -> dict[str, Any]:
        """The ``sections`` of ``summary.json``: delivery verdict, fan-out, violations."""
        v = self.view()
        return {
            "delivery": {
                "emits": v["emits"],
                "expected": v["expected"],
                "delivered": v["delivered"],
                "missing": v["missing"],
                "delivery_ratio": v["delivery_ratio"],
                "volatile": v["volatile"],
                "lost_while_away": v["lost_while_away"],
                "optional_deliveries": v["optional_deliveries"],
                "left_in_flight": v["left_in_flight"],
                "violations": {
                    "total": v["violations_total"],
                    "counts": v["violations"],
                    "samples": list(self.samples),
                },
                "fanout": [self._bucket(a) for a in v["audiences"]],
                "retries": self._retries(),
                **self._cross_node(),
                **self._redis_restart(),
            },
            "generator": {
                "driver": "locust",
                "processes": v["processes"],
                **v["generator"],
                "received": v["received"],
                "received_foreign": v["received_foreign"],
                "received_unstamped": v["received_unstamped"],
                "sources": {k: dict(src) for k, src in self.sources.items()},
            },
        }

    def _retries(self) -> dict[str, Any]:
        """At-least-once emits: the merged counters and HDR histograms (``retries``)."""
        m = self.metrics if self.metrics is not None else Metrics()
        return encode(retries_section(m, m.counter("oracle.retry_duplicates")))  # type: ignore[no-any-return]

    def _cross_node(self) -> dict[str, Any]:
        """A cluster run's same-node / other-node latency (``cross_node``, as ``wsbench run``
        writes it: only when the sockets were on 2+ nodes)."""
        nodes = self.counter("oracle.nodes")
        if self.metrics is None or nodes < 2:
            return {}
        return {"cross_node": encode(cross_node_section(self.metrics, nodes))}

    def _redis_restart(self) -> dict[str, Any]:
        """A cluster run's restart_redis faults (``redis_restart``, as ``wsbench run`` writes
        it: only when one ran)."""
        r = self.redis_restart
        if r is None or not r.get("outages"):
            return {}
        verdict = SimpleNamespace(
            outages=tuple(r["outages"]), outage_samples=tuple(r.get("samples", ())),
            lost_during_outage=self.counter("oracle.lost_during_outage"),
            resumed_other_node=self.counter("oracle.resumed_other_node"),
            first_resumed_ns=r.get("first_resumed_ns"),
        )
        origin = self.metrics.origin_ns if self.metrics is not None else 0
        return {"redis_restart": encode(redis_restart_section(verdict, origin))}

    def _bucket(self, a: dict[str, Any]) -> dict[str, Any]:
        """An audience row in the shape of :meth:`FanoutBucket.to_dict`, plus percentiles."""

        def mean_ms(kind: str) -> float:
            name = f"fanout.{kind}.{a['audience']}"
            if self.metrics is None or name not in self.metrics.histogram_names:
                return 0.0
            hist = self.metrics.histogram(name)
            return round(hist.mean / 1000.0, 3) if hist.count else 0.0

        last = a["last"]
        return {
            "audience": a["audience"],
            "emits": a["emits"],
            "expected": a["expected"],
            "delivered": a["delivered"],
            "complete_emits": a["complete"],
            "completion": a["ratio"],
            "mean_first_ms": mean_ms("first"),
            "mean_median_ms": mean_ms("median"),
            "mean_last_ms": mean_ms("last"),
            "max_last_ms": last["max"] or 0.0,
            "first_p50_ms": self.latency(f"fanout.first.{a['audience']}")["p50"],
            "median_p50_ms": self.latency(f"fanout.median.{a['audience']}")["p50"],
            "last_p50_ms": last["p50"],
            "last_p95_ms": last["p95"],
            "last_p99_ms": last["p99"],
        }


def _pcts(lat: dict[str, Any]) -> dict[str, Any]:
    return {k: lat[k] if lat[k] is not None else "" for k in ("p50", "p95", "p99", "max")}
