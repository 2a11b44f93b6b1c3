"""The experiments of Pemberton & Costa (TMLR 2024) as functions of a preset's
configuration, run by ``scripts/reproduce_paper.py`` (which writes their tables and
figures):

(a) frozen linear RNN, only the gradient critic learns: alignment vs training per λ and delay;
(b) delayed target with the RNN learning: final loss per method, window k and delay;
(c) sequential digits (LSTM): test accuracy per method and k;
(d) copy-repeat (LSTM, curriculum): level reached per method with the same number of
    sequences;
(e) peak memory and time per step vs sequence length, bptt vs bp_lambda.

Each ``experiment_*(cfg, bar)`` takes its preset's dict and a progress bar (anything
with ``set_description`` and ``update``) and returns a JSON-ready dict; :func:`checks`
evaluates the paper's claims on them. Layout: time-first (T, B, ·).
"""

from __future__ import annotations

import math
import statistics
import time
import weakref

import torch

from ..cells import LSTMCell
from .harness import make_rnn, method_kwargs, train
from .sequence import SequenceLearner
from .tasks import Batch, CopyRepeatCurriculum, DelayedTarget, SequentialDigits

#: the keys of (b)'s configuration that set the critic of dni and bp_lambda
CRITIC_KEYS = ("sg_hidden_sizes", "sg_time_input", "sg_beta")


def to_device(batch: Batch, device: torch.device | str) -> Batch:
    """The batch's tensors on ``device``."""
    return Batch(*(t.to(device) for t in batch))


def _delayed_kwargs(cfg: dict, method: str, k: int | None) -> dict:
    """(b)'s SequenceLearner options for one method: the critic's settings of
    :data:`CRITIC_KEYS` for dni / bp_lambda, e-prop traces (``network_traces``) at k = 1
    for every method but bptt."""
    kw = method_kwargs(method)
    if kw["credit"] in ("dni", "bp_lambda"):
        kw.update({key: cfg[key] for key in CRITIC_KEYS if key in cfg})
    if cfg.get("network_traces") and kw["credit"] != "bptt" and (k or 1) == 1:
        kw["network_traces"] = cfg["network_traces"]
    return kw


METHOD_ORDER = ["immediate", "tbptt", "dni", "bp_lambda(0.5)", "bp_lambda(1)", "bptt"]


def median(xs: list[float]) -> float:
    """The median of the finite-or-inf values of ``xs`` (NaN and None left out)."""
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
            "median": median(per_seed),
        }
        curves[key] = per_seed_curve
    return {"config": cfg, "final": final, "curves": curves}


# --------------------------------------------------------------------------- (b)
def experiment_delayed(cfg: dict, bar, device: torch.device | str = "cpu") -> dict:
    """An RNN (H = 30; tanh, W_hh = ``radius`` × orthogonal, leak ``alpha``, see
    ``make_rnn``) learns the delayed target with 4 cues and 4 points on the circle, so that
    it must remember which cue it saw; final loss on a fresh batch after the same number
    of training sequences (Adam, network lr 3e-4, critic lr 1e-3, β = 1 unless
    ``sg_beta``, γ = 1, the network's update clipped at norm 1, the critic's by
    ``sg_max_grad_norm``: None in every preset, because clipping it at 1 held its
    alignment down, docs/results/paper_b_delayed_target.md). ``network_traces``: every
    method but bptt learns from e-prop traces at k = 1; ``sg_hidden_sizes``,
    ``sg_time_input``: the critic of dni and bp_lambda."""
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
            losses.append(_delayed_run(cfg, delay, method, k, seed, device))
            bar.update(1)
        out[f"{delay}|{method}|{k}"] = {
            "delay": delay,
            "method": method,
            "k": k,
            "loss": losses,
            "median": median(losses),
        }
    # the no-memory floor: the best constant output has loss ½ E‖y − ȳ‖²
    floors = {}
    for delay in cfg["delays"]:
        pts = DelayedTarget(delay, num_patterns=4, seed=0).points
        floors[delay] = float(0.5 * (pts - pts.mean(0)).pow(2).sum(1).mean())
    return {"config": cfg, "results": out, "no_memory_loss": floors}


def _delayed_run(cfg: dict, delay: int, method: str, k: int | None, seed: int, device) -> float:
    """One (b) training run; its final test loss (inf if it diverged)."""
    task = DelayedTarget(delay, num_patterns=4, seed=seed)
    cell = make_rnn(
        task.input_size,
        30,
        seed,
        nonlinearity=cfg.get("nonlinearity", "tanh"),
        radius=cfg.get("radius", 0.9),
        alpha=cfg.get("alpha", 0.0),
    ).to(device)
    learner = SequenceLearner(
        cell,
        2,
        k=k or 1,
        sg_gamma=1.0,
        learning_rate=cfg.get("learning_rate", 3e-4),
        sg_learning_rate=cfg.get("sg_learning_rate", 1e-3),
        max_grad_norm=1.0,
        sg_max_grad_norm=cfg.get("sg_max_grad_norm"),
        **_delayed_kwargs(cfg, method, k),
    )
    gen = torch.Generator().manual_seed(1000 + seed)
    sample = lambda: to_device(task.sample(cfg["batch_size"], gen), device)  # noqa: E731
    if not train(learner, sample, cfg["batches"]):
        return math.inf  # diverged (NaN/inf): counted as the worst loss
    test = to_device(task.sample(256, generator=10_000 + seed), device)
    return learner.evaluate(*test)["loss"]


