"""Compare credit-assignment modes × seeds on one environment.

Runs a training run (``scripts/train.py``, :func:`agents.runs.train`) once per
(mode, seed), one after another (never in parallel),
then reads the learning curves back from the TensorBoard logs and writes, in ``--out``:

* ``results.md``   — a Markdown table: final evaluation (mean ± std over seeds of the
  per-seed mean return), success rate, steps, training throughput (env steps/s);
* ``results.json`` — the same numbers and every per-seed evaluation;
* ``curves.png``   — ``rollout/success_rate`` (``rollout/ep_rew_mean`` where no run ever
  succeeded) against steps.

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

import numpy as np

from agents import CREDIT_MODES, make_env
from agents.cli import add_threads_flag, set_threads, tensorboard_command
from agents.evaluation import evaluate
from agents.runs import train

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
    add_threads_flag(p)
    p.add_argument("train_args", nargs=argparse.REMAINDER, help="after --: flags for train.py")
    return p


def read_curves(run_dir: Path) -> dict[str, tuple[list[int], list[float]]]:
    """Every scalar of a TensorBoard run folder: tag -> (steps, values), in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, dict[int, float]] = {}
    for events in sorted(run_dir.glob("**/events.out.tfevents.*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, {}).update({e.step: e.value for e in acc.Scalars(tag)})
    return {t: (sorted(d), [d[s] for s in sorted(d)]) for t, d in out.items()}


def run_recurrent_ppo(args: argparse.Namespace, seed: int, run_dir: Path) -> dict[str, Any]:
    """Train and evaluate sb3-contrib's RecurrentPPO; returns the evaluation summary."""
    try:
        from sb3_contrib import RecurrentPPO
    except ImportError as err:
        raise ValueError("--recurrent-ppo needs sb3-contrib: pip install sb3-contrib") from err
    from stable_baselines3.common.logger import configure

    env_kwargs = json.loads(args.env_kwargs)
    env = make_env(args.env, args.n_envs, seed=seed, env_kwargs=env_kwargs)
    model = RecurrentPPO(
        "MlpLstmPolicy",
        env,
        seed=seed,
        device="cpu",
        policy_kwargs={"lstm_hidden_size": args.hidden_size},
    )
    model.set_logger(configure(str(run_dir), ["tensorboard"]))
    start = time.time()
    model.learn(args.total_timesteps, progress_bar=not args.no_progress)
    wall = time.time() - start
    model.logger.close()
    eval_env = make_env(args.env, 8, seed=seed + 10_000, env_kwargs=env_kwargs)
    summary = evaluate(model, eval_env, args.eval_episodes, deterministic=True)
    summary.update(num_timesteps=model.num_timesteps, wall_s=wall)
    (run_dir / "eval.json").write_text(json.dumps(summary, indent=2))
    return summary


def _fmt(values: list[float], pct: bool = False) -> str:
    if not values:
        return "–"
    m, s = float(np.mean(values)), float(np.std(values))
    return f"{100 * m:.1f} ± {100 * s:.1f}%" if pct else f"{m:.3f} ± {s:.3f}"


def summarise(results: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> str:
    """The Markdown table."""
    lines = [
        f"Environment `{args.env}` {args.env_kwargs}, {args.total_timesteps} steps per run, "
        f"{args.n_envs} envs, seeds {args.seeds}. Evaluation: {args.eval_episodes} episodes, "
        "deterministic policy; ± is the std over seeds.",
        "",
        "| agent | seeds | eval return | eval success | train success (last 100 ep.) "
        "| env steps/s | wall (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, runs in results.items():
        rets = [r["mean_return"] for r in runs]
        succ = [r["success_rate"] for r in runs if r.get("success_rate") is not None]
        train_succ = [r["train_success"] for r in runs if r.get("train_success") is not None]
        fps = [r["fps"] for r in runs if r.get("fps")]
        wall = [r["wall_s"] for r in runs if r.get("wall_s")]
        lines.append(
            f"| {mode} | {len(runs)} | {_fmt(rets)} | {_fmt(succ, True)} | "
            f"{_fmt(train_succ, True)} | {np.mean(fps):.0f} | {np.mean(wall):.0f} |"
            if fps and wall
            else f"| {mode} | {len(runs)} | {_fmt(rets)} | {_fmt(succ, True)} | "
            f"{_fmt(train_succ, True)} | – | – |"
        )
    return "\n".join(lines) + "\n"


def plot(curves: dict[str, list[dict]], path: Path, title: str) -> bool:
    """Mean (± min/max over seeds) learning curve per agent; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no PNG (pip install matplotlib)", file=sys.stderr)
        return False
    # success only where some run ever succeeded (a task whose success is all-or-nothing
    # over a long episode, such as RepeatPrevious, shows its progress in the return)
    any_success = any(
        max(c["rollout/success_rate"][1], default=0.0) > 0
        for runs in curves.values()
        for c in runs
        if "rollout/success_rate" in c
    )
    tag = "rollout/success_rate" if any_success else "rollout/ep_rew_mean"
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for mode, runs in curves.items():
        series = [c[tag] for c in runs if tag in c and c[tag][0]]
        if not series:
            continue
        grid = np.linspace(0, max(s[0][-1] for s in series), 100)
        ys = np.stack([np.interp(grid, s[0], s[1]) for s in series])
        ax.plot(grid, ys.mean(0), label=f"{mode} ({len(series)} seeds)")
        ax.fill_between(grid, ys.min(0), ys.max(0), alpha=0.2)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(tag)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


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
    out = Path(args.out)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    try:
        set_threads(args.threads)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    prefix = "ppo:" if args.algo == "ppo" else ""
    modes = [prefix + c for c in args.credits] + ([BASELINE] if args.recurrent_ppo else [])
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    curves: dict[str, list[dict]] = {m: [] for m in modes}
    for mode in modes:
        for seed in args.seeds:
            run_dir = runs_dir / f"{mode.replace(':', '-')}__{seed}"
            print(f"== {mode} seed {seed}", flush=True)
            start = time.time()
            if mode == BASELINE:
                try:
                    summary = run_recurrent_ppo(args, seed, run_dir)
                except ValueError as err:
                    print(f"error: {err}", file=sys.stderr)
                    return 2
            else:
                argv_run = [
                    "--env", args.env, "--env-kwargs", args.env_kwargs, "--algo", args.algo,
                    "--credit", mode.removeprefix(prefix),
                    "--seed", str(seed), "--total-timesteps", str(args.total_timesteps),
                    "--n-envs", str(args.n_envs), "--hidden-size", str(args.hidden_size),
                    "--eval-episodes", str(args.eval_episodes), "--runs-dir", str(runs_dir),
                    "--run-name", run_dir.name, "--checkpoint-freq", str(10**9),
                ] + (["--no-progress"] if args.no_progress else []) + extra  # fmt: skip
                code = train(argv_run)
                if code != 0:
                    print(
                        f"error: train.py exited with {code} for {mode} seed {seed}",
                        file=sys.stderr,
                    )
                    return code
                summary = json.loads((run_dir / "eval.json").read_text())
                summary["wall_s"] = time.time() - start
            c = read_curves(run_dir)
            summary["fps"] = c["time/fps"][1][-1] if "time/fps" in c else None
            if "rollout/success_rate" in c:
                summary["train_success"] = c["rollout/success_rate"][1][-1]
            results[mode].append(summary)
            curves[mode].append(c)
    table = summarise(results, args)
    (out / "results.md").write_text(table)
    (out / "results.json").write_text(
        json.dumps({"args": vars(args), "results": results}, indent=2)
    )
    plot(curves, out / "curves.png", f"{args.env} {args.env_kwargs}")
    print(table)
    print(f"wrote {out / 'results.md'}, {out / 'results.json'}, {out / 'curves.png'}")
    print(f"learning curves: {tensorboard_command(runs_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
