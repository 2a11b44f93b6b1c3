"""Probe one run of experiment (c): sequential digits with an LSTM, watched while it trains.

Trains the setup of ``reproduce_paper.py`` (c) — sklearn 8×8 digits row by row, LSTM,
γ = 0.9, λ = 1, β = 0.1, Adam (network 3e-3 clipped at norm 1, critic 1e-3), batches of
32 — for one method, window and seed, and every ``--every`` batches prints the test
accuracy, the critic's alignment cos(l_t + ĝ_t, dL/dz_t) on 64 training sequences, and the
mean norms of the state z_t and of the critic's prediction ĝ(z_t) at the last step. It
is how we saw that a critic clipped at norm 1 (``--synth-clip``) lets its predictions grow
without bound with an H = 30 LSTM (docs/reproducing.md):

    python scripts/probe_digits.py --method "bp_lambda(1)" --k 1 --batches 500 --synth-clip
    python scripts/probe_digits.py --method "bp_lambda(1)" --k 1 --batches 500

Methods: ``tbptt``, ``dni``, ``bp_lambda(λ)``, ``immediate``, ``bptt``; ``+std`` after a
synthetic-gradient method gives its critic standardised input. Needs scikit-learn
(``pip install -e '.[digits]'``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python scripts/probe_digits.py` from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

import bpl
from bpl import SequenceLearner
from bpl.tasks import SequentialDigits

try:
    from probe_delayed import check_positive_flags, parse_method
    from reproduce_paper import _method_kwargs
except ImportError:  # imported as scripts.probe_digits
    from scripts.probe_delayed import check_positive_flags, parse_method
    from scripts.reproduce_paper import _method_kwargs


def probe(
    method: str,
    k: int,
    hidden: int,
    batches: int,
    every: int,
    seed: int,
    beta: float = 0.1,
    synth_clip: bool = False,
) -> list[dict]:
    """Train one learner; return one row of measurements every ``every`` batches."""
    name, std = parse_method(method)
    task = SequentialDigits("sklearn", rows=True, seed=0)
    test = task.test_set()
    torch.manual_seed(seed)
    cell = bpl.LSTMCell(task.input_size, hidden)
    kw = dict(loss="ce", k=k, gamma=0.9, beta=beta, lr=3e-3, synth_lr=1e-3, max_grad_norm=1.0)
    kw["synth_max_grad_norm"] = "same" if synth_clip else None
    kw.update(_method_kwargs(name))
    if kw["credit"] in ("dni", "bp_lambda"):
        kw["synth_normalize_input"] = std
    learner = SequenceLearner(cell, 10, **kw)
    gen = torch.Generator().manual_seed(1000 + seed)
    probe_batch = task.sample(64, generator=5)
    rows = []
    for b in range(1, batches + 1):
        learner.train_batch(*task.sample(32, gen))
        if b % every and b != batches:
            continue
        row = {"batch": b, "accuracy": learner.evaluate(*test)["accuracy"]}
        with torch.no_grad():
            z = cell.initial_state(probe_batch.inputs.shape[1])
            for x in probe_batch.inputs:
                z = cell(x, z)
            row["state_norm"] = float(z.norm(dim=1).mean())
            if learner.synthesiser is not None:
                row["prediction_norm"] = float(learner.synthesiser(z).norm(dim=1).mean())
        if learner.synthesiser is not None:
            row["alignment"] = learner.alignment(*probe_batch)[1]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--method", default="bp_lambda(1)", help="method (default: bp_lambda(1))")
    p.add_argument("--k", type=int, default=1, help="window (default: 1)")
    p.add_argument("--hidden", type=int, default=30, help="LSTM units (default: 30)")
    p.add_argument("--batches", type=int, default=500, help="training batches (default: 500)")
    p.add_argument("--every", type=int, default=100, help="report every N batches (default: 100)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--beta", type=float, default=0.1, help="β on ĝ (default: 0.1, as (c))")
    p.add_argument(
        "--synth-clip",
        action="store_true",
        help="clip the critic's update at norm 1 with the network's (default: unclipped, as "
        "(c) now runs)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    try:
        check_positive_flags(args, ("k", "hidden", "batches", "every", "threads"))
        if args.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {args.seed}")
        if not args.beta >= 0:
            raise ValueError(f"--beta must be >= 0, got {args.beta}")
        parse_method(args.method)
    except ValueError as err:
        p.error(str(err))
    try:
        import sklearn  # noqa: F401
    except ImportError:
        p.error("scikit-learn is needed for the digits: pip install -e '.[digits]'")
    torch.set_num_threads(args.threads)
    rows = probe(
        args.method,
        args.k,
        args.hidden,
        args.batches,
        args.every,
        args.seed,
        args.beta,
        args.synth_clip,
    )
    if args.json:
        print(json.dumps(rows, indent=2))
        return rows
    print(
        f"{args.method}, k {args.k}, LSTM H = {args.hidden}, seed {args.seed}, β {args.beta}, "
        f"critic clipped: {args.synth_clip}"
    )
    print("| batch | test accuracy | alignment | ‖z_T‖ | ‖ĝ(z_T)‖ |")
    print("|---|---|---|---|---|")
    for r in rows:
        align = f"{r['alignment']:.3f}" if "alignment" in r else "–"
        pred = f"{r['prediction_norm']:.3g}" if "prediction_norm" in r else "–"
        print(f"| {r['batch']} | {r['accuracy']:.3f} | {align} | {r['state_norm']:.2f} | {pred} |")
    return rows


if __name__ == "__main__":
    main()
