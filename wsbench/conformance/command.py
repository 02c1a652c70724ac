"""The body of ``wsbench conform``: select, start/preflight, run, print, write, exit status.

cli.py parses options and calls :func:`conform`; the exit status rule is here:
0 when nothing FAILED, 1 when something did. An unreachable target raises
:class:`~wsbench.exceptions.ConnectFailed` (the CLI maps it to 4) before any check runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path

import click

from wsbench.conformance.console import LiveConsole, summary
from wsbench.conformance.embedded import SUITE_HEARTBEAT_CHECKS, embedded_targets
from wsbench.conformance.model import DEFAULT_TIERS, Tier
from wsbench.conformance.registry import Check, select
from wsbench.conformance.runner import TargetReport, TargetSpec, run_target
from wsbench.exceptions import ConfigError

__all__ = ["conform", "run_specs", "parse_tiers"]


APP_TIERS = (Tier.CONTRACT, Tier.SECURITY, Tier.LOAD)
"""The tiers an app file replaces; engineio and socketio stay the built-in wire checks."""


def on_app_target(check: Check) -> bool:
    """Whether ``check`` runs on a target's ``app_target`` (the default-heartbeat twin) when
    it has one: the :data:`APP_TIERS`, but the checks that test a heartbeat themselves."""
    return check.spec.tier in APP_TIERS and check.spec.id not in SUITE_HEARTBEAT_CHECKS


def app_checks(
    tiers: Sequence[Tier], cases: Sequence[str], exclude: Sequence[str], app_file: str
) -> list[Check]:
    """The wire tiers' built-in checks plus the checks generated from ``app_file``."""
    import fnmatch

    from wsbench.app import load_app
    from wsbench.conformance.checks.app_family import generate

    app = load_app(app_file)
    wire = select([t for t in tiers if t not in APP_TIERS], cases, exclude) if any(
        t not in APP_TIERS for t in tiers) else []

    def hit(cid: str, globs: Sequence[str]) -> bool:
        return any(fnmatch.fnmatchcase(cid, g) for g in globs)

    made = [c for c in generate(app) if c.spec.tier in tiers
            and (not cases or hit(c.spec.id, cases)) and not (exclude and hit(c.spec.id, exclude))]
    return wire + made


def resolve_parser(given: str | None, app_file: str | None) -> str:
    """The parser of the run: ``--parser`` if given, else the app file's ``parser:``, else
    ``default``; both given and different is a usage error that names both."""
    declared = None
    if app_file:
        from wsbench.app import load_app

        declared = load_app(app_file).parser
    if given is not None and declared is not None and given != declared:
        raise click.UsageError(
            f"--parser {given} contradicts the app file's 'parser: {declared}' ({app_file}); "
            "drop --parser or change the file"
        )
    return given or declared or "default"


def parse_tiers(text: str | None) -> list[Tier]:
    """``--tier``: the given comma-separated tiers, or every tier but ``cluster``.

    The cluster tier needs the nodes of a cluster, so it runs only with ``--cluster`` or
    ``--target embedded --nodes N`` (conformance/cluster.py selects it by default there).
    """
    if not text:
        return list(DEFAULT_TIERS)
    tiers = []
    for part in text.split(","):
        part = part.strip()
        try:
            tiers.append(Tier(part))
        except ValueError:
            known = ", ".join(t.value for t in Tier)
            raise click.BadParameter(
                f"unknown tier {part!r} (known: {known})", param_hint="--tier"
            ) from None
    return tiers


