"""Reproduce the experiments of Pemberton & Costa (TMLR 2024), "BP(λ): Online Learning via
Synthetic Gradients", with bpl's sequence learner, on CPU.

    python scripts/reproduce_paper.py [--quick | --preset {quick,medium,full}] [--out DIR]
        [--only a,b,c,d,e] [--mnist PATH] [--threads N]

Writes into ``--out`` (default ``runs/reproduce``): ``results.json`` (every number and the
configuration), ``results.md`` (the tables) and one PNG per experiment:

(a) frozen linear RNN, only the gradient critic learns: alignment vs training per λ and delay;
(b) delayed target with the RNN learning: final loss per method, window k and delay;
(c) sequential digits (LSTM): test accuracy per method and k;
(d) copy-repeat (LSTM, curriculum): level reached per method with the same number of batches;
(e) peak memory and time per step vs sequence length, bptt vs bp_lambda.

Optional dependencies are checked before anything runs: without scikit-learn (the
``digits`` extra) (c) is skipped unless ``--mnist`` is given; without matplotlib (the
``plots`` extra) no figures are drawn. The other experiments run and write their results.

Layout: time-first (T, B, ·) everywhere, as in ``bpl.experiments``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import statistics
import time
import weakref
from pathlib import Path

import torch

import bpl
from agents.cli import set_threads
from bpl.experiments import (
    CopyRepeatCurriculum,
    DelayedTarget,
    SequenceLearner,
    SequentialDigits,
    make_rnn,
    method_kwargs,
    train,
)

# --------------------------------------------------------------------------- presets
#: Sizes of every experiment. ``quick`` is a smoke test (< 1 min); ``medium`` is what
#: docs/results/paper_*.md report; ``full`` is larger (more seeds, longer training).
#: ``sg_max_grad_norm`` None: the critic's update is not clipped (clipped at the
#: network's norm 1 it held its alignment down in (b) and its predictions grew without
#: bound in (c), docs/results/paper_b_delayed_target.md, paper_c_digits.md).
PRESETS: dict[str, dict] = {
    "quick": {
        "a": {"delays": [10, 20], "lams": [0.0, 1.0], "batches": 20, "seeds": 1, "hidden": []},
        "b": {
            "delays": [6],
            "ks": [1, 2],
            "batches": 5,
            "seeds": 1,
            "batch_size": 8,
            "sg_max_grad_norm": None,
        },
        "c": {
            "ks": [1, 2],
            "batches": 5,
            "seeds": 1,
            "hidden": 8,
            "batch_size": 16,
            "sg_max_grad_norm": None,
        },
        "d": {
            "ks": [2],
            "batches": 10,
            "seeds": 1,
            "hidden": 8,
            "batch_size": 8,
            "sg_max_grad_norm": None,
        },
        "e": {"lengths": [10, 20], "hidden": 16, "batch_size": 4},
    },
    "medium": {
        "a": {
            "delays": [10, 20, 30, 60, 120],
            "lams": [0.0, 0.25, 0.5, 0.75, 1.0],
            "batches": 100,
            "seeds": 2,
            "hidden": [60, 120],
        },
        "b": {
            "delays": [10, 30, 200],
            "ks": [1, 2, 3, 5],
            "batches": 60,
            "seeds": 4,
            "batch_size": 16,
            "sg_max_grad_norm": None,
        },
        "c": {
            "ks": [1, 2, 3, 5],
            "batches": 1000,
            "seeds": 3,
            "hidden": 30,
            "batch_size": 32,
            "sg_max_grad_norm": None,
        },
        "d": {
            "ks": [1, 3],
            "batches": 1000,
            "seeds": 2,
            "hidden": 16,
            "batch_size": 16,
            "learning_rate": 1e-2,
            "sg_max_grad_norm": None,
        },
        "e": {"lengths": [50, 100, 200, 400, 800], "hidden": 30, "batch_size": 16},
    },
    "full": {
        "a": {
            "delays": [10, 20, 30, 40, 50, 60, 120, 200],
            "lams": [0.0, 0.25, 0.5, 0.75, 1.0],
            "batches": 600,
            "seeds": 3,
            "hidden": [60, 120, 200],
        },
        "b": {
            "delays": [10, 30, 60, 120, 200],
            "ks": [1, 2, 3, 5],
            "batches": 100,
            "seeds": 5,
            "batch_size": 16,
            "sg_max_grad_norm": None,
        },
        "c": {
            "ks": [1, 2, 3, 5],
            "batches": 2000,
            "seeds": 5,
            "hidden": 30,
            "batch_size": 32,
            "sg_max_grad_norm": None,
        },
        "d": {
            "ks": [1, 3],
            "batches": 1500,
            "seeds": 3,
            "hidden": 32,
            "batch_size": 16,
            "learning_rate": 1e-2,
            "sg_max_grad_norm": None,
        },
        "e": {"lengths": [50, 100, 200, 400, 800, 1600], "hidden": 30, "batch_size": 16},
    },
}

METHOD_ORDER = ["immediate", "tbptt", "dni", "bp_lambda(0.5)", "bp_lambda(1)", "bptt"]


def _median(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return statistics.median(xs) if xs else float("nan")


# --------------------------------------------------------------------------- (a)
def experiment_alignment(cfg: dict, bar) -> dict:
    """Frozen linear RNN (H = 30), only the gradient critic learns; alignment of l_t + ĝ_t with
    dL/dz_t over training, for each λ and delay (one fixed cue, batch of 1: every row of
    a batch would be the same sequence)."""
    H, points = 30, 10
    curves: dict = {}
    final: dict = {}
    runs = [(d, lam, None) for d in cfg["delays"] for lam in cfg["lams"]]
    runs += [(d, 1.0, (64,)) for d in cfg["hidden"]]
    runs += [(d, 1.0, ()) for d in cfg["hidden"] if d not in cfg["delays"]]
    for delay, lam, hidden in runs:
        tag = f"delay={delay} lam={lam}" + ("" if hidden is None else f" hidden={list(hidden)}")
        per_seed, per_seed_curve = [], []
        for seed in range(cfg["seeds"]):
            bar.set_description(f"(a) {tag} seed={seed}")
            task = DelayedTarget(delay, seed=seed)
            batch = task.sample(1, generator=seed)
            cell = make_rnn(task.input_size, H, seed)
            learner = SequenceLearner(
                cell,
                2,
                credit="bp_lambda",
                sg_lambda=lam,
                sg_gamma=1.0,
                learning_rate=0.0,
                sg_learning_rate=3e-3,
                sg_hidden_sizes=hidden or (),
            )
            every = max(1, cfg["batches"] // points)
            curve = []
            for i in range(cfg["batches"] + 1):
                if i % every == 0 or i == cfg["batches"]:
                    curve.append((i, learner.alignment(*batch)[1]))
                if i < cfg["batches"]:
                    learner.train_batch(*batch)
            per_seed.append(curve[-1][1])
            per_seed_curve.append(curve)
            bar.update(1)
        key = f"{delay}|{lam}|{'-' if hidden is None else ','.join(map(str, hidden)) or 'linear'}"
        final[key] = {
            "delay": delay,
            "lam": lam,
            "hidden": hidden,
            "alignment": per_seed,
            "median": _median(per_seed),
        }
        curves[key] = per_seed_curve
    return {"config": cfg, "final": final, "curves": curves}


# --------------------------------------------------------------------------- (b)
def experiment_delayed(cfg: dict, bar) -> dict:
    """An RNN (H = 30; tanh, W_hh = 0.9 × orthogonal by default, see ``make_rnn``) learns
    the delayed target with 4 cues and 4 points on the circle, so that it must remember
    which cue it saw; final loss on a fresh batch after the same number of training
    sequences (Adam, network lr 3e-4, critic lr 1e-3, β = 1, γ = 1, the network's
    update clipped at norm 1, the critic's by ``sg_max_grad_norm``: None in every
    preset, because clipping it at 1 held its alignment down,
    docs/results/paper_b_delayed_target.md)."""
    H = 30
    out: dict = {}
    runs = []
    for delay in cfg["delays"]:
        for method in METHOD_ORDER:
            ks = [None] if method in ("bptt", "immediate") else cfg["ks"]
            runs += [(delay, method, k) for k in ks]
    for delay, method, k in runs:
        losses = []
        for seed in range(cfg["seeds"]):
            bar.set_description(f"(b) delay={delay} {method} k={k} seed={seed}")
            task = DelayedTarget(delay, num_patterns=4, seed=seed)
            cell = make_rnn(
                task.input_size,
                H,
                seed,
                nonlinearity=cfg.get("nonlinearity", "tanh"),
                radius=cfg.get("radius", 0.9),
            )
            learner = SequenceLearner(
                cell,
                2,
                k=k or 1,
                sg_gamma=1.0,
                sg_beta=1.0,
                learning_rate=cfg.get("learning_rate", 3e-4),
                sg_learning_rate=cfg.get("sg_learning_rate", 1e-3),
                max_grad_norm=1.0,
                sg_max_grad_norm=cfg.get("sg_max_grad_norm"),
                **method_kwargs(method),
            )
            gen = torch.Generator().manual_seed(1000 + seed)
            if train(learner, lambda g=gen, t=task: t.sample(cfg["batch_size"], g), cfg["batches"]):
                test = task.sample(256, generator=10_000 + seed)
                losses.append(learner.evaluate(*test)["loss"])
            else:
                losses.append(math.inf)  # diverged (NaN/inf): counted as the worst loss
            bar.update(1)
        out[f"{delay}|{method}|{k}"] = {
            "delay": delay,
            "method": method,
            "k": k,
            "loss": losses,
            "median": _median(losses),
        }
    # the no-memory floor: the best constant output has loss ½ E‖y − ȳ‖²
    floors = {}
    for delay in cfg["delays"]:
        pts = DelayedTarget(delay, num_patterns=4, seed=0).points
        floors[delay] = float(0.5 * (pts - pts.mean(0)).pow(2).sum(1).mean())
    return {"config": cfg, "results": out, "no_memory_loss": floors}


# --------------------------------------------------------------------------- (c)
def experiment_digits(cfg: dict, bar, mnist: str | None) -> dict:
    """LSTM on sequential digits, row by row; test accuracy per method and k
    (γ = 0.9, λ = 1, β = 0.1 as in the paper; Adam, network lr 3e-3 clipped at norm 1,
    critic lr 1e-3 clipped by ``sg_max_grad_norm``: None in every preset —
    clipped at 1, the critic's predictions of an H = 30 LSTM grew without bound,
    docs/results/paper_c_digits.md)."""
    task = SequentialDigits(mnist or "sklearn", rows=True, seed=0)
    test = task.test_set()
    out: dict = {}
    runs = []
    for method in ["immediate", "tbptt", "dni", "bp_lambda(1)", "bptt"]:
        ks = [None] if method in ("bptt", "immediate") else cfg["ks"]
        runs += [(method, k) for k in ks]
    for method, k in runs:
        accs = []
        for seed in range(cfg["seeds"]):
            bar.set_description(f"(c) {method} k={k} seed={seed}")
            torch.manual_seed(seed)
            cell = bpl.LSTMCell(task.input_size, cfg["hidden"])
            learner = SequenceLearner(
                cell,
                10,
                loss="ce",
                k=k or 1,
                sg_gamma=0.9,
                sg_beta=0.1,
                learning_rate=3e-3,
                sg_learning_rate=1e-3,
                max_grad_norm=1.0,
                sg_max_grad_norm=cfg.get("sg_max_grad_norm"),
                **method_kwargs(method),
            )
            gen = torch.Generator().manual_seed(1000 + seed)
            ok = train(learner, lambda g=gen: task.sample(cfg["batch_size"], g), cfg["batches"])
            accs.append(learner.evaluate(*test)["accuracy"] if ok else 0.0)
            bar.update(1)
        out[f"{method}|{k}"] = {"method": method, "k": k, "accuracy": accs, "median": _median(accs)}
    return {
        "config": cfg,
        "source": mnist or "sklearn 8x8 digits, row by row (T = 8)",
        "results": out,
    }


# --------------------------------------------------------------------------- (d)
def experiment_copy(cfg: dict, bar) -> dict:
    """LSTM on copy-repeat with the curriculum; level reached after the same number of
    batches (γ = 0.9, λ = 1, β = 1; the critic unclipped in every preset, as (b), (c))."""
    out: dict = {}
    runs = []
    for method in ["immediate", "tbptt", "dni", "bp_lambda(1)", "bptt"]:
        ks = [None] if method in ("bptt", "immediate") else cfg["ks"]
        runs += [(method, k) for k in ks]
    for method, k in runs:
        levels, lengths = [], []
        for seed in range(cfg["seeds"]):
            bar.set_description(f"(d) {method} k={k} seed={seed}")
            torch.manual_seed(seed)
            cur = CopyRepeatCurriculum(threshold=0.15, window=10)
            cell = bpl.LSTMCell(cur.task().input_size, cfg["hidden"])
            learner = SequenceLearner(
                cell,
                cur.task().output_size,
                loss="bce",
                k=k or 1,
                sg_gamma=0.9,
                sg_beta=1.0,
                learning_rate=cfg.get("learning_rate", 3e-3),
                sg_learning_rate=1e-3,
                max_grad_norm=1.0,
                sg_max_grad_norm=cfg.get("sg_max_grad_norm"),
                **method_kwargs(method),
            )
            gen = torch.Generator().manual_seed(1000 + seed)
            for _ in range(cfg["batches"]):
                batch = cur.task().sample(cfg["batch_size"], gen)
                loss = learner.train_batch(*batch)["loss"]
                # nats summed over output bits and steps -> bits per output bit
                n_out = float(batch.mask.sum()) / batch.mask.shape[1] * batch.targets.shape[2]
                cur.update(loss / math.log(2) / n_out)
            levels.append(cur.level)
            lengths.append([cur.length, cur.repeats])
            bar.update(1)
        out[f"{method}|{k}"] = {
            "method": method,
            "k": k,
            "level": levels,
            "N_R": lengths,
            "median": _median(levels),
        }
    return {"config": cfg, "results": out}


# --------------------------------------------------------------------------- (e)
class _SavedBytes:
    """Live bytes of tensors autograd keeps for the backward pass, and their peak."""

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0

    def pack(self, t: torch.Tensor):
        n = t.numel() * t.element_size()
        self.live += n
        self.peak = max(self.peak, self.live)
        holder = _Holder(t)
        weakref.finalize(holder, self._free, n)
        return holder

    def _free(self, n: int) -> None:
        self.live -= n

    @staticmethod
    def unpack(holder: _Holder) -> torch.Tensor:
        return holder.tensor


class _Holder:
    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor


def experiment_memory(cfg: dict, bar) -> dict:
    """Peak memory (autograd's saved tensors + BP(λ) trace) and time per step against
    sequence length, for bptt and bp_lambda (k = 1), linear RNN on the delayed target."""
    out: dict = {}
    for T in cfg["lengths"]:
        for method in ["bptt", "bp_lambda(1)"]:
            bar.set_description(f"(e) T={T} {method}")
            task = DelayedTarget(T, num_patterns=4, seed=0)
            cell = make_rnn(task.input_size, cfg["hidden"], 0)
            learner = SequenceLearner(
                cell, 2, learning_rate=1e-3, sg_learning_rate=1e-3, **method_kwargs(method)
            )
            batch = task.sample(cfg["batch_size"], 0)
            learner.train_batch(*batch)  # warm-up (allocates the trace, optimizer state)
            meter = _SavedBytes()
            t0 = time.perf_counter()
            with torch.autograd.graph.saved_tensors_hooks(meter.pack, meter.unpack):
                learner.train_batch(*batch)
            seconds = time.perf_counter() - t0
            trace = 0
            if learner.bp_lambda is not None:
                trace = learner.bp_lambda.trace.numel() * learner.bp_lambda.trace.element_size()
            out[f"{T}|{method}"] = {
                "T": T,
                "method": method,
                "saved_bytes_peak": meter.peak,
                "trace_bytes": trace,
                "peak_bytes": meter.peak + trace,
                "ms_per_step": 1e3 * seconds / T,
            }
            bar.update(1)
    return {"config": cfg, "results": out}


# --------------------------------------------------------------------------- output
def _count_runs(preset: dict, only: set[str]) -> int:
    n = 0
    if "a" in only:
        c = preset["a"]
        extra = len(c["hidden"]) + len([d for d in c["hidden"] if d not in c["delays"]])
        n += (len(c["delays"]) * len(c["lams"]) + extra) * c["seeds"]
    if "b" in only:
        c = preset["b"]
        n += len(c["delays"]) * (4 * len(c["ks"]) + 2) * c["seeds"]
    if "c" in only:
        c = preset["c"]
        n += (3 * len(c["ks"]) + 2) * c["seeds"]
    if "d" in only:
        c = preset["d"]
        n += (3 * len(c["ks"]) + 2) * c["seeds"]
    if "e" in only:
        n += 2 * len(preset["e"]["lengths"])
    return n


def _fmt(x: float, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def write_markdown(results: dict, path: Path) -> None:
    lines = [f"# BP(λ) reproduction — preset `{results['preset']}`", ""]
    lines.append(
        f"Total time: {results['seconds'] / 60:.1f} min, torch threads: "
        f"{results['threads']}. Medians over seeds."
    )
    for note in results.get("skipped", []):
        lines += ["", note + "."]
    if "a" in results:
        a = results["a"]
        lams = a["config"]["lams"]
        lines += ["", "## (a) Alignment, frozen linear RNN (H = 30), final cos(l + ĝ, dL/dz)", ""]
        lines.append("| delay | " + " | ".join(f"λ={lam}" for lam in lams) + " | λ=1, hidden 64 |")
        lines.append("|---" * (len(lams) + 2) + "|")
        delays = sorted({v["delay"] for v in a["final"].values()})
        for d in delays:
            row = [_fmt(a["final"].get(f"{d}|{lam}|-", {}).get("median")) for lam in lams]
            hid = a["final"].get(f"{d}|1.0|64", {}).get("median")
            if f"{d}|1.0|-" not in a["final"] and f"{d}|1.0|linear" in a["final"]:
                row[-1] = _fmt(a["final"][f"{d}|1.0|linear"]["median"])
            lines.append(f"| {d} | " + " | ".join(row) + f" | {_fmt(hid)} |")
    if "b" in results:
        b = results["b"]
        lines += ["", "## (b) Delayed target, RNN learning: final loss (lower is better)", ""]
        floors = b["no_memory_loss"]
        lines.append(
            "No-memory loss (best constant output): "
            + ", ".join(f"delay {d}: {_fmt(v)}" for d, v in floors.items())
            + "."
        )
        lines.append("")
        ks = b["config"]["ks"]
        head = ["delay", "k"] + METHOD_ORDER
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|---" * len(head) + "|")
        for d in b["config"]["delays"]:
            for k in ks:
                row = [str(d), str(k)]
                for m in METHOD_ORDER:
                    kk = None if m in ("bptt", "immediate") else k
                    row.append(_fmt(b["results"][f"{d}|{m}|{kk}"]["median"]))
                lines.append("| " + " | ".join(row) + " |")
    for key, title in [
        ("c", "(c) Sequential digits, LSTM: test accuracy"),
        ("d", "(d) Copy-repeat, LSTM: curriculum level reached"),
    ]:
        if key not in results:
            continue
        r = results[key]
        lines += ["", f"## {title}", ""]
        methods = ["immediate", "tbptt", "dni", "bp_lambda(1)", "bptt"]
        lines.append("| k | " + " | ".join(methods) + " |")
        lines.append("|---" * (len(methods) + 1) + "|")
        for k in r["config"]["ks"]:
            row = [str(k)]
            for m in methods:
                kk = None if m in ("bptt", "immediate") else k
                entry = r["results"][f"{m}|{kk}"]
                cell = _fmt(entry["median"], 3 if key == "c" else 1)
                if key == "d":
                    cell += " (" + ", ".join(f"N={n} R={rr}" for n, rr in entry["N_R"]) + ")"
                row.append(cell)
            lines.append("| " + " | ".join(row) + " |")
    if "e" in results:
        e = results["e"]
        lines += ["", "## (e) Peak memory and time per step (one batch)", ""]
        lines.append("| T | bptt MiB | bp_lambda MiB | bptt ms/step | bp_lambda ms/step |")
        lines.append("|---|---|---|---|---|")
        for T in e["config"]["lengths"]:
            p, q = e["results"][f"{T}|bptt"], e["results"][f"{T}|bp_lambda(1)"]
            lines.append(
                f"| {T} | {p['peak_bytes'] / 2**20:.2f} | {q['peak_bytes'] / 2**20:.2f} | "
                f"{p['ms_per_step']:.2f} | {q['ms_per_step']:.2f} |"
            )
    path.write_text("\n".join(lines) + "\n")


def _figure_memory(plt, e: dict, out: Path) -> str:
    """(e): peak MiB and ms per step against T, one line per method."""
    Ts = e["config"]["lengths"]
    fig, axes = plt.subplots(1, 2, figsize=(7, 2.8))
    for m in ["bptt", "bp_lambda(1)"]:
        rs = [e["results"][f"{T}|{m}"] for T in Ts]
        axes[0].plot(Ts, [r["peak_bytes"] / 2**20 for r in rs], "o-", label=m)
        axes[1].plot(Ts, [r["ms_per_step"] for r in rs], "o-", label=m)
    axes[0].set_ylabel("peak MiB")
    axes[1].set_ylabel("ms per step")
    for ax in axes:
        ax.set_xlabel("sequence length T")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "e_memory_time.png", dpi=80)
    plt.close(fig)
    return "e_memory_time.png"


def write_figures(results: dict, out: Path) -> list[str]:
    """One PNG per experiment in ``results`` (needs matplotlib); return the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    if "a" in results:
        a = results["a"]
        delays = a["config"]["delays"]
        fig, axes = plt.subplots(1, len(delays), figsize=(3.2 * len(delays), 2.8), squeeze=False)
        for ax, d in zip(axes[0], delays, strict=True):
            for lam in a["config"]["lams"]:
                curves = a["curves"][f"{d}|{lam}|-"]
                xs = [i for i, _ in curves[0]]
                ys = [_median([c[j][1] for c in curves]) for j in range(len(xs))]
                ax.plot(xs, ys, label=f"λ={lam}", color=plt.cm.viridis(lam))
            ax.set_title(f"delay {d}")
            ax.set_xlabel("sequences")
            ax.set_ylim(-0.1, 1.05)
        axes[0][0].set_ylabel("alignment")
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "a_alignment.png", dpi=80)
        plt.close(fig)
        written.append("a_alignment.png")
    if "b" in results:
        b = results["b"]
        ks = b["config"]["ks"]
        fig, axes = plt.subplots(1, len(ks), figsize=(3.2 * len(ks), 2.8), squeeze=False)
        for ax, k in zip(axes[0], ks, strict=True):
            for m in METHOD_ORDER:
                kk = None if m in ("bptt", "immediate") else k
                ds = b["config"]["delays"]
                ax.plot(ds, [b["results"][f"{d}|{m}|{kk}"]["median"] for d in ds], "o-", label=m)
            ax.set_xscale("log")
            ax.set_title(f"k = {k}")
            ax.set_xlabel("delay")
        axes[0][0].set_ylabel("final loss")
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "b_delayed_target.png", dpi=80)
        plt.close(fig)
        written.append("b_delayed_target.png")
    for key, fname, ylabel in [
        ("c", "c_digits.png", "test accuracy"),
        ("d", "d_copy_repeat.png", "curriculum level"),
    ]:
        if key not in results:
            continue
        r = results[key]
        methods = ["immediate", "tbptt", "dni", "bp_lambda(1)", "bptt"]
        ks = r["config"]["ks"]
        fig, ax = plt.subplots(figsize=(5, 3))
        width = 0.8 / len(methods)
        for j, m in enumerate(methods):
            vals = [
                r["results"][f"{m}|{None if m in ('bptt', 'immediate') else k}"]["median"]
                for k in ks
            ]
            ax.bar([i + j * width for i in range(len(ks))], vals, width, label=m)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(ks))], [f"k={k}" for k in ks])
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / fname, dpi=80)
        plt.close(fig)
        written.append(fname)
    if "e" in results:
        written.append(_figure_memory(plt, results["e"], out))
    return written


