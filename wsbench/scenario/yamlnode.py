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
        if "bytes" in v:
            return _binary(where, v)
        return {str(k): _payload(where, x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float)):
        return v
    raise where.error(f"expected a JSON value, got a {type(v).__name__}")


def _binary(where: Node, v: dict[Any, Any]) -> m.Binary:
    """``{bytes: N}`` or ``{bytes: N, fill: "text"}``: a binary value (see :class:`m.Binary`)."""
    extra = sorted(str(k) for k in v if k not in ("bytes", "fill"))
    if extra:
        raise where.error(
            f"a binary value takes only 'bytes' and 'fill', got {', '.join(extra)} "
            "(a payload key named 'bytes' is not allowed)"
        )
    size = v["bytes"]
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= m.MAX_BINARY:
        raise where.error(f"'bytes' must be an integer from 1 to {m.MAX_BINARY}, got {size!r}")
    fill = v.get("fill")
    if fill is None:
        return m.Binary(size)
    if not isinstance(fill, str) or not fill:
        raise where.error(f"'fill' must be a non-empty string, got {fill!r}")
    return m.Binary(size, _template(where, fill))


@dataclass(frozen=True, slots=True)
class Defaults:
    namespace: str = "/"
    within: float = 2.0
    ack_timeout: float = 5.0
