"""Scenarios: the YAML model, its loader (errors with file:line and key path), the runner.

``load_scenario(path)`` returns a frozen :class:`~wsbench.scenario.model.Scenario` that
the asyncio runner and the Locust integration both execute. The format is documented in
``docs/scenarios.md``; editors can validate files with the JSON Schema shipped as
``wsbench/scenario/schema.json`` (:func:`schema_path`).
"""

from __future__ import annotations

from pathlib import Path

from wsbench.scenario.loader import (
    Overrides,
    apply_overrides,
    load_scenario,
    loads_scenario,
    parse_duration,
)
from wsbench.scenario.model import Scenario

__all__ = [
    "Overrides",
    "Scenario",
    "apply_overrides",
    "load_scenario",
    "loads_scenario",
    "parse_duration",
    "schema_path",
]


def schema_path() -> Path:
    """Where the JSON Schema of the scenario format is installed."""
    return Path(__file__).with_name("schema.json")
