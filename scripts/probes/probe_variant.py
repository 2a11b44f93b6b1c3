"""Train one agent variant per seed, from its keyword arguments, and print its evaluation.

For quick probes of options that have no results page of their own: the agent is built
as ``RecurrentA2C`` / ``RecurrentPPO("MlpRecurrentPolicy", env, seed=seed,
policy_kwargs=..., **agent_kwargs)`` on ``agents.make_env(env, n_envs, seed=seed)``, trained
for ``--steps`` env steps (no run folder, no checkpoints) and evaluated with
``agents.evaluation.evaluate`` over ``--eval-episodes`` deterministic episodes on
``make_env(env, 8, seed=seed + 10000)``. One line per seed:

    RESULT <name> seed=<s> ret=<mean return> succ=<success rate|None> sps=<env steps/s>

    python scripts/probes/probe_variant.py --env bpl/RepeatPreviousEasy-v0 --seeds 0 1 2 \\
        --agent-kwargs '{"credit": "bp_lambda", "sg_learning_rate": 3e-4}' \\
        --policy-kwargs '{"value_trains_core": false}'
"""

from __future__ import annotations

import argparse
import json
import time

from agents import RecurrentA2C, RecurrentPPO, make_env
from agents.cli import add_threads_flag, set_threads
from agents.evaluation import evaluate

AGENTS = {"a2c": RecurrentA2C, "ppo": RecurrentPPO}


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not JSON ({err.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--algo", choices=sorted(AGENTS), default="a2c", help="agent (default: a2c)")
    p.add_argument("--env", default="bpl/TMaze-v0", help="env id (default: bpl/TMaze-v0)")
    p.add_argument("--env-kwargs", type=_json_object, default={}, help="JSON env kwargs")
    p.add_argument("--agent-kwargs", type=_json_object, default={}, help="JSON agent options")
    p.add_argument("--policy-kwargs", type=_json_object, default={}, help="JSON policy_kwargs")
    p.add_argument("--steps", type=int, default=150_000, help="env steps (default: 150000)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default: 0)")
    p.add_argument("--n-envs", type=int, default=8, help="parallel envs (default: 8)")
    p.add_argument("--eval-episodes", type=int, default=50, help="episodes (default: 50)")
    p.add_argument("--name", default="variant", help="label of the RESULT lines")
    add_threads_flag(p)
    return p


def run(args: argparse.Namespace, seed: int) -> dict:
    """Train and evaluate one seed; returns the RESULT fields."""
    env = make_env(args.env, args.n_envs, seed=seed, env_kwargs=args.env_kwargs)
    model = AGENTS[args.algo](
        "MlpRecurrentPolicy",
        env,
        seed=seed,
        policy_kwargs=dict(args.policy_kwargs),
        **args.agent_kwargs,
    )
    start = time.perf_counter()
    model.learn(args.steps)
    wall = time.perf_counter() - start
    eval_env = make_env(args.env, 8, seed=seed + 10_000, env_kwargs=args.env_kwargs)
    summary = evaluate(model, eval_env, args.eval_episodes, deterministic=True)
    return {
        "seed": seed,
        "ret": summary["mean_return"],
        "succ": summary.get("success_rate"),
        "sps": model.num_timesteps / wall,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.steps < 1 or args.eval_episodes < 1:
        raise SystemExit("--steps and --eval-episodes must be >= 1")
    set_threads(args.threads)
    for seed in args.seeds:
        r = run(args, seed)
        print(
            f"RESULT {args.name} seed={seed} ret={r['ret']:.3f} succ={r['succ']} "
            f"sps={r['sps']:.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
