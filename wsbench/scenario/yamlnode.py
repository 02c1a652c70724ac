"""Scenario YAML nodes: the shared :mod:`wsbench.yamlnode` reader plus placeholders.

Theory of operation
-------------------
:class:`Node` is :class:`wsbench.yamlnode.Node` (file, line, key path, typed readers, every
mistake collected, "did you mean") with the two readers only scenarios have: strings with
``{...}`` become :class:`~wsbench.scenario.model.Template` at read time (``template()``,
``payload()``). Used by :mod:`wsbench.scenario.loader` (sections) and
:mod:`wsbench.scenario.steps` (flows); the loader raises one
:class:`~wsbench.exceptions.ScenarioErrors` with every mistake, in line order, at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wsbench import yamlnode as _shared
from wsbench.scenario import model as m
from wsbench.yamlnode import AlreadyReported, parse_duration

__all__ = ["AlreadyReported", "Defaults", "Node", "parse_duration"]


class Node(_shared.Node):
    """A scenario YAML node: the shared reader plus placeholder templates."""

    def template(self) -> m.Template | str:
        v = self.value()
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str) or not v:
            raise self.error(f"expected a non-empty string, got {v!r}")
        return _template(self, v)

    def payload(self) -> Any:
        """Any JSON value; strings with placeholders become Templates."""
        return _payload(self, self.value())


def _template(where: Node, text: str) -> m.Template | str:
    if "{" not in text and "}" not in text:
        return text
    try:
        return m.Template.parse(text)
    except ValueError as exc:
        raise where.error(f"bad template {text!r}: {exc}") from None


def _payload(where: Node, v: Any) -> Any:
    if isinstance(v, str):
        return _template(where, v)
    if isinstance(v, list):
        return [_payload(where, x) for x in v]
    if isinstance(v, dict):
        return {str(k): _payload(where, x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float)):
        return v
    raise where.error(f"expected a JSON value, got a {type(v).__name__}")


@dataclass(frozen=True, slots=True)
class Defaults:
    namespace: str = "/"
    within: float = 2.0
    ack_timeout: float = 5.0