# --------------------------------------------------------------------------- (c)
def experiment_digits(
    cfg: dict, bar, mnist: str | None, device: torch.device | str = "cpu"
) -> dict:
    """LSTM on sequential digits, row by row; test accuracy per method and k
    (γ = 0.9, λ = 1, β = 0.1 as in the paper; Adam, network lr 3e-3 clipped at norm 1,
    critic lr 1e-3 clipped by ``sg_max_grad_norm``: None in every preset —
    clipped at 1, the critic's predictions of an H = 30 LSTM grew without bound,
    docs/results/paper_c_digits.md)."""
    task = SequentialDigits(mnist or "sklearn", rows=True, seed=0)
    test = to_device(task.test_set(), device)
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
            cell = LSTMCell(task.input_size, cfg["hidden"], device=device)
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
            sample = lambda g=gen: to_device(task.sample(cfg["batch_size"], g), device)  # noqa: E731
            ok = train(learner, sample, cfg["batches"])
            accs.append(learner.evaluate(*test)["accuracy"] if ok else 0.0)
            bar.update(1)
        out[f"{method}|{k}"] = {"method": method, "k": k, "accuracy": accs, "median": median(accs)}
    return {
        "config": cfg,
        "source": mnist or "sklearn 8x8 digits, row by row (T = 8)",
        "results": out,
    }


# --------------------------------------------------------------------------- (d)
def experiment_copy(cfg: dict, bar, device: torch.device | str = "cpu") -> dict:
    """LSTM (H = ``hidden``, linear critic) on copy-repeat with the curriculum; level
    reached after the same number of sequences (``batches`` × ``batch_size``; γ = 0.9,
    λ = 1, β = 1; the critic unclipped in every preset, as (b), (c)). Every tensor lives
    on ``device``; each run's wall time is recorded."""
    out: dict = {}
    runs = []
    for method in ["immediate", "tbptt", "dni", "bp_lambda(1)", "bptt"]:
        ks = [None] if method in ("bptt", "immediate") else cfg["ks"]
        runs += [(method, k) for k in ks]
    for method, k in runs:
        levels, lengths, seconds = [], [], []
        for seed in range(cfg["seeds"]):
            bar.set_description(f"(d) {method} k={k} seed={seed}")
            t0 = time.perf_counter()
            cur = _copy_run(cfg, method, k, seed, device)
            seconds.append(time.perf_counter() - t0)
            levels.append(cur.level)
            lengths.append([cur.length, cur.repeats])
            bar.update(1)
        out[f"{method}|{k}"] = {
            "method": method,
            "k": k,
            "level": levels,
            "N_R": lengths,
            "median": median(levels),
            "seconds": seconds,
        }
    return {
        "config": cfg,
        "sequences": cfg["batches"] * cfg["batch_size"],
        "device": str(device),
        "results": out,
    }


def _copy_run(cfg: dict, method: str, k: int | None, seed: int, device) -> CopyRepeatCurriculum:
    """One (d) training run; the curriculum where it ended."""
    torch.manual_seed(seed)
    cur = CopyRepeatCurriculum(threshold=0.15, window=10)
    cell = LSTMCell(cur.task().input_size, cfg["hidden"], device=device)
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
        batch = to_device(cur.task().sample(cfg["batch_size"], gen), device)
        loss = learner.train_batch(*batch)["loss"]
        # nats summed over output bits and steps -> bits per output bit
        n_out = float(batch.mask.sum()) / batch.mask.shape[1] * batch.targets.shape[2]
        cur.update(loss / math.log(2) / n_out)
    return cur


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
        out.update(_delayed_checks(results["b"]))
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


def _delayed_checks(b: dict) -> dict:
    """(b)'s claims: BP(1) below TBPTT and DNI where the delay is ≥ 3k, and, for each
    delay ≥ 30, whether BP(1) has the lowest median loss of every method at every k (and
    whether it is below 0.9 × the no-memory loss there, i.e. learned at all)."""
    res, cfg = b["results"], b["config"]
    beats = {}
    lowest: dict = {}
    for d in cfg["delays"]:
        per_k = {}
        for k in cfg["ks"]:
            row = {m: res[f"{d}|{m}|{None if m in ('bptt', 'immediate') else k}"]["median"]
                   for m in METHOD_ORDER}  # fmt: skip
            bp = row["bp_lambda(1)"]
            if d >= 3 * k:
                beats[f"delay={d},k={k}"] = bool(bp < row["tbptt"] and bp < row["dni"])
            per_k[k] = bool(all(bp < v for m, v in row.items() if m != "bp_lambda(1)"))
        if d >= 30:
            floor = b["no_memory_loss"][d]
            lowest[f"delay={d}"] = {
                "every_k": all(per_k.values()),
                "per_k": per_k,
                # lowest only counts as learning where BP(1) is below the no-memory floor
                "below_no_memory_loss": {
                    k: bool(res[f"{d}|bp_lambda(1)|{k}"]["median"] < 0.9 * floor) for k in cfg["ks"]
                },
            }
    return {"b_bp1_beats_tbptt_and_dni": beats, "b_bp1_lowest_at_every_k": lowest}
