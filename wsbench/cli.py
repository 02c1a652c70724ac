"""The ``wsbench`` command line: a thin click group, the composition root.

Every command imports what it needs inside its function, so ``wsbench --help``
loads neither matplotlib nor locust nor aiohttp. This is the one place that
maps exceptions to exit codes (:class:`ExitStatus`) and configures logging.
"""

from __future__ import annotations

import logging
import sys
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
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(int(status))


@contextmanager
def errors_to_exit_codes(traceback: bool = False) -> Iterator[None]:
    """Turn wsbench's exceptions into a clear message and an :class:`ExitStatus`."""
    try:
        yield
    except (ScenarioError, ConfigError) as exc:
        if traceback:
            raise
        _fail(str(exc), ExitStatus.INVALID_SCENARIO)
    except (ConnectFailed, HandshakeRejected) as exc:
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
    docs/events.md and listens on 127.0.0.1:3000 by default.
    """
    from reference_server.app import run
    from reference_server.config import parse_args

    sys.exit(run(parse_args(list(server_args))))


@cli.command("conform")
@click.option("--target", "targets", multiple=True, required=True, metavar="URL",
              help="Server to check (http://host:port), or 'embedded' for the reference server. Repeatable.")
@click.option("--tier", "tiers", metavar="LIST",
              help="Comma-separated tiers: engineio,socketio,contract,security,load (default: all).")
@click.option("--cases", multiple=True, metavar="GLOB", help="Only checks whose id (or official label, e.g. S27) matches.")
@click.option("--exclude-cases", "exclude", multiple=True, metavar="GLOB", help="Skip checks matching GLOB.")
@click.option("--jwt-secret", metavar="S", help="The HS256 secret the target verifies (enables the auth checks).")
@click.option("--junit", type=click.Path(dir_okay=False), help="Write JUnit XML here.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the JSON index here.")
@click.option("--html", type=click.Path(file_okay=False), help="Write the HTML report into this folder.")
@click.option("--timeout-factor", default=1.0, show_default=True, type=click.FloatRange(0.1, 100),
              help="Multiply every wait (slow machines).")
@click.pass_context
def conform_command(
    ctx: click.Context, targets: tuple[str, ...], tiers: str | None, cases: tuple[str, ...],
    exclude: tuple[str, ...], jwt_secret: str | None, junit: str | None, json_path: str | None,
    html: str | None, timeout_factor: float,
) -> None:
    """Conformance gate: Engine.IO v4 / Socket.IO v5 checks, the event contract, security, load.

    \b
      wsbench conform --target embedded
      wsbench conform --target http://127.0.0.1:3000 --tier engineio,socketio --junit conf.xml
      wsbench conform --target http://a:3000 --target http://b:3000 --html report/

    Exit status: 0 nothing FAILED, 1 a check FAILED, 4 a target is unreachable, 2 usage.
    Catalog: docs/conformance.md.
    """
    from wsbench.conformance.command import conform

    with errors_to_exit_codes(_traceback(ctx)):
        status = conform(targets, tiers, cases, exclude, jwt_secret, junit, json_path, html, timeout_factor)
    sys.exit(status)


def main() -> None:
    """Console-script entry point."""
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - click handles most
        sys.exit(int(ExitStatus.INTERRUPTED))


if __name__ == "__main__":  # pragma: no cover
    main()
