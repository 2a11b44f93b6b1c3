"""Compare credit-assignment modes × seeds on one environment.

Runs a training run (``scripts/train.py``, :func:`agents.runs.train`) once per
(mode, seed), one after another in this process (``--max-concurrent 1``, the default),
or N at a time on Ray Tune with ``--max-concurrent N`` (needs the sweep extra:
``pip install 'bplambda[sweep]'``; Tune's state in ``--out/tune_<time>``), then reads the
learning curves back from the TensorBoard logs and writes, in ``--out``:

* ``results.md``   — a Markdown table: final evaluation (mean ± std over seeds of the
  per-seed mean return), success rate, training throughput (env steps/s), wall time,
  policy gradient steps per 1000 env steps and peak resident memory of the run's process;
* ``results.json`` — the same numbers and every per-seed evaluation;
* ``curves.png``   — ``rollout/success_rate`` (``rollout/ep_rew_mean`` where no run ever
  succeeded, or as ``--curve`` says) against steps.

With ``--recurrent-ppo`` (needs ``pip install sb3-contrib``) it also trains
sb3-contrib's RecurrentPPO (MlpLstmPolicy, hidden size ``--hidden-size``, its default
hyperparameters) on the same environments as an outside baseline.

    python scripts/compare.py --env bpl/TMaze-v0 --env-kwargs '{"corridor_length": 50}' \\
        --credits bp_lambda tbptt bptt --seeds 0 1 2 --total-timesteps 300000 \\
        --out results/tmaze50

Flags after ``--`` go to every ``train.py`` run, e.g.
``-- --learning-rate 3e-3 --sg-hidden-sizes 16``.
``--algo ppo`` trains this package's RecurrentPPO instead of RecurrentA2C (rows are then
labelled ``ppo:<mode>``; PPO's own flags such as ``--n-epochs`` go after ``--``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from agents import CREDIT_MODES
from agents.cli import add_threads_flag, set_threads, tensorboard_command
from agents.grid import (
    CURVE_METRICS,
    RayMissing,
    TrialFailed,
    TrialSpec,
    group,
    plot,
    read_curves,
    run_trials,
    summary_table,
)

BASELINE = "recurrent_ppo"


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--env", default="bpl/TMaze-v0", help="env id (default: bpl/TMaze-v0)")
    p.add_argument("--env-kwargs", default="{}", help="JSON kwargs for gymnasium.make")
    p.add_argument(
        "--credits",
        nargs="+",
        default=["bp_lambda", "tbptt", "bptt"],
        help=f"credit modes among {CREDIT_MODES} (default: bp_lambda tbptt bptt)",
    )
    p.add_argument(
        "--algo",
        default="a2c",
        choices=["a2c", "ppo"],
        help="agent for the credit modes: RecurrentA2C or RecurrentPPO (default: a2c)",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default: 0)")
    p.add_argument(
        "--total-timesteps", type=int, default=100_000, help="steps per run (default: 100000)"
    )
    p.add_argument("--n-envs", type=int, default=8, help="parallel environments (default: 8)")
    p.add_argument("--hidden-size", type=int, default=64, help="core units (default: 64)")
    p.add_argument(
        "--eval-episodes", type=int, default=100, help="evaluation episodes (default: 100)"
    )
    p.add_argument("--recurrent-ppo", action="store_true", help="add sb3-contrib's RecurrentPPO")
    p.add_argument(
        "--out", default="results/compare", help="output folder (default: results/compare)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--curve",
        default="auto",
        choices=sorted(CURVE_METRICS),
        help="curves.png's metric: success rate, episode return, or auto (success where "
        "some run ever succeeded, else return) (default: auto)",
    )
    p.add_argument(
        "--max-concurrent",
        type=int,
        default=1,
        metavar="N",
        help="runs at once: 1 in sequence in this process (default); N > 1 on Ray Tune, "
        "one CPU each (needs pip install 'bplambda[sweep]')",
    )
    add_threads_flag(p)
    p.add_argument("train_args", nargs=argparse.REMAINDER, help="after --: flags for train.py")
    return p


def summarise(results: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> str:
    """The Markdown table (:func:`agents.grid.summary_table`) under its header line."""
    header = (
        f"Environment `{args.env}` {args.env_kwargs}, {args.total_timesteps} steps per run, "
        f"{args.n_envs} envs, seeds {args.seeds}. Evaluation: {args.eval_episodes} episodes, "
        "deterministic policy; ± is the std over seeds."
    )
    return summary_table(results, header)


def trial_specs(args: argparse.Namespace, extra: list[str]) -> list[TrialSpec]:
    """Every (mode, seed) as a trial: a train.py run, or sb3-contrib's RecurrentPPO."""
    prefix = "ppo:" if args.algo == "ppo" else ""
    modes = [prefix + c for c in args.credits] + ([BASELINE] if args.recurrent_ppo else [])
    specs = []
    for mode in modes:
        for seed in args.seeds:
            name = f"{mode.replace(':', '-')}__{seed}"
            if mode == BASELINE:
                options = {
                    k: getattr(args, k)
                    for k in ("env", "env_kwargs", "n_envs", "total_timesteps", "hidden_size",
                              "eval_episodes", "no_progress")
                }  # fmt: skip
                specs.append(TrialSpec(name, mode, seed, {"agent": mode}, baseline=options))
                continue
            train_args = [
                "--env", args.env, "--env-kwargs", args.env_kwargs, "--algo", args.algo,
                "--credit", mode.removeprefix(prefix), "--total-timesteps",
                str(args.total_timesteps), "--n-envs", str(args.n_envs), "--hidden-size",
                str(args.hidden_size), "--eval-episodes", str(args.eval_episodes),
                "--checkpoint-freq", str(10**9),
            ] + (["--no-progress"] if args.no_progress else []) + extra  # fmt: skip
            credit = mode.removeprefix(prefix)
            specs.append(TrialSpec(name, mode, seed, {"credit": credit}, tuple(train_args)))
    return specs


