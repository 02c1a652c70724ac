"""Acked emits per CPU-second of the load generator: wsbench vs Artillery's Socket.IO engine.

Theory of operation
-------------------
One run, one server, the same load, side by side (measurements.md): the Node twin
(``node reference_server/node/server.js --port 0``) is started once; then

1. **wsbench**: 1,000 virtual users arrive at 200/s, each sends 100 sequential acked
   ``echo`` emits (``Socket.call``, timeout 10 s) and leaves. The load generator runs in a
   child Python process on uvloop, as ``wsbench run`` does: the default WebSocket transport
   (no aiohttp session: it needs none), the driver's GC policy
   (:func:`wsbench.client.loop.young_gc_only`); its CPU is that child's user+sys time
   (start-up included, as for Artillery; each tree's bytecode is written first, as an
   install does: :func:`compile_tree`);
2. **Artillery 2.x** (``engine: socketio``, ``acknowledge``), installed with
   ``npm install artillery`` into a directory outside the repository (``--artillery-dir``
   or ``$ARTILLERY_DIR``; default ``/tmp/artillery``), same arrivals, same 100 acked
   emits per user. CPU is user+sys of the whole Artillery process tree
   (``resource.RUSAGE_CHILDREN``), start-up included.

Output, per run: acked emits, wall time, CPU seconds (and user alone), acked emits per
CPU-second, p50/p99 ack latency, and the ratio; after ``--repeats`` runs (default 3, each
wsbench then Artillery against the same twin) the ratios and their median. ``--tree DIR``
(repeatable) also runs another checkout's child in every run (its own script and code,
e.g. a ``git worktree`` of a base commit), side by side. Usage::

    python bench/acked_emits.py [--users 1000] [--emits 100] [--repeats 3] [--tree DIR]
                                [--artillery-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wsbench.launch import Server, node_twin  # noqa: E402


def start_twin() -> tuple[Server, str]:
    """The Node twin on a free loopback port, through wsbench's one launcher."""
    twin = Server(node_twin("--app-heartbeat-interval", "0"))
    return twin, twin.start()


WSBENCH_CHILD = r"""
import asyncio, json, sys, time
from wsbench.client import connect, run
from wsbench.client.loop import young_gc_only
from wsbench.metrics import LatencyHistogram

URL, USERS, EMITS, RATE = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])

async def main():
    hist = LatencyHistogram()
    done = 0
    async def user(i):
        nonlocal done
        await asyncio.sleep(i / RATE)
        c = await connect(URL, reconnection=False)
        s = c.socket("/")
        for k in range(EMITS):
            t0 = time.perf_counter_ns()
            await s.call("echo", {"k": k}, timeout=10)
            hist.record_ns(time.perf_counter_ns() - t0)
            done += 1
        await c.close()
    t0 = time.perf_counter()
    with young_gc_only():  # the driver's GC policy (wsbench run): no full collection
        await asyncio.gather(*(user(i) for i in range(USERS)))
    wall = time.perf_counter() - t0
    p = hist.percentiles()
    print(json.dumps({"acked": done, "wall_s": wall, "p50_ms": p["p50"] / 1000, "p99_ms": p["p99"] / 1000}))

run(main())
"""


