"""Both oracles implement the :class:`~wsbench.oracle.Oracle` protocol the driver is typed with.

Checked twice: structurally at run time (every protocol member exists on an instance;
every method accepts every protocol parameter with the same kind and default, and any
extra parameter it has is optional), and by mypy (the driver's ``oracle: Oracle``).
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wsbench.oracle import DeliveryOracle, MembershipUpdates, Oracle, ViolationSink
from wsbench.scenario.journal import JournalWriter, RecordingOracle

ROOT = Path(__file__).resolve().parents[2]


def _members(protocol: type) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, value in vars(protocol).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property) or inspect.isfunction(value):
            out[name] = value
    return out


def _mismatches(protocol: type, impl: object, where: str) -> list[str]:
    """Every way ``impl`` fails ``protocol``'s members (recursing into property types)."""
    problems: list[str] = []
    nested = {"membership": MembershipUpdates, "violations": ViolationSink}
    for name, member in _members(protocol).items():
        if not hasattr(impl, name):
            problems.append(f"{where}.{name}: missing")
            continue
        value = getattr(impl, name)
        if isinstance(member, property):
            if name in nested:
                problems += _mismatches(nested[name], value, f"{where}.{name}")
            elif name == "open_emits" and not isinstance(value, int):
                problems.append(f"{where}.{name}: not an int ({type(value).__name__})")
            continue
        if not callable(value):
            problems.append(f"{where}.{name}: not callable")
            continue
        want = list(inspect.signature(member).parameters.values())[1:]  # without self
        have = inspect.signature(value).parameters
        positional = [p for p in have.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        for i, p in enumerate(want):
            if p.kind is p.POSITIONAL_ONLY:  # any name will do, the position must exist
                got = positional[i] if i < len(positional) else None
            else:
                got = have.get(p.name)
            if got is None:
                problems.append(f"{where}.{name}: no parameter {p.name!r}")
                continue
            if p.kind is p.KEYWORD_ONLY and got.kind not in (got.KEYWORD_ONLY, got.POSITIONAL_OR_KEYWORD):
                problems.append(f"{where}.{name}: {p.name!r} cannot be passed by keyword")
            if p.kind is p.POSITIONAL_OR_KEYWORD and got.kind is not got.POSITIONAL_OR_KEYWORD:
                problems.append(f"{where}.{name}: {p.name!r} is {got.kind.description}")
            if p.default is not p.empty and got.default != p.default:
                problems.append(f"{where}.{name}: {p.name!r} defaults to {got.default!r}, not {p.default!r}")
        named = {p.name for p in want if p.kind is not p.POSITIONAL_ONLY}
        for i, p in enumerate(have.values()):
            extra = p.name not in named and (i >= len(want) or want[i].kind is not want[i].POSITIONAL_ONLY)
            if extra and p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                problems.append(f"{where}.{name}: extra parameter {p.name!r} is required")
    return problems


@pytest.fixture
def recording(tmp_path):
    writer = JournalWriter(tmp_path / "journal.bin")
    yield RecordingOracle(writer)
    writer.close()


def test_delivery_oracle_implements_the_protocol():
    oracle = DeliveryOracle()
    assert _mismatches(Oracle, oracle, "DeliveryOracle") == []
    assert isinstance(oracle, Oracle)


def test_recording_oracle_implements_the_protocol(recording):
    assert _mismatches(Oracle, recording, "RecordingOracle") == []
    assert isinstance(recording, Oracle)
    assert isinstance(recording.membership, MembershipUpdates)
    assert isinstance(recording.violations, ViolationSink)


def test_the_structural_check_catches_a_drifted_copy():
    """A hand copy that lost a keyword (the old way RecordingOracle drifted) is named."""

    class Drifted(DeliveryOracle):
        def expect_emit(self, stamp, sender, namespace, semantics, *, rooms=(), deadline_ns):  # type: ignore[override]
            return 0

        def sweep(self, now_ns, extra):  # type: ignore[override]
            return 0

    problems = _mismatches(Oracle, Drifted(), "Drifted")
    assert "Drifted.expect_emit: no parameter 'event'" in problems
    assert "Drifted.sweep: 'now_ns' defaults to <class 'inspect._empty'>, not None" in problems
    assert "Drifted.sweep: extra parameter 'extra' is required" in problems


def test_mypy_accepts_both_oracles_as_oracle(tmp_path):
    pytest.importorskip("mypy")
    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            from wsbench.oracle import DeliveryOracle, Oracle
            from wsbench.scenario.journal import JournalWriter, RecordingOracle

            def use(oracle: Oracle) -> None: ...

            use(DeliveryOracle())
            use(RecordingOracle(JournalWriter("journal.bin")))
            """
        )
    )
    broken = tmp_path / "broken.py"
    broken.write_text(
        textwrap.dedent(
            """
            from wsbench.oracle import DeliveryOracle, Oracle

            class Copy:
                membership = DeliveryOracle().membership
                violations = DeliveryOracle().violations
                open_emits = 0
                def sweep(self) -> int: return 0

            def use(oracle: Oracle) -> None: ...

            use(Copy())
            """
        )
    )
    args = [sys.executable, "-m", "mypy", "--follow-imports=silent", "--ignore-missing-imports",
            "--no-incremental", "--cache-dir", str(tmp_path / "cache")]
    ok = subprocess.run([*args, str(probe)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run([*args, str(broken)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 1 and 'incompatible type "Copy"; expected "Oracle"' in bad.stdout
