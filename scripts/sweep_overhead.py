"""What Ray Tune adds to a grid of short training runs, and what running two at once gains.

Runs the same grid (``--credits`` × ``--seeds`` on the T-maze) four ways, each as its
own command(s), and times each from start to exit:

1. ``scripts/compare.py`` in sequence in one process (``--max-concurrent 1``, no Ray);
2. ``scripts/sweep.py --max-concurrent 1`` (Ray Tune, one trial at a time);
3. ``scripts/compare.py --max-concurrent 2`` (Ray Tune, two trials at once);
4. two ``scripts/compare.py`` processes at once, one per half of the seeds (no Ray): what
   two processes at once give on this machine without Ray.

First it times a pure-Python loop alone and two copies at once (how much two busy
processes slow each other here). For each way it prints the wall time, the sum of the
runs' own wall times (training and evaluation, as each run measured it), the difference
(start-up, Ray, workers, summaries; negative where runs overlap), the load average
before and after, and the speed-up over (1); ``--out`` keeps the output folders and
``overhead.json``. Needs the sweep extra (``pip install 'bplambda[sweep]'``).

    python scripts/sweep_overhead.py --out results/sweep_overhead
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

SCRIPTS = Path(__file__).resolve().parent


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", default="results/sweep_overhead", help="output folder")
    p.add_argument("--corridor-length", type=int, default=10, help="T-maze corridor (10)")
    p.add_argument("--total-timesteps", type=int, default=20_000, help="steps per run (20000)")
    p.add_argument("--credits", nargs="+", default=["bp_lambda", "tbptt"], help="credit modes")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds (0 1)")
    return p


def _timed(*commands: list[str]) -> tuple[float, tuple[float, float]]:
    """Run the commands at once (one torch thread per process); the wall time until the
    last exits and the 1-minute load average before and after."""
    before = os.getloadavg()[0]
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL) for c in commands]
    codes = [p.wait() for p in procs]
    if any(codes):
        raise RuntimeError(f"a command failed (exit codes {codes}): {commands}")
    return time.perf_counter() - start, (before, os.getloadavg()[0])


SPIN = "import time\nt = time.perf_counter()\nx = 0\nfor i in range(20_000_000): x += i\n"


def _two_at_once() -> tuple[float, float]:
    """Seconds of a pure-Python loop alone, and of two copies started together."""
    alone, _ = _timed([sys.executable, "-c", SPIN])
    return alone, _timed([sys.executable, "-c", SPIN], [sys.executable, "-c", SPIN])[0]


def _run_walls(folder: Path) -> list[float]:
    return [json.loads(p.read_text())["wall_s"] for p in sorted(folder.glob("runs/*/trial.json"))]


def main(argv: list[str] | None = None) -> int:
    """Time the three ways; print the table."""
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if out.exists():
        print(f"error: --out {out} exists; give a new folder", file=sys.stderr)
        return 2
    out.mkdir(parents=True)
    env_kwargs = {"corridor_length": args.corridor_length}
    common = [
        "--env", "bpl/TMaze-v0", "--env-kwargs", json.dumps(env_kwargs), "--credits",
        *args.credits, "--seeds", *map(str, args.seeds), "--total-timesteps",
        str(args.total_timesteps), "--no-progress",
    ]  # fmt: skip
    config = {
        "env": "bpl/TMaze-v0",
        "env_kwargs": env_kwargs,
        "total_timesteps": args.total_timesteps,
        "n_envs": 8,
        "seeds": args.seeds,
        "search": {"credit": args.credits},
    }
    (out / "sweep.yml").write_text(yaml.safe_dump(config))
    py = sys.executable
    ways = {
        "compare.py, in sequence (no Ray)": [py, str(SCRIPTS / "compare.py"), *common,
                                             "--out", str(out / "sequential")],
        "sweep.py, Ray, --max-concurrent 1": [py, str(SCRIPTS / "sweep.py"), "--config",
                                              str(out / "sweep.yml"), "--out",
                                              str(out / "ray1"), "--max-concurrent", "1"],
        "compare.py, Ray, --max-concurrent 2": [py, str(SCRIPTS / "compare.py"), *common,
                                                "--max-concurrent", "2", "--out",
                                                str(out / "ray2")],
    }  # fmt: skip
    half = len(args.seeds) // 2 or 1
    split = [args.seeds[:half], args.seeds[half:]]
    without_seeds = common[: common.index("--seeds")] + common[common.index("--total-timesteps") :]
    two = [
        [py, str(SCRIPTS / "compare.py"), *without_seeds, "--seeds", *map(str, seeds),
         "--out", str(out / f"two_processes/{i}")]
        for i, seeds in enumerate(split) if seeds
    ]  # fmt: skip
    alone, both = _two_at_once()
    print(f"a Python loop: {alone:.2f} s alone, {both:.2f} s with a second copy at once")
    rows = []
    for name, commands in [*((n, [c]) for n, c in ways.items()),
                           ("two compare.py processes at once (no Ray)", two)]:  # fmt: skip
        wall, load = _timed(*commands)
        runs = [w for c in commands for w in _run_walls(Path(c[c.index("--out") + 1]))]
        rows.append({"way": name, "wall_s": wall, "runs_s": sum(runs), "n_runs": len(runs),
                     "load": load})  # fmt: skip
        print(f"{name}: {wall:.1f} s", flush=True)
    base = rows[0]["wall_s"]
    print(
        "\n| way | runs | wall (s) | sum of the runs' own times (s) | wall − runs (s) "
        "| speed-up vs sequential | load before → after |\n|---|---|---|---|---|---|---|"
    )
    for r in rows:
        print(
            f"| {r['way']} | {r['n_runs']} | {r['wall_s']:.1f} | {r['runs_s']:.1f} | "
            f"{r['wall_s'] - r['runs_s']:.1f} | {base / r['wall_s']:.2f}× | "
            f"{r['load'][0]:.2f} → {r['load'][1]:.2f} |"
        )
    loop = {"alone_s": alone, "two_at_once_s": both}
    record = {"args": vars(args), "python_loop": loop, "rows": rows}
    (out / "overhead.json").write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
