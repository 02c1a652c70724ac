"""``wsbench conform --cluster``: the targets are the nodes of one cluster (or its balancer).

* several ``--target`` URLs with ``--cluster``: the nodes themselves; the cluster tier opens
  its sockets on each node directly, so it knows where every socket is;
* one ``--target`` URL with ``--cluster``: a load balancer in front of the nodes; the tier
  reads each socket's node from the ``cluster emit`` trigger
  (:func:`wsbench.conformance.checks.cluster.identify`) and polls through the balancer;
* ``--target embedded --nodes N``: :func:`embedded_cluster` starts Debian's redis-server, N
  reference nodes (``--node-kind node`` / ``mixed`` for Node twin nodes) sharing the Redis
  adapter and HAProxy with cookie stickiness (:mod:`wsbench.launch.cluster`); the target has
  both the node URLs and the balancer.

Either way the cluster is ONE target of the report, and the default tier is ``cluster``
(``--tier`` selects others too: they run against the first node, or the balancer).
With ``--app FILE`` the default adds the contract, security and load checks generated from
the file; they run against the balancer (embedded, or one URL), whose round robin spreads
their sockets over the nodes, so every declared event is judged across the adapter.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import click

from wsbench.conformance.command import (
    APP_TIERS,
    app_checks,
    resolve_parser,
    run_specs,
    write_outputs,
)
from wsbench.conformance.console import summary
from wsbench.conformance.model import Tier
from wsbench.conformance.registry import select
from wsbench.conformance.runner import TargetSpec
from wsbench.exceptions import ConfigError

__all__ = ["CLUSTER_OPTIONS", "cluster_target", "conform_cluster", "embedded_cluster"]

CLUSTER_OPTIONS: tuple[str, ...] = ("--ping-interval", "2000", "--ping-timeout", "2000")
"""Options of every embedded node: a heartbeat that a 500-message burst on 2 loaded cores
cannot make a node miss (the wire tiers' 300/200 ms are for the heartbeat checks)."""


def cluster_target(targets: Sequence[str], jwt_secret: str | None, parser: str) -> TargetSpec:
    """``--cluster``: several URLs are the nodes, one URL is a load balancer in front of them."""
    urls = [t.rstrip("/") for t in targets]
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise click.BadParameter(
                f"{url!r} is not an http(s) URL (an embedded cluster: --target embedded "
                "--nodes N)", param_hint="--target",
            )  # fmt: skip
    if len(set(urls)) != len(urls):
        raise click.BadParameter("the same node is given twice", param_hint="--target")
    if len(urls) == 1:
        return TargetSpec(urls[0], f"cluster behind {urls[0]}", jwt_secret=jwt_secret,
                          parser=parser, balancer=urls[0])  # fmt: skip
    return TargetSpec(urls[0], f"cluster of {len(urls)} nodes", jwt_secret=jwt_secret,
                      parser=parser, nodes=tuple(urls))  # fmt: skip


@contextlib.contextmanager
def embedded_cluster(
    nodes: int,
    kind: str = "python",
    parser: str = "default",
    python_args: Sequence[str] = (),
    stickiness: str = "cookie",
) -> Iterator[TargetSpec]:
    """Start Redis, ``nodes`` nodes (``kind``: python, node, mixed) and HAProxy; the target.

    The target's URL is the balancer's; its ``nodes`` are the nodes' own URLs (the cluster
    tier opens its WebSockets on them directly, and polls through the balancer).
    ``python_args`` go to the Python nodes only (``--fault adapter-double-emit``).

    Raises:
        ConfigError: redis-server or haproxy is missing (one line: how to install them).
    """
    from wsbench.launch.cluster import Cluster, ClusterSpec

    args = (*CLUSTER_OPTIONS, *(("--parser", parser) if parser != "default" else ()))
    spec = ClusterSpec.of(nodes, kind, args=args, python_args=tuple(python_args),
                          stickiness=stickiness)  # fmt: skip
    with Cluster(spec) as cluster:
        yield TargetSpec(
            cluster.url, f"embedded cluster ({nodes} {kind} nodes)", parser=parser,
            nodes=tuple(cluster.node_urls), balancer=cluster.url,
        )  # fmt: skip


def parse_cluster_tiers(text: str | None, app: str | None = None) -> list[Tier]:
    """``--tier`` on a cluster: the given list, or the cluster tier (and, with an app file,
    the tiers generated from it)."""
    if not text:
        return [Tier.CLUSTER, *(APP_TIERS if app else ())]
    from wsbench.conformance.command import parse_tiers

    return parse_tiers(text)


def conform_cluster(
    targets: Sequence[str],
    tiers: str | None,
    cases: Sequence[str],
    exclude: Sequence[str],
    jwt_secret: str | None,
    junit: str | None,
    json_path: str | None,
    html: str | None,
    factor: float = 1.0,
    parallel: int = 4,
    parser: str | None = None,
    nodes: int | None = None,
    node_kind: str = "python",
    app: str | None = None,
) -> int:
    """``wsbench conform --cluster`` / ``--nodes N``; the exit status (0 nothing FAILED).
    ``app``: an app file whose generated checks run too (against the balancer, or the
    first node when the targets are the nodes); ``parser`` None: the file's, else default."""
    parser = resolve_parser(parser, app)
    wanted = parse_cluster_tiers(tiers, app)
    checks = app_checks(wanted, cases, exclude, app) if app else select(wanted, cases, exclude)
    if not checks:
        raise ConfigError("no check matches the given --tier/--cases/--exclude-cases")
    embedded = list(targets) == ["embedded"]
    if nodes is not None and not embedded:
        raise click.BadParameter(
            "--nodes starts an embedded cluster: give --target embedded alone", param_hint="--nodes"
        )
    if embedded and nodes is None:
        raise click.BadParameter("an embedded cluster needs --nodes N", param_hint="--cluster")
    with contextlib.ExitStack() as stack:
        if embedded:
            assert nodes is not None
            spec = stack.enter_context(embedded_cluster(nodes, node_kind, parser))
        else:
            spec = cluster_target(targets, jwt_secret, parser)
        click.echo(f"wsbench conform: {len(checks)} checks x 1 cluster ({spec.label})")
        reports = run_specs([spec], checks, factor=factor, parallel=parallel)
    summary(reports)
    write_outputs(reports, checks, junit, json_path, html)
    return 1 if any(r.failed for r in reports) else 0
