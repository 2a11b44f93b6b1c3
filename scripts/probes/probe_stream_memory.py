"""Memory and speed of an agent's credit as a stream grows: flat for BP(λ), growing for BPTT.

Trains ``RecurrentA2C`` on one long ``bpl/TMazeStream-v0`` episode (no reset within the
probe: ``trials`` is set so the stream outlasts it) in ``--segments`` equal segments of
``--segment-steps`` env steps each, and after each segment prints the stream's length so
far (steps per env), the segment's env steps/s and the process's peak resident memory
during it (Linux ``VmHWM``, reset before each segment):

    SEGMENT <credit> steps_per_env=<n> sps=<env steps/s> peak_rss_mb=<MB>

Episode BPTT (``credit="bptt"``) is run with ``max_bptt_steps`` above the probe's length,
so its history is the whole stream so far; BP(λ) and TBPTT keep one window.

    python scripts/probes/probe_stream_memory.py --credits bp_lambda tbptt bptt \\
        --corridor-length 100 --segments 6 --segment-steps 4000
"""

from __future__ import annotations

import argparse
import time

from agents import CREDIT_MODES, RecurrentA2C, make_env
from agents.cli import add_threads_flag, set_threads
from agents.grid import peak_rss_mb, reset_peak_rss


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--credits", nargs="+", choices=CREDIT_MODES, default=["bp_lambda", "bptt"],
        help="credit modes, one after another (default: bp_lambda bptt)",
    )  # fmt: skip
    p.add_argument("--corridor-length", type=int, default=100, help="L (default: 100)")
    p.add_argument("--segments", type=int, default=6, help="segments (default: 6)")
    p.add_argument(
        "--segment-steps", type=int, default=4000, help="env steps per segment (default: 4000)"
    )
    p.add_argument("--n-envs", type=int, default=8, help="parallel streams (default: 8)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    add_threads_flag(p)
    return p


def run(args: argparse.Namespace, credit: str) -> list[dict]:
    """Train one agent segment by segment on a stream longer than the probe; one dict per
    segment: ``steps_per_env``, ``sps``, ``peak_rss_mb``."""
    length = args.segments * args.segment_steps // args.n_envs
    trials = length // (args.corridor_length + 1) + 1  # the episode outlasts the probe
    env = make_env(
        "bpl/TMazeStream-v0",
        args.n_envs,
        seed=args.seed,
        env_kwargs={"corridor_length": args.corridor_length, "trials": trials},
    )
    extra = {"max_bptt_steps": length + 1} if credit == "bptt" else {}
    model = RecurrentA2C("MlpRecurrentPolicy", env, seed=args.seed, credit=credit, **extra)
    rows = []
    for _ in range(args.segments):
        reset_peak_rss()
        start, before = time.perf_counter(), model.num_timesteps
        model.learn(args.segment_steps, reset_num_timesteps=False)
        wall = time.perf_counter() - start
        rows.append(
            {
                "steps_per_env": model.num_timesteps // args.n_envs,
                "sps": (model.num_timesteps - before) / wall,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("corridor_length", "segments", "segment_steps", "n_envs"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    set_threads(args.threads)
    for credit in args.credits:
        for row in run(args, credit):
            rss = "None" if row["peak_rss_mb"] is None else f"{row['peak_rss_mb']:.0f}"
            print(
                f"SEGMENT {credit} steps_per_env={row['steps_per_env']} "
                f"sps={row['sps']:.0f} peak_rss_mb={rss}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