def main(argv: list[str] | None = None) -> int:
    """Run every (mode, seed), then write the table, JSON and PNG; returns the exit code."""
    args = build_parser().parse_args(argv)
    extra = [a for a in args.train_args if a != "--"]
    bad = [c for c in args.credits if c not in CREDIT_MODES]
    if bad:
        print(f"error: unknown credit modes {bad}; allowed: {CREDIT_MODES}", file=sys.stderr)
        return 2
    owned = sorted(
        {a.split("=")[0] for a in extra}
        & {"--runs-dir", "--run-name", "--credit", "--seed", "--algo"}
    )
    if owned:
        print(
            f"error: {owned} after -- would clash with compare.py's own run layout; "
            "use --out, --algo, --credits and --seeds instead",
            file=sys.stderr,
        )
        return 2
    if args.max_concurrent < 1:
        print(f"error: --max-concurrent must be >= 1, got {args.max_concurrent}", file=sys.stderr)
        return 2
    out = Path(args.out)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    try:
        set_threads(args.threads)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    specs = trial_specs(args, extra)
    try:
        outcome = run_trials(
            specs,
            runs_dir,
            max_concurrent=args.max_concurrent,
            threads=args.threads,
            storage=out,
            name=f"tune_{time.strftime('%Y%m%d-%H%M%S')}",
            reuse=False,
        )
    except RayMissing as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrialFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code
    for name, error in outcome.errors.items():
        print(f"error: {name}: {error}", file=sys.stderr)
    if outcome.errors or outcome.interrupted:
        return 1 if outcome.errors else 130
    results = group(specs, outcome.results)
    curves = group(specs, {name: read_curves(runs_dir / name) for name in outcome.results})
    table = summarise(results, args)
    (out / "results.md").write_text(table)
    (out / "results.json").write_text(
        json.dumps({"args": vars(args), "results": results}, indent=2)
    )
    plot(curves, out / "curves.png", f"{args.env} {args.env_kwargs}", args.curve)
    print(table)
    print(f"wrote {out / 'results.md'}, {out / 'results.json'}, {out / 'curves.png'}")
    print(f"learning curves: {tensorboard_command(runs_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