def run_specs(
    specs: Sequence[TargetSpec],
    checks: Sequence[Check],
    *,
    factor: float = 1.0,
    parallel: int = 4,
    live: bool = True,
    app_specs: dict[int, TargetSpec] | None = None,
) -> list[TargetReport]:
    """Every target in turn. ``app_specs[i]`` (default: the spec's ``app_target``): where
    target ``i``'s contract, security and load checks run (:func:`on_app_target`; the
    embedded target's default-heartbeat server); their results join target ``i``'s."""
    hook = LiveConsole(len(checks), len(specs)) if live else None
    split = {i: s.app_target for i, s in enumerate(specs) if s.app_target is not None}
    split.update(app_specs or {})

    async def each() -> list[TargetReport]:
        reports = []
        for i, spec in enumerate(specs):
            if i not in split:
                reports.append(await run_target(
                    spec, checks, factor=factor, parallel=parallel, on_result=hook))
                continue
            wire = [c for c in checks if not on_app_target(c)]
            made = [c for c in checks if on_app_target(c)]
            report = await run_target(spec, wire, factor=factor, parallel=parallel,
                                      on_result=hook) if wire else None
            app = await run_target(split[i], made, factor=factor, parallel=parallel,
                                   on_result=hook) if made else None
            merged = TargetReport(spec.label, spec.url,
                                  (report or app).limits)  # type: ignore[union-attr]
            for c in checks:
                merged.results[c.spec.id] = (app if on_app_target(c) else report
                                             ).results[c.spec.id]  # type: ignore[union-attr]
            reports.append(merged)
        return reports

    return asyncio.run(each())


def write_outputs(
    reports: Sequence[TargetReport],
    checks: Sequence[Check],
    junit: str | None,
    json_path: str | None,
    html: str | None,
) -> None:
    from wsbench.conformance import results

    if junit:
        results.write_junit(Path(junit), reports, checks)
    if json_path:
        results.write_json(Path(json_path), reports, checks)
    if html:
        from wsbench.conformance import html as html_report

        html_report.write_html(Path(html), results.to_index(reports, checks))


def conform(
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
    app: str | None = None,
    parser: str | None = None,
) -> int:
    """Run the gate; returns the exit status (0 nothing FAILED, 1 something did).

    ``app``: an app file (docs/apps.md); its generated checks replace the built-in
    contract, security and load tiers (the wire tiers stay).
    ``parser``: the Socket.IO parser of every target (``embedded`` is started with it);
    on ``msgpack`` the literal packets of the checks are translated
    (:mod:`wsbench.conformance.translate`). None: the app file's ``parser:``, else
    ``default``; a ``parser`` that contradicts the app file's is a usage error.
    """
    parser = resolve_parser(parser, app)
    wanted = parse_tiers(tiers)
    if Tier.CLUSTER in wanted:
        raise click.BadParameter(
            "the cluster tier needs the nodes of a cluster: add --cluster (the targets are its "
            "nodes, or one load balancer URL) or use --target embedded --nodes N",
            param_hint="--tier",
        )
    checks = app_checks(wanted, cases, exclude, app) if app else select(wanted, cases, exclude)
    if not checks:
        raise ConfigError("no check matches the given --tier/--cases/--exclude-cases")
    with contextlib.ExitStack() as stack:
        specs: list[TargetSpec] = []
        for target in targets:
            if target == "embedded":
                # the contract, security and load tiers (built-in or from an app file) get
                # servers with the default heartbeat (embedded.py: the suites' 300/200 ms and
                # 500 ms app heartbeat are for the wire tiers and the heartbeat checks)
                specs.append(stack.enter_context(embedded_targets(
                    parser=parser, app_tiers=any(on_app_target(c) for c in checks))))
            else:
                if not target.startswith(("http://", "https://")):
                    raise click.BadParameter(
                        f"{target!r} is not an http(s) URL or 'embedded'", param_hint="--target"
                    )
                specs.append(
                    TargetSpec(target.rstrip("/"), jwt_secret=jwt_secret, parser=parser)
                )
        names = [s.label for s in specs]
        if len(set(names)) != len(names):
            raise click.BadParameter("the same target is given twice", param_hint="--target")
        click.echo(f"wsbench conform: {len(checks)} checks x {len(specs)} target(s)")
        reports = run_specs(specs, checks, factor=factor, parallel=parallel)
    summary(reports)
    write_outputs(reports, checks, junit, json_path, html)
    return 1 if any(r.failed for r in reports) else 0
