"""The layer contracts of DESIGN.md hold: import-linter's contracts and import side effects."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _loaded_after(statement: str, modules: list[str]) -> list[str]:
    code = (
        "import sys\n"
        f"{statement}\n"
        f"print(','.join(m for m in {modules!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [m for m in out.stdout.strip().split(",") if m]


def test_protocol_is_sans_io() -> None:
    heavy = ["aiohttp", "asyncio", "yaml", "matplotlib", "locust", "gevent"]
    assert _loaded_after("import wsbench.protocol", heavy) == []


def test_cli_help_loads_nothing_heavy() -> None:
    heavy = ["matplotlib", "locust", "gevent", "aiohttp"]
    assert _loaded_after("import wsbench.cli", heavy) == []


def test_help_and_version_run() -> None:
    for args in (["--help"], ["--version"]):
        out = subprocess.run(
            [sys.executable, "-m", "wsbench", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert "wsbench" in out.stdout


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter not installed")
def test_import_linter_contracts_hold() -> None:
    out = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "broken" not in out.stdout.lower().replace("0 broken", "")
