"""Probe one cell of experiment (b): the delayed target with the RNN learning, per method.

Trains the setup of ``reproduce_paper.py`` (b) — tanh RNN, H = 30, W_hh = 0.9 × orthogonal,
4 cues, Adam, β = 1, γ = 1, the network's update clipped at norm 1 and the critic's
unclipped (``--sg-max-grad-norm`` to clip it), batches of 16 — at one delay and window,
for the methods asked for, and prints per seed the final loss on 256 fresh sequences
and, for the synthetic-gradient methods, the alignment cos(l_t + ĝ_t, dL/dz_t) on 64
sequences at the end of training. It varies what (b) holds fixed: the learning rates,
the critic's hidden layers, its standardised input (``+std``) and the training length.

    python scripts/probes/probe_delayed.py --delay 30 --k 3 --batches 200 \\
        --methods tbptt "bp_lambda(1)" "bp_lambda(1)+std" --learning-rate 1e-4 \\
        --sg-learning-rate 3e-3

Methods: ``tbptt``, ``dni``, ``bp_lambda(λ)``, ``immediate``, ``bptt``; ``+std`` after a
synthetic-gradient method gives its critic standardised input
(``SequenceLearner(sg_normalize_input=True)``).
"""

from __future__ import annotations

import argparse
import json
import math

import torch

import bpl
from agents.cli import add_renamed_flags, add_threads_flag, set_threads
from bpl.experiments import (
    DelayedTarget,
    SequenceLearner,
    check_positive_flags,
    make_rnn,
    method_kwargs,
    parse_hidden_sizes,
    parse_method,
    train,
)


def probe(
    method: str,
    delay: int,
    k: int,
    batches: int,
    seeds: int,
    learning_rate: float,
    sg_learning_rate: float,
    sg_hidden_sizes: tuple[int, ...] = (),
    radius: float = 0.9,
    sg_max_grad_norm: float | None = None,
    alpha: float = 0.0,
    network_traces: str | None = None,
    sg_beta: float = 1.0,
    sg_time_input: int = 0,
) -> dict:
    """Train ``seeds`` learners; return their final losses and alignments."""
    kw = method_kwargs(method)
    if network_traces is not None and kw["credit"] != "bptt":
        kw["network_traces"] = network_traces
    if kw["credit"] in ("dni", "bp_lambda"):
        kw.update(sg_hidden_sizes=sg_hidden_sizes, sg_beta=sg_beta)
        if sg_time_input:
            kw["sg_time_input"] = sg_time_input
    losses, aligns, scales = [], [], []
    for seed in range(seeds):
        task = DelayedTarget(delay, num_patterns=4, seed=seed)
        cell = make_rnn(task.input_size, 30, seed, nonlinearity="tanh", radius=radius, alpha=alpha)
        learner = SequenceLearner(
            cell,
            2,
            k=k,
            sg_gamma=1.0,
            learning_rate=learning_rate,
            sg_learning_rate=sg_learning_rate,
            max_grad_norm=1.0,
            sg_max_grad_norm=sg_max_grad_norm,
            **kw,
        )
        gen = torch.Generator().manual_seed(1000 + seed)
        if not train(learner, lambda g=gen, t=task: t.sample(16, g), batches):
            losses.append(math.inf)
            continue
        losses.append(learner.evaluate(*task.sample(256, generator=10_000 + seed))["loss"])
        if learner.gradient_critic is not None:
            test = task.sample(64, generator=5)
            aligns.append(learner.alignment(*test)[1])
            scales.append(critic_scale(learner, test))
    return {"method": method, "loss": losses, "alignment": aligns, "scale": scales}


