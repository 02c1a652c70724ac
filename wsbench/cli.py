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


def main() -> None:
    """Console-script entry point."""
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - click handles most
        sys.exit(int(ExitStatus.INTERRUPTED))


if __name__ == "__main__":  # pragma: no cover
    main()
