"""``--target embedded``: the reference server and its auth+recovery twin, via :mod:`wsbench.launch`.

:func:`embedded_targets` starts the Python reference server twice on free loopback ports:
the main target (auth off, so the protocol tier can send the official literal ``40``) and a
twin with ``--jwt-secret`` and ``--recovery`` for the auth and recovery checks. Heartbeat
values are the official suites' 300/200 ms. A server that does not start raises
:class:`~wsbench.launch.ServerStartFailed` (its exit code and stderr tail in the message).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Sequence

from wsbench.conformance.runner import TargetSpec
from wsbench.launch import Server, reference_server

__all__ = ["embedded_targets", "SUITE_OPTIONS"]

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


@contextlib.contextmanager
def embedded_targets(
    extra: Sequence[str] = (), name: str = "embedded", parser: str = "default"
) -> Iterator[TargetSpec]:
    """Start the reference server and its auth+recovery twin; yield the target spec.

    ``parser``: both servers are started with ``--parser`` (``default`` or ``msgpack``).
    """
    secret = secrets.token_hex(16)
    if parser != "default":
        extra = (*extra, "--parser", parser)
    with (
        Server(reference_server(*SUITE_OPTIONS, *extra)) as main,
        Server(
            reference_server(*SUITE_OPTIONS, "--jwt-secret", secret, "--recovery", *extra)
        ) as aux,
    ):
        yield TargetSpec(
            main.url,
            name,
            auth_url=aux.url,
            auth_secret=secret,
            recovery_url=aux.url,
            parser=parser,
        )