@torch.no_grad()
def critic_scale(learner: SequenceLearner, batch) -> float:
    """mean_t ‖ĝ_t‖ / mean_t ‖G_t‖ over the steps before the last (G_t the exact future
    gradient, γ = 1): 1 where the critic predicts the right size, ≫ 1 where it overshoots."""
    inputs, targets, mask = batch
    T, B, _ = inputs.shape
    z = learner.cell.initial_state(B)
    zs, jacs, imms = [], [], []
    for t in range(T):
        z, jac = learner.cell.jacobian(inputs[t], z)
        imm, _ = learner.immediate_gradient(z, targets[t], mask[t], readout_grad=False)
        zs.append(z)
        jacs.append(jac)
        imms.append(imm)
    zs, jacs, imms = torch.stack(zs), torch.stack(jacs), torch.stack(imms)  # (T, B, ·)
    future = bpl.exact_state_gradients(imms, jacs, 1.0) - imms  # G_t, (T, B, |z|)
    times = torch.arange(T).unsqueeze(1).expand(T, B)
    g = learner.synthetic_gradient(zs, times)
    return float(g[:-1].norm(dim=-1).mean() / future[:-1].norm(dim=-1).mean().clamp_min(1e-30))


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--delay", type=int, default=30, help="delay T (default: 30)")
    p.add_argument("--k", type=int, default=3, help="window (default: 3)")
    p.add_argument("--batches", type=int, default=60, help="training batches (default: 60)")
    p.add_argument("--seeds", type=int, default=2, help="seeds 0..n-1 (default: 2)")
    p.add_argument(
        "--methods",
        nargs="+",
        default=["tbptt", "dni", "bp_lambda(1)", "bp_lambda(1)+std"],
        help="methods (default: tbptt dni bp_lambda(1) bp_lambda(1)+std)",
    )
    p.add_argument(
        "--learning-rate",
        type=float,
        default=3e-4,
        help="the network's learning rate; 0 freezes it (default: 3e-4)",
    )
    p.add_argument(
        "--sg-learning-rate", type=float, default=1e-3, help="the critic's (default: 1e-3)"
    )
    p.add_argument(
        "--sg-hidden-sizes",
        default="",
        help="the critic's hidden sizes, e.g. 64 or 64,32 (default '': linear)",
    )
    p.add_argument(
        "--sg-max-grad-norm",
        type=float,
        default=None,
        help="clip the critic's update to this norm (default: unclipped, as (b))",
    )
    p.add_argument(
        "--radius",
        type=float,
        default=0.9,
        help="W_hh = radius × orthogonal; smaller: the cue fades faster (default: 0.9, as (b))",
    )
    p.add_argument(
        "--sg-beta", type=float, default=1.0, help="scale β of the injected ĝ (default: 1)"
    )
    p.add_argument(
        "--sg-time-input",
        type=int,
        default=0,
        help="give the critic the step's phase at this many frequencies (default: 0, none)",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=0.0,
        help="the RNN's leak α in h_t = α h_{t−1} + tanh(…) (default: 0, as (b))",
    )
    p.add_argument(
        "--network-traces",
        choices=["eprop"],
        default=None,
        help="the network learns from e-prop traces (k = 1; bptt keeps its own gradient)",
    )
    add_threads_flag(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_renamed_flags(
        p,
        {
            "--lr": "--learning-rate",
            "--synth-lr": "--sg-learning-rate",
            "--synth-hidden": "--sg-hidden-sizes",
            "--no-synth-clip": "--sg-max-grad-norm (the critic is unclipped by default)",
        },
    )
    return p


def _check(args: argparse.Namespace) -> tuple[int, ...]:
    """Raise ValueError naming the first bad flag; return the critic's hidden sizes."""
    check_positive_flags(args, ("delay", "k", "batches", "seeds"))
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    hidden = parse_hidden_sizes(args.sg_hidden_sizes)
    for m in args.methods:
        parse_method(m)
    if not args.sg_beta >= 0:
        raise ValueError(f"--sg-beta must be >= 0, got {args.sg_beta}")
    if args.sg_time_input < 0:
        raise ValueError(f"--sg-time-input must be >= 0, got {args.sg_time_input}")
    if not 0 <= args.alpha < 1:
        raise ValueError(f"--alpha must be in [0, 1), got {args.alpha}")
    if args.network_traces is not None and args.k != 1:
        raise ValueError(f"--network-traces needs --k 1, got {args.k}")
    if not args.radius > 0:
        raise ValueError(f"--radius must be > 0, got {args.radius}")
    if args.sg_max_grad_norm is not None and not args.sg_max_grad_norm > 0:
        raise ValueError(f"--sg-max-grad-norm must be > 0, got {args.sg_max_grad_norm}")
    return hidden


def main(argv: list[str] | None = None) -> list[dict]:
    p = build_parser()
    args = p.parse_args(argv)
    try:
        hidden = _check(args)
    except ValueError as err:
        p.error(str(err))
    set_threads(args.threads)
    rows = []
    if not args.json:
        clip = "unclipped" if args.sg_max_grad_norm is None else f"{args.sg_max_grad_norm:g}"
        print(
            f"delay {args.delay}, k {args.k}, {args.batches} batches of 16, seeds {args.seeds}, "
            f"W_hh radius {args.radius}, leak α {args.alpha}, network traces "
            f"{args.network_traces or 'none'}, critic's update clip: {clip}"
        )
        print("| method | loss per seed | alignment per seed | ‖ĝ‖/‖G‖ per seed |")
        print("|---|---|---|---|")
    for m in args.methods:
        row = probe(
            m,
            args.delay,
            args.k,
            args.batches,
            args.seeds,
            args.learning_rate,
            args.sg_learning_rate,
            hidden,
            args.radius,
            args.sg_max_grad_norm,
            args.alpha,
            args.network_traces,
            args.sg_beta,
            args.sg_time_input,
        )
        rows.append(row)
        if not args.json:
            loss = ", ".join(f"{x:.3f}" for x in row["loss"])
            align = ", ".join(f"{x:.3f}" for x in row["alignment"]) or "–"
            scale = ", ".join(f"{x:.2g}" for x in row["scale"]) or "–"
            print(f"| {m} | {loss} | {align} | {scale} |", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