def checks(results: dict) -> dict:
    """The paper's claims these results should bear out, each evaluated on them (an
    experiment that did not run has no entry)."""
    out: dict = {}
    if "a" in results:
        fin = results["a"]["final"]
        lams = results["a"]["config"]["lams"]
        delays = results["a"]["config"]["delays"]
        at1 = {d: fin[f"{d}|1.0|-"]["median"] for d in delays if f"{d}|1.0|-" in fin}
        out["a_lambda1_ge_0.95_up_to_30"] = all(v >= 0.95 for d, v in at1.items() if d <= 30)
        mono = {}
        for d in delays:
            vals = [fin[f"{d}|{lam}|-"]["median"] for lam in lams]
            mono[d] = all(b >= a - 1e-9 for a, b in zip(vals, vals[1:], strict=False))
        out["a_monotone_in_lambda"] = mono
    if "b" in results:
        res = results["b"]["results"]
        ok = {}
        for d in results["b"]["config"]["delays"]:
            for k in results["b"]["config"]["ks"]:
                if d >= 3 * k:
                    bp = res[f"{d}|bp_lambda(1)|{k}"]["median"]
                    ok[f"delay={d},k={k}"] = bool(
                        bp < res[f"{d}|tbptt|{k}"]["median"] and bp < res[f"{d}|dni|{k}"]["median"]
                    )
        out["b_bp1_beats_tbptt_and_dni"] = ok
    if "c" in results:
        res = results["c"]["results"]
        out["c_bp1_beats_tbptt_k_le_3"] = {
            k: bool(res[f"bp_lambda(1)|{k}"]["median"] > res[f"tbptt|{k}"]["median"])
            for k in results["c"]["config"]["ks"]
            if k <= 3
        }
    if "e" in results:
        rs = results["e"]["results"]
        Ts = results["e"]["config"]["lengths"]
        bp = [rs[f"{T}|bp_lambda(1)"]["peak_bytes"] for T in Ts]
        out["e_bp_lambda_memory_flat"] = max(bp) <= 1.05 * min(bp)
    return out


