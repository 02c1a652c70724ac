"""Fixtures of the Locust integration tests (helpers live in ``support.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integrations.support import reference_server_factory


@pytest.fixture
def reference_server() -> Iterator[object]:
    """``reference_server("--fault", "room-leak")`` -> URL; every server is stopped at the end."""
    yield from reference_server_factory()
