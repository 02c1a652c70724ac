"""Typed reading of composed YAML nodes that keep their file, line and key path.

Theory of operation
-------------------
:class:`Node` wraps a ``yaml.compose`` node with its key path (``groups[1].flow[3].emit``)
and offers typed readers (``text()``, ``integer()``, ``duration()``, ``mapping(allowed)``...)
whose errors are :class:`~wsbench.exceptions.ScenarioError` naming ``FILE:LINE`` and the
path; unknown keys get a "did you mean" suggestion, duplicate keys are errors. Shared by
the scenario loader (:mod:`wsbench.scenario.yamlnode` adds its placeholders on top) and
the app-file loader (:mod:`wsbench.app.loader`); it imports neither.

Every mistake, not just the first: the nodes of one file share an error list. Unknown and
duplicate keys are recorded there and skipped; :meth:`Node.recover` runs a reader (a
section, a group, a step, a key) and records its error instead of raising, so reading goes
on with the next part. A loader raises one :class:`~wsbench.exceptions.ScenarioErrors` with
all of them, in line order, at the end. :meth:`Node.child` keeps the subclass, so a
loader's own readers are available on every node below the root.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any, TypeVar

import yaml

from wsbench.exceptions import ScenarioError

__all__ = ["AlreadyReported", "Node", "parse_duration"]

T = TypeVar("T")

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a ``"500ms"``/``"30s"``/``"2m"``/``"1h"`` string; ValueError else."""
    if isinstance(value, bool):
        raise ValueError("a duration, not a boolean")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration must not be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(f"a duration like 500ms, 30s, 2m or a number of seconds, got {value!r}")


class AlreadyReported(ScenarioError):
    """Stops reading a part whose mistake is already recorded (no second message for it)."""

    def __init__(self) -> None:
        super().__init__("(already reported)")


class Node:
    """A YAML node plus where it is."""

    def __init__(
        self,
        node: yaml.Node,
        path: str,
        source: str,
        ctor: yaml.SafeLoader,
        errors: list[ScenarioError] | None = None,
    ) -> None:
        self.node, self.path, self.source, self._ctor = node, path, source, ctor
        #: the file's mistakes so far (shared by every node of it); None: raise the first
        self.errors = errors

    def error(self, message: str, key_path: str | None = None) -> ScenarioError:
        return ScenarioError(
            message, self.source, self.node.start_mark.line + 1, key_path or self.path or "(top)"
        )

    def child(self, node: yaml.Node, suffix: str) -> Node:
        sep = "" if not self.path or suffix.startswith("[") else "."
        return type(self)(node, f"{self.path}{sep}{suffix}", self.source, self._ctor, self.errors)

    def record(self, error: ScenarioError) -> None:
        """Note a mistake and go on (or raise it when this file collects none)."""
        if self.errors is None:
            raise error
        self.errors.append(error)

    def recover(self, read: Callable[[], T], default: T) -> T:
        """``read()``; on a ScenarioError record it and return ``default`` instead."""
        if self.errors is None:
            return read()
        try:
            return read()
        except AlreadyReported:
            return default
        except ScenarioError as exc:
            self.errors.append(exc)
            return default

    def value(self) -> Any:
        return self._ctor.construct_object(self.node, deep=True)

    def is_mapping(self) -> bool:
        return isinstance(self.node, yaml.MappingNode)

    def is_scalar(self) -> bool:
        return isinstance(self.node, yaml.ScalarNode)

    def mapping(self, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, Node]:
        if not self.is_mapping():
            raise self.error(f"expected a mapping with keys {', '.join(allowed)}")
        out: dict[str, Node] = {}
        suggested: set[str] = set()  # a typo already reported is not also "missing"
        for key_node, value_node in self.node.value:
            key = self._ctor.construct_object(key_node)
            where = self.child(value_node, str(key))
            if not isinstance(key, str):
                self.record(where.error(f"keys must be strings, got {key!r}"))
                continue
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                suggested.update(close)
                hint = (
                    f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
                )
                self.record(where.error(f"unknown key {key!r}{hint}"))
                continue
            if key in out:
                self.record(where.error(f"duplicate key {key!r}"))
                continue
            out[key] = where
        for key in required:
            if key not in out and key not in suggested:
                raise self.error(f"missing required key {key!r}")
        if any(key not in out for key in required):
            raise AlreadyReported()  # only the typo's own error: stop reading this mapping
        return out

    def items(self) -> list[Node]:
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.error("expected a list")
        return [self.child(n, f"[{i}]") for i, n in enumerate(self.node.value)]

    def text(self, choices: tuple[str, ...] = ()) -> str:
        v = self.value()
        if not isinstance(v, str) or not v:
            raise self.error(f"expected a non-empty string, got {v!r}")
        choices = tuple(str(c) for c in choices)
        if choices and v not in choices:
            close = difflib.get_close_matches(v, choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.error(f"expected one of {', '.join(choices)}, got {v!r}{hint}")
        return v

    def namespace(self) -> str:
        v = self.text()
        if not v.startswith("/"):
            raise self.error(f"a namespace starts with '/', got {v!r}")
        return v

    def integer(self, minimum: int | None = None) -> int:
        v = self.value()
        if not isinstance(v, int) or isinstance(v, bool):
            raise self.error(f"expected an integer, got {v!r}")
        if minimum is not None and v < minimum:
            raise self.error(f"expected an integer >= {minimum}, got {v}")
        return v

    def number(self, minimum: float | None = None, maximum: float | None = None) -> float:
        v = self.value()
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise self.error(f"expected a number, got {v!r}")
        if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
            raise self.error(f"expected a number in [{minimum}, {maximum}], got {v}")
        return float(v)

    def boolean(self) -> bool:
        v = self.value()
        if not isinstance(v, bool):
            raise self.error(f"expected true or false, got {v!r}")
        return v

    def duration(self, positive: bool = False) -> float:
        try:
            d = parse_duration(self.value())
        except ValueError as exc:
            raise self.error(f"expected {exc}" if "got" not in str(exc) else str(exc)) from None
        if positive and d <= 0:
            raise self.error("expected a positive duration")
        return d