def optional_dependencies(only: set[str], mnist: str | None) -> tuple[set[str], bool, list[str]]:
    """Check the optional dependencies before anything runs.

    :return: the experiments of ``only`` that can run, whether figures can be drawn, and
        one message per missing extra (what is left out and how to install it).
    """
    notes = []
    if "c" in only and mnist is None and importlib.util.find_spec("sklearn") is None:
        only = only - {"c"}
        notes.append(
            "(c) skipped: the 8×8 digits need scikit-learn: pip install 'bplambda[digits]' "
            "(or give --mnist PATH)"
        )
    figures = importlib.util.find_spec("matplotlib") is not None
    if not figures:
        notes.append("no figures: drawing them needs matplotlib: pip install 'bplambda[plots]'")
    return only, figures, notes


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="toy sizes (same as --preset quick)")
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default=None, help="experiment sizes (default: medium)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/reproduce"), help="output folder")
    parser.add_argument("--only", default="a,b,c,d,e", help="comma-separated subset of a,b,c,d,e")
    parser.add_argument(
        "--mnist",
        default=None,
        help="local MNIST .npz (x_train, y_train, x_test, y_test) for (c); never downloaded",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: $OMP_NUM_THREADS, else 1)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: list[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick and args.preset not in (None, "quick"):
        parser.error("--quick conflicts with --preset " + args.preset)
    name = "quick" if args.quick else (args.preset or "medium")
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    bad = only - set("abcde")
    if bad:
        parser.error(f"--only takes letters from a,b,c,d,e, got {sorted(bad)}")
    try:
        threads = set_threads(args.threads)
    except ValueError as err:
        parser.error(f"--{err}")
    only, figures, notes = optional_dependencies(only, args.mnist)
    for note in notes:
        print(note)
    preset = PRESETS[name]
    args.out.mkdir(parents=True, exist_ok=True)

    from tqdm.auto import tqdm

    t0 = time.time()
    results: dict = {"preset": name, "threads": threads, "torch": torch.__version__}
    results["skipped"] = notes
    with tqdm(total=_count_runs(preset, only), disable=args.no_progress, unit="run") as bar:
        if "a" in only:
            results["a"] = experiment_alignment(preset["a"], bar)
        if "b" in only:
            results["b"] = experiment_delayed(preset["b"], bar)
        if "c" in only:
            results["c"] = experiment_digits(preset["c"], bar, args.mnist)
        if "d" in only:
            results["d"] = experiment_copy(preset["d"], bar)
        if "e" in only:
            results["e"] = experiment_memory(preset["e"], bar)
    results["seconds"] = time.time() - t0
    results["checks"] = checks(results)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    write_markdown(results, args.out / "results.md")
    results["figures"] = write_figures(results, args.out) if figures else []
    print(
        f"wrote {args.out}/results.json, results.md"
        + "".join(f", {f}" for f in results["figures"])
        + f" in {results['seconds']:.0f} s"
    )
    print(json.dumps(results["checks"], indent=1, default=str))
    return results


if __name__ == "__main__":
    main()
