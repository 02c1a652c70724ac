"""Fixtures for the reference server tests (helpers in :mod:`tests.reference_server.wire`)."""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import pytest

from tests.reference_server.wire import SUITE_ARGS, Wire, running_server


@pytest.fixture(scope="module")
def suite_server() -> Iterator[str]:
    """The Python reference server with the official suites' settings."""
    with running_server("python", SUITE_ARGS) as url:
        yield url


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def sio_wire(suite_server, http) -> Wire:
    return Wire(suite_server, http, "/socket.io/")


@pytest.fixture
def eio_wire(suite_server, http) -> Wire:
    return Wire(suite_server, http, "/engine.io/")
