"""Probe one cell of experiment (b): the delayed target with the RNN learning, per method.

Trains the setup of ``reproduce_paper.py`` (b) — tanh RNN, H = 30, W_hh = 0.9 × orthogonal,
4 cues, Adam, β = 1, γ = 1, clip 1 (the critic too, unless ``--no-synth-clip``; (b) itself
now leaves the critic unclipped), batches of 16 — at one delay and window, for the
methods asked for, and prints per seed the final loss on 256 fresh sequences and, for the
synthetic-gradient methods, the alignment cos(l_t + ĝ_t, dL/dz_t) on 64 sequences at the
end of training. It varies what (b) holds fixed: the learning rates, the critic's hidden
layer, its standardised input (``+std``) and the training length.

    python scripts/probe_delayed.py --delay 30 --k 3 --batches 200 \\
        --methods tbptt "bp_lambda(1)" "bp_lambda(1)+std" --lr 1e-4 --synth-lr 3e-3

Methods: ``tbptt``, ``dni``, ``bp_lambda(λ)``, ``immediate``, ``bptt``; ``+std`` after a
synthetic-gradient method gives its critic standardised input
(``SequenceLearner(synth_normalize_input=True)``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python scripts/probe_delayed.py` from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

from bpl import SequenceLearner
from bpl.tasks import DelayedTarget

try:
    from reproduce_paper import _method_kwargs, _train, make_rnn
except ImportError:  # imported as scripts.probe_delayed
    from scripts.reproduce_paper import _method_kwargs, _train, make_rnn

_BASE = ("tbptt", "dni", "immediate", "bptt")


def parse_method(text: str) -> tuple[str, bool]:
    """``"bp_lambda(1)+std"`` -> ("bp_lambda(1)", True); checks the name."""
    std = text.endswith("+std")
    name = text[: -len("+std")] if std else text
    ok = name in _BASE
    if name.startswith("bp_lambda(") and name.endswith(")"):
        try:
            lam = float(name[len("bp_lambda(") : -1])
            ok = 0.0 <= lam <= 1.0
        except ValueError:
            ok = False
    if not ok:
        raise ValueError(
            f"method must be one of {_BASE} or bp_lambda(λ) with λ in [0, 1], optionally "
            f"followed by +std; got {text!r}"
        )
    if std and name in ("tbptt", "immediate", "bptt"):
        raise ValueError(f"{text!r}: +std needs a synthetic-gradient method (dni, bp_lambda)")
    return name, std


def check_positive_flags(args: argparse.Namespace, names: tuple[str, ...]) -> None:
    """Raise ValueError naming the first of ``names`` whose value is below 1."""
    for name in names:
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")


def probe(
    method: str,
    delay: int,
    k: int,
    batches: int,
    seeds: int,
    lr: float,
    synth_lr: float,
    synth_hidden: tuple[int, ...] = (),
    radius: float = 0.9,
    synth_clip: bool = True,
) -> dict:
    """Train ``seeds`` learners; return their final losses and alignments."""
    name, std = parse_method(method)
    losses, aligns = [], []
    for seed in range(seeds):
        task = DelayedTarget(delay, num_patterns=4, seed=seed)
        cell = make_rnn(task.input_size, 30, seed, nonlinearity="tanh", radius=radius)
        kw = dict(k=k, gamma=1.0, beta=1.0, lr=lr, synth_lr=synth_lr, max_grad_norm=1.0)
        kw["synth_max_grad_norm"] = "same" if synth_clip else None
        kw.update(_method_kwargs(name))
        if kw["credit"] in ("dni", "bp_lambda"):
            kw.update(synth_hidden_sizes=synth_hidden, synth_normalize_input=std)
        learner = SequenceLearner(cell, 2, **kw)
        gen = torch.Generator().manual_seed(1000 + seed)
        ok = _train(learner, lambda g=gen, t=task: t.sample(16, g), {"batches": batches})
        if not ok:
            losses.append(math.inf)
            continue
        losses.append(learner.evaluate(*task.sample(256, generator=10_000 + seed))["loss"])
        if learner.synthesiser is not None:
            aligns.append(learner.alignment(*task.sample(64, generator=5))[1])
    return {"method": method, "loss": losses, "alignment": aligns}


def main(argv: list[str] | None = None) -> list[dict]:
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
    p.add_argument("--lr", type=float, default=3e-4, help="network learning rate (default: 3e-4)")
    p.add_argument(
        "--synth-lr", type=float, default=1e-3, help="critic learning rate (default: 1e-3)"
    )
    p.add_argument(
        "--synth-hidden", default="", help="critic hidden sizes, e.g. 64 (default '': linear)"
    )
    p.add_argument(
        "--radius",
        type=float,
        default=0.9,
        help="W_hh = radius × orthogonal; smaller: the cue fades faster (default: 0.9, as (b))",
    )
    p.add_argument(
        "--no-synth-clip",
        action="store_true",
        help="do not clip the critic's update, as (b) now does (default here: clipped at "
        "norm 1 with the network, so that the earlier documented commands reproduce)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    try:
        check_positive_flags(args, ("delay", "k", "batches", "seeds", "threads"))
        try:
            hidden = tuple(int(s) for s in args.synth_hidden.split(",") if s.strip())
        except ValueError:
            raise ValueError(
                f"--synth-hidden must be comma-separated integers, got {args.synth_hidden!r}"
            ) from None
        for m in args.methods:
            parse_method(m)
        if not args.radius > 0:
            raise ValueError(f"--radius must be > 0, got {args.radius}")
    except ValueError as err:
        p.error(str(err))
    torch.set_num_threads(args.threads)
    rows = []
    if not args.json:
        print(
            f"delay {args.delay}, k {args.k}, {args.batches} batches of 16, seeds {args.seeds}, "
            f"W_hh radius {args.radius}, critic clipped: {not args.no_synth_clip}"
        )
        print("| method | loss per seed | alignment per seed |")
        print("|---|---|---|")
    for m in args.methods:
        row = probe(
            m,
            args.delay,
            args.k,
            args.batches,
            args.seeds,
            args.lr,
            args.synth_lr,
            hidden,
            args.radius,
            not args.no_synth_clip,
        )
        rows.append(row)
        if not args.json:
            loss = ", ".join(f"{x:.3f}" for x in row["loss"])
            align = ", ".join(f"{x:.3f}" for x in row["alignment"]) or "–"
            print(f"| {m} | {loss} | {align} |", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
