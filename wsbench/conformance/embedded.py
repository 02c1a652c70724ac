"""``--target embedded``: the reference server and its auth+recovery twin, via :mod:`wsbench.launch`.

:func:`embedded_targets` starts the Python reference server twice on free loopback ports:
the main target (auth off, so the protocol tier can send the official literal ``40``) and a
twin with ``--jwt-secret`` and ``--recovery`` for the auth and recovery checks. Heartbeat
values are the official suites' 300/200 ms. A server that does not start raises
:class:`~wsbench.launch.ServerStartFailed` (its exit code and stderr tail in the message).

:func:`embedded_app_target` starts, with the same launcher, the server the checks generated
from an app file (``--app``) run against: the default heartbeat (25 s / 20 s, app heartbeat
30 s), :data:`APP_OPTIONS`. Those checks keep four sockets and a server busy with 460
pipelined sends per event; with the suites' 200 ms pingTimeout a server that is itself
starved of CPU (measured on a loaded 2-core machine: all four sockets closed 2-20 ms after
a ping the probe answered on arrival) declares the pong late and closes them, which says
nothing about the app. Only the wire tiers test the heartbeat, so only they need 300/200.

The built-in contract, security and load tiers are in the same position (issue 9 #1: in a
30-catalog soak with a CPU hog the Node twin, at 300/200 ms and a 500 ms app heartbeat,
closed a broadcasting sender's connection and its ack never came). ``embedded_targets(
app_tiers=True)`` therefore also starts, through :func:`embedded_app_target`, a
default-heartbeat server and its auth+recovery twin and names them the target's
:attr:`~wsbench.conformance.runner.TargetSpec.app_target`: those tiers (and the app-file
checks) run there, the wire tiers and :data:`SUITE_HEARTBEAT_CHECKS` stay on the 300/200
servers, and :func:`~wsbench.conformance.command.run_specs` merges both into one report.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Sequence

from wsbench.conformance.runner import TargetSpec
from wsbench.launch import Server, reference_server

__all__ = [
    "embedded_targets",
    "embedded_app_target",
    "APP_OPTIONS",
    "SUITE_OPTIONS",
    "SUITE_HEARTBEAT_CHECKS",
]

SUITE_OPTIONS: tuple[str, ...] = (
    "--ping-interval",
    "300",
    "--ping-timeout",
    "200",
    "--max-payload",
    "1000000",
    "--connect-timeout",
    "1000",
    "--app-heartbeat-interval",
    "500",
)
"""The official suites' settings (research conformance.md §1.1) plus a short app heartbeat."""

APP_OPTIONS: tuple[str, ...] = ("--max-payload", "1000000")
"""The app-file checks' server: the suites' maxPayload, the default (socket.io) heartbeat."""

SUITE_HEARTBEAT_CHECKS: frozenset[str] = frozenset({"contract.heartbeat.app-ping"})
"""Checks of the contract/security/load tiers that test a heartbeat itself: they need the
suites' short one (a 500 ms app heartbeat), so they stay on the :data:`SUITE_OPTIONS` server."""


@contextlib.contextmanager
def embedded_targets(
    extra: Sequence[str] = (),
    name: str = "embedded",
    parser: str = "default",
    app_tiers: bool = False,
) -> Iterator[TargetSpec]:
    """Start the reference server and its auth+recovery twin; yield the target spec.

    ``parser``: both servers are started with ``--parser`` (``default`` or ``msgpack``).
    ``app_tiers``: also start the default-heartbeat pair (:func:`embedded_app_target` with
    its auth+recovery twin) as the spec's ``app_target``, where the contract, security and
    load tiers run.
    """
    secret = secrets.token_hex(16)
    with contextlib.ExitStack() as stack:
        app = (
            stack.enter_context(embedded_app_target(extra, name, parser, auth=True))
            if app_tiers
            else None
        )
        if parser != "default":
            extra = (*extra, "--parser", parser)
        main = stack.enter_context(Server(reference_server(*SUITE_OPTIONS, *extra)))
        aux = stack.enter_context(
            Server(reference_server(*SUITE_OPTIONS, "--jwt-secret", secret, "--recovery", *extra))
        )
        yield TargetSpec(
            main.url,
            name,
            auth_url=aux.url,
            auth_secret=secret,
            recovery_url=aux.url,
            parser=parser,
            app_target=app,
        )


@contextlib.contextmanager
def embedded_app_target(
    extra: Sequence[str] = (),
    name: str = "embedded",
    parser: str = "default",
    auth: bool = False,
) -> Iterator[TargetSpec]:
    """Start the reference server for the app-file checks (:data:`APP_OPTIONS`).

    ``auth``: also its twin with ``--jwt-secret`` and ``--recovery`` (same options), for the
    built-in contract and security tiers' auth checks.
    """
    if parser != "default":
        extra = (*extra, "--parser", parser)
    with contextlib.ExitStack() as stack:
        app = stack.enter_context(Server(reference_server(*APP_OPTIONS, *extra)))
        if not auth:
            yield TargetSpec(app.url, name, parser=parser)
            return
        secret = secrets.token_hex(16)
        aux = stack.enter_context(
            Server(reference_server(*APP_OPTIONS, "--jwt-secret", secret, "--recovery", *extra))
        )
        yield TargetSpec(
            app.url, name, auth_url=aux.url, auth_secret=secret, recovery_url=aux.url,
            parser=parser,
        )

