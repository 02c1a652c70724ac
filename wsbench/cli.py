"""The ``wsbench`` command line: a thin click group, the composition root.

Every command imports what it needs inside its function, so ``wsbench --help``
loads neither matplotlib nor locust nor aiohttp. This is the one place that
maps exceptions to exit codes (:class:`ExitStatus`) and configures logging.
"""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import NoReturn

import click

from wsbench import __version__
from wsbench.exceptions import (
    ConfigError,
    ConnectFailed,
    HandshakeRejected,
    OptionError,
    ParserMismatch,
    ResourceLimit,
    ScenarioError,
    WsbenchError,
)

__all__ = ["ExitStatus", "main", "cli"]


class ExitStatus(IntEnum):
    """Exit codes of every wsbench command."""

    OK = 0
    FAILED = 1  # checks failed or thresholds breached
    USAGE = 2  # click's own code for usage errors
    INVALID_SCENARIO = 3
    UNREACHABLE = 4
    INTERRUPTED = 130


def _fail(message: str, status: ExitStatus) -> NoReturn:
    for line in message.splitlines() or [""]:  # ScenarioErrors: one mistake a line
        click.secho(f"error: {line}", fg="red", err=True)
    sys.exit(int(status))


@contextmanager
def errors_to_exit_codes(traceback: bool = False) -> Iterator[None]:
    """Turn wsbench's exceptions into a clear message and an :class:`ExitStatus`."""
    try:
        yield
    except OptionError as exc:
        if traceback:
            raise
        _fail(str(exc), ExitStatus.USAGE)
    except (ScenarioError, ConfigError) as exc:
        if traceback:
            raise
        _fail(str(exc), ExitStatus.INVALID_SCENARIO)
    except (ConnectFailed, HandshakeRejected, ParserMismatch) as exc:
        if traceback:
            raise
        _fail(str(exc), ExitStatus.UNREACHABLE)
    except ResourceLimit as exc:
        if traceback:
            raise
        _fail(str(exc), ExitStatus.FAILED)
    except WsbenchError as exc:
        if traceback:
            raise
        _fail(str(exc), ExitStatus.FAILED)


class Duration(click.ParamType):
    """``15`` (seconds, as in the YAML), ``1.5``, ``500ms``, ``30s``, ``2m``, ``1h`` -> seconds."""

    name = "duration"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        from wsbench.scenario.loader import option_duration

        try:
            return option_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class Processes(click.ParamType):
    """``auto`` (None: :func:`wsbench.scenario.processes.choose_processes`) or a number >= 1."""

    name = "processes"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int | None:
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text == "auto":
            return None
        if text.isdigit() and int(text) >= 1:
            return int(text)
        self.fail(f"expected 'auto' or a number of processes >= 1, got {value!r}", param, ctx)


class Target(click.ParamType):
    """``embedded`` or an http(s)/ws(s) URL."""

    name = "target"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from wsbench.scenario.loader import valid_target

        text = str(value)
        if not valid_target(text):
            self.fail(f"expected 'embedded' or a URL like http://127.0.0.1:3000, got {text!r}",
                      param, ctx)
        return text


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wsbench")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.option("--traceback", is_flag=True, help="Show Python tracebacks instead of short errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, traceback: bool) -> None:
    """Load testing and protocol conformance for Socket.IO servers.

    \b
      wsbench run scenarios/chat.yaml      run a scenario against the embedded reference server
      wsbench conform --target URL         conformance gate for any Socket.IO server
      wsbench serve                        the reference server alone
    """
    _setup_logging(verbose)
    ctx.obj = {"traceback": traceback}


def _traceback(ctx: click.Context) -> bool:
    return bool(ctx.find_root().obj and ctx.find_root().obj.get("traceback"))


