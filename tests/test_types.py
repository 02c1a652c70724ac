"""mypy passes with pyproject's [tool.mypy]: --strict for protocol/, oracle/ and metrics/,
the default checks for the rest of wsbench/ and reference_server/ (a short, shrinking list
of modules not yet clean excepted)."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from tests.conftest import ROOT, scaled

STRICT_PACKAGES = ("wsbench.protocol", "wsbench.oracle", "wsbench.metrics")
STRICT_FLAGS = (
    "disallow_untyped_defs", "disallow_incomplete_defs", "disallow_untyped_calls",
    "disallow_untyped_decorators", "disallow_any_generics", "disallow_subclassing_any",
    "check_untyped_defs", "warn_return_any", "warn_unused_ignores", "no_implicit_reexport",
)  # fmt: skip


def _mypy_config() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["mypy"]


def test_the_strict_packages_are_strict_and_none_is_excused() -> None:
    overrides = _mypy_config()["overrides"]
    strict = [o for o in overrides if all(o.get(flag) is True for flag in STRICT_FLAGS)]
    covered = {m for o in strict for m in o["module"]}
    for package in STRICT_PACKAGES:
        assert {package, package + ".*"} <= covered, f"{package} is not checked strictly"
    excused = {m for o in overrides if o.get("ignore_errors") for m in o["module"]}
    assert not {m for m in excused if m.startswith(STRICT_PACKAGES)}, excused


def test_mypy_passes() -> None:
    pytest.importorskip("mypy", reason="mypy is in the [test] extras")
    try:
        out = subprocess.run(
            [sys.executable, "-m", "mypy", "--no-color-output", "--no-error-summary"],
            cwd=ROOT, capture_output=True, text=True, timeout=scaled(300),
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"mypy did not finish within {exc.timeout:g} s:\n{exc.stdout or ''}")
    assert out.returncode == 0, out.stdout + out.stderr
