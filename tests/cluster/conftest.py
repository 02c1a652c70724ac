"""Fixtures of the cluster tests: real redis-server, real HAProxy, real nodes on loopback.

Outside CI the tests skip, with the reason, where redis-server, haproxy or the Node twin's
packages are absent (.ci/run installs them from Debian); in CI (``WSBENCH_CI`` or ``CI`` set, as
.ci/run does) they run and fail instead.
"""

from __future__ import annotations

import os

import pytest

from wsbench.launch import node_twin_available
from wsbench.launch.cluster import haproxy_available, redis_available

IN_CI = bool(os.environ.get("WSBENCH_CI") or os.environ.get("CI"))


def _need(present: bool, reason: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not present and not IN_CI, reason=reason)


needs_redis = _need(
    redis_available(), "redis-server is not installed (apt-get install redis-server)"
)
needs_haproxy = _need(haproxy_available(), "haproxy is not installed (apt-get install haproxy)")
needs_node = _need(
    node_twin_available(), "node or reference_server/node's packages are missing (npm ci)"
)
