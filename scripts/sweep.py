"""Hyperparameter sweeps on Ray Tune: a grid (and samples) of training runs × seeds.

Reads a YAML config (every key: docs/sweeps.md), checks it whole before Ray starts, then
runs every (setting, seed) as a Ray Tune trial: a normal training run (the code path of
scripts/train.py) with its run folder in --out/runs/<trial> (TensorBoard logs,
checkpoints, eval.json), one CPU and one torch thread each. Tune's state lives in
--out/tune, so an interrupted sweep continues with --resume (finished trials are kept).
A line is printed per finished trial; at the end, in --out:

* results.json — {"trials": [{"config", "seed", "mean_return", "success_rate",
  "env_steps_per_s", "run_dir"}, ...], "failed": [...]};
* results.md   — per setting, mean ± std over its seeds (as scripts/compare.py);
* curves.png   — per setting, the learning curve over its seeds.

    python scripts/sweep.py --config sweep.yml --out results/sweep
    python scripts/sweep.py --config sweep.yml --out results/sweep --resume
    python scripts/sweep.py --config sweep.yml --out results/sweep --address 10.0.0.5:6379

Needs the sweep extra: pip install 'bplambda[sweep]' (make setup installs it).
Exit codes: 0 every trial finished, 1 some trials failed (--resume runs them again),
2 bad input, 130 interrupted (--resume continues).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from agents.grid import RayMissing, run_trials
from agents.sweep import SweepConfigError, expand, load_config, write_results

#: The Tune experiment's folder under --out.
EXPERIMENT = "tune"
#: The sweep's configuration as started, under --out (--resume checks it).
RECORD = "sweep.json"


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", required=True, metavar="FILE", help="the sweep's YAML config")
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="output folder: runs/, Tune's state (tune/), results.json, results.md, curves.png",
    )
    p.add_argument(
        "--address",
        default=None,
        help="join the Ray cluster at this address (default: start Ray on this machine "
        "with all its cores)",
    )
    p.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        metavar="N",
        help="trials at once (default: as many as Ray's CPUs, one per trial)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted sweep in --out with the same --config: finished "
        "trials are kept, unfinished and failed ones run (again), with the sweep's "
        "--max-concurrent",
    )
    return p


def _check_out(args: argparse.Namespace, config: dict) -> None:
    """Refuse a new sweep over an old one, and a --resume with another config.

    :raises ValueError: naming the folder and what to do."""
    out = Path(args.out)
    record = out / RECORD
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    if not args.resume:
        if record.exists() or (out / EXPERIMENT).exists():
            raise ValueError(
                f"--out {out} already holds a sweep: continue it with --resume, "
                "or give another --out"
            )
        return
    if not record.exists() or not (out / EXPERIMENT).exists():
        raise ValueError(f"--resume: {out} holds no sweep to continue ({record} not found)")
    saved = json.loads(record.read_text())["config"]
    changed = sorted(k for k in config if saved.get(k) != config[k])
    if changed:
        raise ValueError(
            f"--resume: {args.config} differs from the sweep in {out} in {', '.join(changed)}; "
            "resume with the config it was started with, or give another --out"
        )


def main(argv: list[str] | None = None) -> int:
    """Check the config, run the sweep on Ray Tune, write the results; the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.max_concurrent is not None and args.max_concurrent < 1:
            raise ValueError(f"--max-concurrent must be >= 1, got {args.max_concurrent}")
        config = load_config(args.config)
        _check_out(args, config.to_dict())
    except (SweepConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    specs = expand(config)
    if not args.resume:
        record = {
            "config": config.to_dict(),
            "max_concurrent": args.max_concurrent,
            "trials": [s.name for s in specs],
        }
        (out / RECORD).write_text(json.dumps(record, indent=2))
    elif args.max_concurrent is not None:
        kept = json.loads((out / RECORD).read_text()).get("max_concurrent")
        if kept != args.max_concurrent:
            print(
                f"note: --resume keeps the sweep's --max-concurrent ({kept or 'one per CPU'}); "
                f"{args.max_concurrent} is not applied",
                file=sys.stderr,
            )
    settings = len({s.label for s in specs})
    print(
        f"{len(specs)} trials ({settings} settings × {len(config.seeds)} seeds): run folders "
        f"in {out / 'runs'}, Tune's state in {out / EXPERIMENT}",
        flush=True,
    )
    start = time.time()
    try:
        outcome = run_trials(
            specs,
            out / "runs",
            max_concurrent=args.max_concurrent,
            use_ray=True,
            storage=out,
            name=EXPERIMENT,
            address=args.address,
            resume=args.resume,
        )
    except RayMissing as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = write_results(out, config, specs, outcome)
    print(table)
    print(f"{len(outcome.results)} of {len(specs)} trials finished in {time.time() - start:.0f} s")
    print(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'curves.png'}")
    for name, error in outcome.errors.items():
        print(f"failed: {name}: {error.splitlines()[0] if error else ''}", file=sys.stderr)
    if outcome.errors:
        print(f"{len(outcome.errors)} trials failed; --resume runs them again", file=sys.stderr)
        return 1
    if outcome.interrupted:
        print("interrupted: continue with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
