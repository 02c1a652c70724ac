"""``notify`` against a server with ``--jwt-secret``: the post carries an admin bearer token.

The reference server lets only ``admin: true`` tokens post notifications when it checks
JWTs; the scenario's ``auth.jwt`` secret mints one (:func:`wsbench.scenario.tokens.admin_token`)
under ``wsbench run`` and under ``wsbench locust`` alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest

from tests.e2e.conftest import run_text, violations
from tests.integrations.support import wait, wsbench_locust
from wsbench.scenario import load_scenario
from wsbench.scenario.tokens import admin_token

SCENARIO = Path(__file__).with_name("jwt_notify.yaml")


def test_the_admin_token_is_the_clients_claims_with_admin_signed_with_the_secret() -> None:
    auth = load_scenario(SCENARIO).auth
    claims = jwt.decode(admin_token(auth, {"client": 3}), "wsbench-test-secret-at-least-32-bytes",
                        algorithms=["HS256"])
    assert claims["admin"] is True and claims["userId"] == "user-3" and claims["exp"] > 0
    assert admin_token(load_scenario(Path("scenarios/notifications.yaml")).auth, {}) is None


@pytest.mark.timeout(60)
def test_jwt_notify_under_wsbench_run(tmp_path: Path) -> None:
    outcome = run_text(SCENARIO.read_text(), tmp_path)
    s = outcome.summary
    assert violations(s) == {}, s.sections.delivery.violations.samples[:3]
    assert s.sections.delivery.delivered == s.sections.delivery.expected == 8
    assert outcome.exit_status == 0


@pytest.mark.slow
def test_jwt_notify_under_wsbench_locust(tmp_path: Path) -> None:
    proc = wsbench_locust([str(SCENARIO), "--headless", "-t", "6s", "--only-summary",
                           "--wsbench-report-dir", "rep"], tmp_path)
    assert wait(proc, 60, tmp_path) == 0, (tmp_path / "locust-0.log").read_text()[-3000:]
    delivery = json.loads((tmp_path / "rep" / "summary.json").read_text())["sections"]["delivery"]
    assert delivery["violations"]["total"] == 0, delivery["violations"]
    assert delivery["delivered"] == delivery["expected"] == 8, delivery