@cli.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("server_args", nargs=-1, type=click.UNPROCESSED)
def serve(server_args: tuple[str, ...]) -> None:
    """Run the bundled reference server (options: wsbench serve --help).

    The same as ``python -m reference_server``: it implements every event of
    docs/events.md and listens on 127.0.0.1:3000 by default. With ``--nodes N`` an
    embedded cluster instead (Redis, N nodes, HAProxy: docs/cluster.md).
    """
    from reference_server.app import run
    from reference_server.config import build_parser, parse_args
    from wsbench.launch.cluster import (
        SERVE_HELP,
        cluster_spec_from,
        serve_cluster,
        split_serve_args,
    )

    if "-h" in server_args or "--help" in server_args:
        click.echo(build_parser(prog="wsbench serve").format_help() + "\n" + SERVE_HELP)
        sys.exit(0)
    with errors_to_exit_codes():
        cluster, node_args = split_serve_args(server_args)
        if cluster:
            # a usage error exits 2 before anything starts (the cluster adds --adapter)
            parse_args([*node_args, "--adapter", "redis://127.0.0.1:6379"], prog="wsbench serve")
            sys.exit(serve_cluster(cluster_spec_from(cluster, node_args)))
    sys.exit(run(parse_args(list(server_args), prog="wsbench serve")))


