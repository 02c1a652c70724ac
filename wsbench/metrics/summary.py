"""The run summary: the one versioned artifact a run leaves behind (``summary.json``).

Theory of operation
-------------------
Every run, complete or not, ends by writing a :class:`RunSummary`. Reports
(``wsbench report``), thresholds, CI and later comparisons read only this file,
never live objects, so its shape is a contract: ``schema_version`` says which
contract, and :data:`SCHEMA_VERSION` is bumped on any incompatible change.
The contract is published as a JSON Schema next to this module
(``summary.schema.json``, see :func:`schema`); the tests check that written
summaries validate against it.

What goes in:

* who and what: tool version, scenario name, the target (URL, whether it was
  the embedded reference server, and how the server describes itself);
* when and how long: ``started_at`` (ISO 8601 wall time; a label, never used
  for arithmetic) and ``duration_s`` (from the monotonic clock);
* how it ended: ``exit_status``, and ``partial`` with ``partial_reason`` when the
  run was cut short (server died, Ctrl-C) so a report never presents a partial
  run as a complete one;
* ``metrics``: a :meth:`~wsbench.metrics.registry.Metrics.snapshot` (encoded
  histograms, counters, gauges, per-second series);
* ``sections``: a typed :class:`~wsbench.metrics.sections.Sections` (the oracle's
  verdict as :class:`~wsbench.metrics.sections.Delivery`, connections,
  reconnection, the generator, the server, the run's set-up, thresholds,
  warnings), each under its own key in JSON; keys a producer adds beyond these are
  kept (``extra``) and written back (see :mod:`wsbench.metrics.sections`). A plain
  mapping passed as ``sections`` is decoded into one;
* ``environment``: Python, platform, CPU count, whether uvloop drove the loop.

Writing is atomic (temporary file, then rename), so an interrupted write never
leaves a truncated summary. :meth:`RunSummary.load` refuses files it does not
understand with a :class:`~wsbench.exceptions.ConfigError` that names the file
and the problem.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError
from .sections import Sections

__all__ = ["SCHEMA_VERSION", "RunSummary", "Target", "Environment", "schema"]

SCHEMA_VERSION = 1


def _tool_version() -> str:
    try:
        return metadata.version("wsbench")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


@dataclass(frozen=True, slots=True)
class Target:
    """The server a run measured."""

    url: str
    embedded: bool = False  #: True when wsbench started its own reference server
    server: str = ""  #: how the server describes itself, e.g. "wsbench reference_server 0.1.0"


@dataclass(frozen=True, slots=True)
class Environment:
    """Where the load generator ran."""

    python: str
    implementation: str
    platform: str
    cpu_count: int
    uvloop: bool

    @classmethod
    def capture(cls, *, uvloop: bool = False) -> Environment:
        """Describe this interpreter and machine; ``uvloop`` says whether the driver used it."""
        return cls(
            python=platform.python_version(),
            implementation=sys.implementation.name,
            platform=platform.platform(),
            cpu_count=os.cpu_count() or 1,
            uvloop=uvloop,
        )


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Everything a run measured and how it ended; see the module docstring."""

    scenario: str
    target: Target
    started_at: str
    duration_s: float
    exit_status: int
    metrics: dict[str, Any]
    partial: bool = False
    partial_reason: str | None = None
    sections: Sections = field(default_factory=Sections)
    environment: Environment = field(default_factory=Environment.capture)
    tool_version: str = field(default_factory=_tool_version)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.partial and not self.partial_reason:
            raise ConfigError("a partial run summary needs a partial_reason")
        if isinstance(self.sections, Mapping):  # JSON form: decode (ConfigError names a field)
            object.__setattr__(self, "sections", Sections.from_dict(self.sections))
        elif not isinstance(self.sections, Sections):
            raise ConfigError(f"sections must be Sections, not {type(self.sections).__name__}")

    # -- serialisation ------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema_version": self.schema_version}  # `head` says what it is
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "sections":
                data[name] = value.to_dict()
            elif name != "schema_version":
                data[name] = asdict(value) if name in ("target", "environment") else value
        return data

    def to_json(self, indent: int | None = 2) -> str:
        """The summary as JSON text; NaN and infinities are refused (they are not JSON)."""
        try:
            return json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"run summary is not JSON-serialisable: {exc}") from exc

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically to ``path`` (parents created); return the path."""
        target = Path(path)
        text = self.to_json()
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(text + "\n", encoding="utf-8")
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        return target

    @classmethod
    def from_dict(cls, data: Any, source: str = "<summary>") -> RunSummary:
        """Rebuild a summary from its dict form, checking version and shape.

        Raises:
            ConfigError: unknown ``schema_version``, or a missing or mistyped field.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a run summary is a JSON object, found {type(data).__name__}")
        version = data.get("schema_version")
        if type(version) is not int or version != SCHEMA_VERSION:  # True == 1 in Python
            if type(version) is int and version > SCHEMA_VERSION:
                hint = "it was written by a newer wsbench; upgrade wsbench to read it"
            else:
                hint = "this is not a wsbench run summary, or it is damaged"
            raise ConfigError(
                f"{source}: unsupported schema_version {version!r} "
                f"(this wsbench reads {SCHEMA_VERSION}); {hint}"
            )
        _check(data, source, _TOP_LEVEL)
        _check(data["target"], f"{source}: target", _TARGET)
        _check(data["environment"], f"{source}: environment", _ENVIRONMENT)
        fields = {k: data[k] for k in _TOP_LEVEL if k in data}
        fields["target"] = Target(**{k: data["target"][k] for k in _TARGET})
        fields["environment"] = Environment(**{k: data["environment"][k] for k in _ENVIRONMENT})
        fields["sections"] = Sections.from_dict(data.get("sections", {}), f"{source}: sections")
        return cls(**fields)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunSummary:
        """Read and validate a summary written by :meth:`write`.

        Raises:
            ConfigError: the file cannot be read, is not JSON, or is not a summary
                this version of wsbench understands.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read run summary {os.fspath(path)}: {exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{os.fspath(path)}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
            ) from exc
        return cls.from_dict(data, source=os.fspath(path))


_NUMBER = (int, float)
_TOP_LEVEL: dict[str, tuple[type | tuple[type, ...], bool]] = {
    # name: (accepted types, required)
    "schema_version": (int, True),
    "tool_version": (str, True),
    "scenario": (str, True),
    "target": (dict, True),
    "started_at": (str, True),
    "duration_s": (_NUMBER, True),
    "partial": (bool, True),
    "partial_reason": ((str, type(None)), False),
    "exit_status": (int, True),
    "metrics": (dict, True),
    "sections": (dict, False),
    "environment": (dict, True),
}
_TARGET = {"url": (str, True), "embedded": (bool, True), "server": (str, True)}
_ENVIRONMENT = {"python": (str, True), "implementation": (str, True), "platform": (str, True),
                "cpu_count": (int, True), "uvloop": (bool, True)}


def _check(data: Any, where: str, spec: dict[str, tuple[Any, bool]]) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, found {type(data).__name__}")
    for key, (kinds, required) in spec.items():
        if key not in data:
            if required:
                raise ConfigError(f"{where}: missing field {key!r}")
            continue
        value = data[key]
        # bool is an int in Python, but not in the schema.
        wrong_bool = isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,))
        if wrong_bool or not isinstance(value, kinds):
            raise ConfigError(f"{where}: field {key!r} has the wrong type ({type(value).__name__})")


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of the run summary (``wsbench/metrics/summary.schema.json``)."""
    text = resources.files(__package__).joinpath("summary.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded
