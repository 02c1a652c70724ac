"""The shared aiohttp session of many long-lived sockets, and the source address it binds.

The lowest layer of :mod:`wsbench.client` next to :mod:`~wsbench.client.transport`: the
connection reads :func:`source_address` of the session it is given, and the user API
(:mod:`wsbench.client.api`, which re-exports both) creates sessions with
:func:`new_http_session`. Neither needs anything else of the package.

aiohttp is imported by the first :func:`new_http_session`, not with this module: the default
WebSocket transport needs no HTTP client, and importing aiohttp costs ~0.15 s of CPU, about
5 % of a 100,000-acked-emit load run (bench/README.md, issue 14).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp

__all__ = ["new_http_session", "source_address"]

_SOURCE: weakref.WeakKeyDictionary[aiohttp.ClientSession, tuple[str, int]] = (
    weakref.WeakKeyDictionary()
)


def new_http_session(**connector_options: Any) -> aiohttp.ClientSession:
    """An aiohttp session for many long-lived sockets: no connector limit, no read timeout.

    A ``local_addr`` connector option is remembered (:func:`source_address`) so the
    default WebSocket transport, which does not use aiohttp, binds the same source.
    """
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, **connector_options)
    http = aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=None, sock_connect=20)
    )
    if connector_options.get("local_addr"):
        _SOURCE[http] = connector_options["local_addr"]
    return http


def source_address(http: aiohttp.ClientSession | None) -> tuple[str, int] | None:
    """The ``local_addr`` a session from :func:`new_http_session` was made with, if any."""
    return _SOURCE.get(http) if http is not None else None