class _LocustCommand(click.Command):
    """``wsbench locust --help``: wsbench's own options, then Locust's (all passed through)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        from wsbench.integrations.launch import locust_help

        with formatter.section("Locust options (passed through unchanged; -f is set by wsbench)"):
            formatter.write(textwrap.indent(locust_help(), "  "))


@cli.command("locust", cls=_LocustCommand,
             context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False))
@click.option("--write-locustfile", "locustfile", type=click.Path(dir_okay=False),
              help="Write a locustfile for SCENARIO (to extend in Python) and exit.")
@click.option("--wsbench-report-dir", "report_dir", type=click.Path(file_okay=False),
              metavar="DIR", help="Where summary.json, report.html and the plots go (default "
              "reports/<scenario>-locust-<time>/; or WSBENCH_REPORT_DIR).")
@click.argument("locust_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def locust_command(
    ctx: click.Context, scenario: str, locustfile: str | None, report_dir: str | None,
    locust_args: tuple[str, ...],
) -> None:
    """Run SCENARIO in Locust: web UI on :8089, or any Locust option passed through.

    \b
      wsbench locust scenarios/chat.yaml                          web UI
      wsbench locust scenarios/chat.yaml --headless -u 200 -r 50 -t 1m --csv out
      wsbench locust scenarios/chat.yaml --master --expect-workers 2
      wsbench locust scenarios/chat.yaml --worker --master-host 10.0.0.5
      wsbench locust scenarios/chat.yaml --write-locustfile locustfile.py

    With `target: embedded` (and no --host) the reference server is started on a
    free loopback port. Every option not listed here goes to Locust (below). The
    scenario's group counts are scaled to -u; at the end wsbench prints the same
    verdict as `wsbench run`. Exit status: Locust's (1 on any failure or violation),
    2 usage, 3 invalid scenario, 4 the embedded server did not start.
    """
    from pathlib import Path

    from wsbench.integrations.launch import render_locustfile, run_locust
    from wsbench.scenario import load_scenario

    with errors_to_exit_codes(_traceback(ctx)):
        loaded = load_scenario(scenario)
        if locustfile is not None:
            Path(locustfile).write_text(render_locustfile(scenario, loaded), encoding="utf-8")
            click.echo(f"wrote {locustfile}: locust -f {locustfile} --host http://HOST:PORT")
            return
        extra = ("--wsbench-report-dir", report_dir) if report_dir else ()
        sys.exit(run_locust(scenario, loaded, (*locust_args, *extra)))


@cli.command("conform")
@click.option("--target", "targets", multiple=True, required=True, metavar="URL",
              help="Server to check (http://host:port), or 'embedded' for the reference server. Repeatable.")
@click.option("--tier", "tiers", metavar="LIST",
              help="Comma-separated tiers: engineio,socketio,contract,security,load,cluster (default: "
                   "all but cluster; with --cluster: cluster).")
@click.option("--cases", multiple=True, metavar="GLOB", help="Only checks whose id (or official label, e.g. S27) matches.")
@click.option("--exclude-cases", "exclude", multiple=True, metavar="GLOB", help="Skip checks matching GLOB.")
@click.option("--jwt-secret", metavar="S", help="The HS256 secret the target verifies (enables the auth checks).")
@click.option("--app", "app_file", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="App file (docs/apps.md): the contract, security and load tiers are generated "
                   "from it instead of docs/events.md (with --cluster/--nodes: run against "
                   "the balancer, next to the cluster tier).")
@click.option("--junit", type=click.Path(dir_okay=False), help="Write JUnit XML here.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the JSON index here.")
@click.option("--html", type=click.Path(file_okay=False), help="Write the HTML report into this folder.")
@click.option("--timeout-factor", default=1.0, show_default=True, type=click.FloatRange(0.1, 100),
              help="Multiply every wait (slow machines).")
@click.option("--parser", type=click.Choice(["default", "msgpack"]), default=None,
              help="The Socket.IO parser the target speaks ('embedded' is started with it); on "
                   "msgpack the checks' literal packets are re-encoded on the wire. Default: the "
                   "--app file's 'parser:', else default (a conflict with it is a usage error).")
@click.option("--cluster", is_flag=True,
              help="The targets are the nodes of ONE cluster (one URL: its load balancer); "
                   "runs the cluster tier (docs/conformance.md).")
@click.option("--nodes", type=click.IntRange(min=2), metavar="N",
              help="With --target embedded: start a cluster of N nodes (Redis + HAProxy) and "
                   "run the cluster tier against it.")
@click.option("--node-kind", type=click.Choice(["python", "node", "mixed"]), default="python",
              show_default=True, help="The embedded cluster's nodes: reference server, Node twin, or both.")
@click.pass_context
def conform_command(
    ctx: click.Context, targets: tuple[str, ...], tiers: str | None, cases: tuple[str, ...],
    exclude: tuple[str, ...], jwt_secret: str | None, app_file: str | None, junit: str | None,
    json_path: str | None, html: str | None, timeout_factor: float, parser: str | None,
    cluster: bool, nodes: int | None, node_kind: str,
) -> None:
    """Conformance gate: Engine.IO v4 / Socket.IO v5 checks, the event contract, security, load.

    \b
      wsbench conform --target embedded
      wsbench conform --target http://127.0.0.1:3000 --tier engineio,socketio --junit conf.xml
      wsbench conform --target http://a:3000 --target http://b:3000 --html report/
      wsbench conform --target http://127.0.0.1:3000 --app scenarios/apps/seed.yaml
      wsbench conform --target embedded --parser msgpack --tier engineio,socketio
      wsbench conform --target http://127.0.0.1:3001 --target http://127.0.0.1:3002 --cluster
      wsbench conform --target embedded --nodes 3

    Exit status: 0 nothing FAILED, 1 a check FAILED, 4 a target is unreachable, 2 usage.
    Catalog: docs/conformance.md.
    """
    from wsbench.conformance.command import conform

    if cluster or nodes is not None:
        from wsbench.conformance.cluster import conform_cluster

        with errors_to_exit_codes(_traceback(ctx)):
            status = conform_cluster(targets, tiers, cases, exclude, jwt_secret, junit, json_path,
                                     html, timeout_factor, parser=parser, nodes=nodes,
                                     node_kind=node_kind, app=app_file)  # fmt: skip
        sys.exit(status)
    with errors_to_exit_codes(_traceback(ctx)):
        status = conform(targets, tiers, cases, exclude, jwt_secret, junit, json_path, html,
                         timeout_factor, app=app_file, parser=parser)
    sys.exit(status)


@cli.command("run")
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False))
@click.option("--target", type=Target(), metavar="URL",
              help="'embedded' or http://host:port (default: the file's target).")
@click.option("--clients", type=click.IntRange(min=1), metavar="N",
              help="Override the number of clients.")
@click.option("--duration", type=Duration(), metavar="DURATION",
              help="Override the run length: 15 (seconds), 500ms, 30s, 2m, 1h.")
@click.option("--seed", type=int, help="Override the seed of every random choice.")
@click.option("--out", type=click.Path(file_okay=False), help="Report folder (default reports/<scenario>/<time>/).")
@click.option("--processes", type=Processes(), default="auto", show_default=True,
              metavar="N|auto",
              help="Split clients over N processes; auto: one per 2,000 clients, at most one "
                   "per core (not counting the embedded server's); the choice is printed; "
                   "--processes 1 forces one.")
@click.option("--no-plots", is_flag=True, help="Write summary.json only (no PNG/HTML).")
@click.option("--quiet", is_flag=True, help="No live progress line.")
@click.pass_context
def run_command(ctx: click.Context, scenario: str, target: str | None, clients: int | None,
                duration: float | None, seed: int | None, out: str | None, processes: int | None,
                no_plots: bool, quiet: bool) -> None:
    """Run a scenario: drive the clients, check delivery, write the report.

    Exit status: 0 all thresholds passed; 1 a threshold failed, a violation was found or
    the run was cut short; 2 a bad option value; 3 invalid scenario; 4 target unreachable;
    130 interrupted.
    """
    with errors_to_exit_codes(_traceback(ctx)):
        from wsbench.report.console import render_summary
        from wsbench.scenario.runner import RunOptions, run

        outcome = run(scenario, RunOptions(target=target, clients=clients, duration=duration,
                                           seed=seed, out=out, processes=processes,
                                           progress=not quiet, plots=not no_plots))
        click.echo(render_summary(outcome.summary, str(outcome.out_dir)), nl=False)
    sys.exit(outcome.exit_status)


@cli.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.pass_context
def validate_command(ctx: click.Context, files: tuple[str, ...]) -> None:
    """Check scenario files and app files without connecting anywhere.

    A file with a top-level `app:` key and no `groups:` is an app file (docs/apps.md), any
    other a scenario (a scenario may name its app file with `app:`). Every mistake of every file is reported, one a line (FILE:LINE: key path:
    what was expected), in line order within each file. Exit status: 0 every file is
    valid, 3 any mistake.
    """
    from wsbench.app import is_app_file, load_app
    from wsbench.scenario import load_scenario

    mistakes, bad = 0, 0
    for path in files:
        try:
            if is_app_file(path):
                a = load_app(path)
                click.echo(f"{path}: ok (app {a.name}: {len(a.namespaces)} namespace(s), "
                           f"{len(a.events())} event(s))")
                continue
            s = load_scenario(path)
        except ScenarioError as exc:
            if _traceback(ctx):
                raise
            errors = getattr(exc, "errors", (exc,))
            for error in errors:
                click.secho(f"error: {error}", fg="red", err=True)
            mistakes, bad = mistakes + len(errors), bad + 1
            continue
        click.echo(f"{path}: ok ({s.name}: {s.clients} clients, {len(s.groups)} group(s), "
                   f"{s.duration:g} s, target {s.target})")
    if bad:
        click.secho(f"{mistakes} mistake(s) in {bad} of {len(files)} file(s)", fg="red", err=True)
        sys.exit(int(ExitStatus.INVALID_SCENARIO))


@cli.command("report")
@click.argument("summaries", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Where to write (default: next to the summary).")
@click.pass_context
def report_command(ctx: click.Context, summaries: tuple[str, ...], out: str | None) -> None:
    """Re-render plots, report.html and junit.xml from summary.json; two files: compare them.

    Each file is first checked against the published summary schema
    (wsbench/metrics/summary.schema.json). Exit status: 0 rendered; 2 usage;
    3 a file is not a valid run summary (every offending field is named).
    """
    with errors_to_exit_codes(_traceback(ctx)):
        from pathlib import Path

        from wsbench.report.data import load_summary

        if len(summaries) > 2:
            raise click.UsageError("give one summary to re-render, or two to compare")
        loaded = [load_summary(p) for p in summaries]
        if len(loaded) == 2:
            from wsbench.report.compare import render_compare

            click.echo(render_compare(loaded[0], loaded[1], "A", "B"), nl=False)
            return
        from wsbench.report import write_report
        from wsbench.report.console import render_summary

        folder = Path(out) if out else Path(summaries[0]).parent
        write_report(loaded[0], folder)
        click.echo(render_summary(loaded[0], str(folder)), nl=False)


def main() -> None:
    """Console-script entry point."""
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - click handles most
        sys.exit(int(ExitStatus.INTERRUPTED))


if __name__ == "__main__":  # pragma: no cover
    main()
