"""The seed's servers as targets (tests/targets/seed): verbatim, and what each build does.

- server.js and fixed.js reproduce the seed's code blocks line for line once the marked lines
  (added / changed / excluded / fault / fix) are undone;
- the correct build behaves as scenarios/apps/seed.yaml declares on every probe, and shows the
  seed's two real defects (the sid-room hijack, the crash on a null payload);
- fixed.js shows neither; every ``--fault`` variant is seen by its probe (tests/targets/seedprobe.py).
"""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.conftest import ROOT
from tests.targets.seedprobe import DEFECT_PROBES, FAULT_PROBES, SECRET
from wsbench.exceptions import ConfigError
from wsbench.launch import Server, seed_server, seed_server_available

SEED = ROOT.parent / "shared" / "seeds" / "000_9363f7cad1c9bc23.txt"
TARGETS = ROOT / "tests" / "targets" / "seed"
BLOCKS = ("Socket.IO Server", "Chat Application", "Rooms and Namespaces", "Authentication",
          "Heartbeat/Ping-Pong")  # fmt: skip
FAULTS = re.findall(r"^  '([a-z-]+)': \{ every", (TARGETS / "glue.js").read_text(), re.M)

node = pytest.mark.skipif(
    not seed_server_available(), reason="needs node and `npm ci --prefix tests/targets/seed`"
)


def seed_blocks() -> list[str]:
    lines = SEED.read_text().splitlines()
    out: list[str] = []
    for title in BLOCKS:
        start = lines.index("```javascript", lines.index(f"### {title}")) + 1
        end = lines.index("```", start)
        out += lines[start:end]
    return out


def undo_marks(path) -> list[str]:
    """The seed lines a target file stands for: marked lines dropped, changes and exclusions undone."""
    lines = path.read_text().splitlines()
    lines = lines[[i for i, line in enumerate(lines) if "require('./glue')" in line][0] + 1 :]
    out: list[str] = []
    for line in lines:
        indent = line[: len(line) - len(line.lstrip())]
        was = re.search(r"// (?:changed|fix): was (.*?)(?:  -- .*)?$", line)
        if was:
            out.append(indent + was.group(1))
        elif line.startswith("// excluded:"):
            out.append(line.removeprefix("// excluded:").removeprefix(" "))
        elif not re.search(r"// (added|fault|fix)\b", line) and not line.startswith("// ----"):
            out.append(line)
    return [line.rstrip() for line in out]


@pytest.mark.skipif(not SEED.exists(), reason="the seed document is not in this checkout")
@pytest.mark.parametrize("script", ["server.js", "fixed.js"])
def test_the_seed_blocks_verbatim(script: str) -> None:
    want = [line.rstrip() for line in seed_blocks()]
    got = undo_marks(TARGETS / script)
    # blank lines between the blocks are glue: compare the non-blank lines, in order
    assert [x for x in got if x] == [x for x in want if x]


def test_fault_lines_are_only_in_server_js() -> None:
    server = (TARGETS / "server.js").read_text()
    fixed = (TARGETS / "fixed.js").read_text()
    assert set(re.findall(r"// fault: ([a-z-]+)", server)) == set(FAULTS)
    assert "glue.fault(" not in fixed and "// fix:" in fixed and "// fix:" not in server


def test_fixed_build_takes_no_fault() -> None:
    with pytest.raises(ConfigError, match="no faults"):
        seed_server(fixed=True, fault="chat-drop")


def run(spec, *probes):
    async def main(url):
        return {probe.__name__: await probe(url) for probe in probes}

    with Server(spec.with_args("--jwt-secret", SECRET)) as server:  # started by the with
        return asyncio.run(main(server.url))


@pytest.mark.node
@node
def test_correct_build_declared_behaviour_holds_and_defects_show() -> None:
    probes = dict.fromkeys(FAULT_PROBES.values())
    assert run(seed_server(), *probes) == {p.__name__: None for p in probes}
    seen = run(seed_server(), *DEFECT_PROBES.values())
    assert all(seen.values()), seen


@pytest.mark.node
@node
def test_fixed_build_has_no_defect() -> None:
    probes = [*dict.fromkeys(FAULT_PROBES.values()), *DEFECT_PROBES.values()]
    assert run(seed_server(fixed=True), *probes) == {p.__name__: None for p in probes}


@pytest.mark.node
@node
@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_misbehaves(fault: str) -> None:
    probe = FAULT_PROBES[fault]
    seen = run(seed_server(fault=fault), probe)[probe.__name__]
    assert seen, f"{fault}: {probe.__name__} saw nothing wrong"
    print(fault, "->", seen)