def child_cpu(argv: list[str], **kw) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run ``argv``; its (and its children's) user and system CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, **kw)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


def compile_tree(tree: Path) -> None:
    """Write the bytecode of ``tree``'s package, as ``pip install`` does, before any run.

    With ``PYTHONDONTWRITEBYTECODE`` set (as here) a child compiles every module edited
    since its ``.pyc`` at each start, and a ``--tree`` copy without ``__pycache__`` all of
    them: ~20 ms of CPU per start, different per tree (bench/README.md "Acked emits, wave
    2e"). An installed wsbench pays that once, at install.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(tree / "wsbench")],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def tree_child(tree: Path) -> str:
    """The wsbench child of another checkout (``--tree``): its own script, its own code."""
    source = (tree / "bench" / "acked_emits.py").read_text()
    start = source.index('WSBENCH_CHILD = r"""') + len('WSBENCH_CHILD = r"""')
    return source[start : source.index('"""', start)]


def bench_wsbench(
    url: str, users: int, emits: int, rate: float, tree: Path = ROOT, child: str = WSBENCH_CHILD
) -> dict:
    done, user, system = child_cpu(
        [sys.executable, "-c", child, url, str(users), str(emits), str(rate)],
        cwd=tree,
        env=dict(os.environ, PYTHONPATH=str(tree)),
    )
    if done.returncode:
        raise SystemExit(f"wsbench child ({tree}) failed: {done.stderr[-2000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["cpu_s"] = user + system
    out["user_s"] = user
    return out


def bench_artillery(url: str, users: int, emits: int, rate: float, art_dir: Path) -> dict | None:
    binary = art_dir / "node_modules" / ".bin" / "artillery"
    if not binary.exists():
        print(f"artillery not installed in {art_dir} (npm install artillery there); skipped")
        return None
    duration = max(1, round(users / rate))
    script = f"""config:
  target: "{url}"
  phases: [{{duration: {duration}, arrivalRate: {int(rate)}}}]
  socketio: {{transports: ["websocket"]}}
scenarios:
  - engine: socketio
    flow:
      - loop:
          - emit: ["echo", {{k: 1}}]
            acknowledge: {{}}
        count: {emits}
"""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "acked.yml"
        path.write_text(script)
        report = Path(tmp) / "report.json"
        t0 = time.perf_counter()
        done, user, system = child_cpu(
            [str(binary), "run", "--output", str(report), str(path)],
            cwd=tmp,
            env=dict(os.environ, ARTILLERY_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1"),
        )
        wall = time.perf_counter() - t0
        if done.returncode or not report.exists():
            print(f"artillery failed (exit {done.returncode}): {done.stderr[-1500:]}")
            return None
        data = json.loads(report.read_text())["aggregate"]
    counters = data.get("counters", {})
    acked = int(counters.get("socketio.emit", 0))
    rt = data.get("summaries", {}).get("socketio.response_time", {})
    return {
        "acked": acked,
        "wall_s": wall,
        "cpu_s": user + system,
        "user_s": user,
        "p50_ms": rt.get("median"),
        "p99_ms": rt.get("p99"),
        "failed": counters.get("vusers.failed", 0),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--emits", type=int, default=100)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--artillery-dir", default=os.environ.get("ARTILLERY_DIR", "/tmp/artillery"))
    ap.add_argument(
        "--repeats", type=int, default=3, help="side-by-side runs; the ratio is their median"
    )
    ap.add_argument(
        "--tree",
        action="append",
        default=[],
        type=Path,
        help="also run this checkout's wsbench child (its own script and code), e.g. a base",
    )
    args = ap.parse_args()
    trees = [(f"wsbench@{t}", t.resolve(), tree_child(t)) for t in args.tree]
    for tree in [ROOT, *(t for _, t, _ in trees)]:
        compile_tree(tree)
    twin, url = start_twin()
    runs: list[dict[str, dict]] = []
    try:
        for _ in range(args.repeats):
            results = {"wsbench": bench_wsbench(url, args.users, args.emits, args.rate)}
            for name, tree, child in trees:
                results[name] = bench_wsbench(
                    url, args.users, args.emits, args.rate, tree=tree, child=child
                )
            art = bench_artillery(url, args.users, args.emits, args.rate, Path(args.artillery_dir))
            if art is not None:
                results["artillery"] = art
            runs.append(results)
            report(results, args, url)
    finally:
        twin.stop()
        twin.close()
    if len(runs) > 1:
        for name in runs[0]:
            if name == "artillery" or "artillery" not in runs[0]:
                continue
            ratios = sorted(r[name]["per_cpu_s"] / r["artillery"]["per_cpu_s"] for r in runs)
            listed = ", ".join(f"{x:.2f}" for x in ratios)
            print(
                f"{name} / artillery over {len(runs)} runs: {listed}; "
                f"median {statistics.median(ratios):.2f}x (target >= 4x)"
            )


def report(results: dict[str, dict], args: argparse.Namespace, url: str) -> None:
    print(f"{args.users} users x {args.emits} acked `echo` emits against the Node twin at {url}")
    print(
        f"{'generator':<10} {'acked':>9} {'wall s':>7} {'CPU s':>7} {'user s':>7} "
        f"{'acked/CPU-s':>12} {'p50 ms':>7} {'p99 ms':>7}"
    )
    for name, r in results.items():
        per = r["acked"] / r["cpu_s"] if r["cpu_s"] else 0.0
        r["per_cpu_s"] = per
        print(
            f"{name:<10} {r['acked']:>9,} {r['wall_s']:>7.1f} {r['cpu_s']:>7.2f} "
            f"{r['user_s']:>7.2f} {per:>12,.0f} {r['p50_ms'] or 0:>7.1f} {r['p99_ms'] or 0:>7.1f}"
        )
    art = results.get("artillery")
    if art and art["per_cpu_s"]:
        for name, r in results.items():
            if name != "artillery":
                print(f"ratio {name} / artillery: {r['per_cpu_s'] / art['per_cpu_s']:.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
