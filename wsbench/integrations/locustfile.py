"""The locustfile ``wsbench locust`` hands to Locust: the scenario named by ``WSBENCH_SCENARIO``.

``wsbench locust scenarios/chat.yaml --headless -u 100 -r 20 -t 30s`` runs
``locust -f <this file>`` with ``WSBENCH_SCENARIO`` set, so every Locust option,
the web UI and master/worker modes work unchanged. To run it by hand::

    WSBENCH_SCENARIO=scenarios/chat.yaml locust -f "$(python -c \\
        'import wsbench.integrations.locustfile as f; print(f.__file__)')" --host http://127.0.0.1:3000
"""

from __future__ import annotations

import os

from wsbench.integrations.launch import with_cluster
from wsbench.integrations.locust import install, users_from_scenario
from wsbench.scenario import load_scenario

_path = os.environ.get("WSBENCH_SCENARIO")
if not _path:
    raise SystemExit("wsbench: set WSBENCH_SCENARIO to a scenario file (wsbench locust does it)")
SCENARIO = with_cluster(load_scenario(_path))  # an embedded cluster: its node URLs
install(SCENARIO)
globals().update(users_from_scenario(SCENARIO))
