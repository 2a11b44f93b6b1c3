"""Benchmark BPLambda.step against the machine's floor, and BP(λ) memory against BPTT.

For each hidden size H and batch B, times one ``BPLambda.step`` of a linear gradient
critic (trace B·H²(H+1) floats) beside the bare batched matmul of the same shape,
(B, H, H) @ (B, H, H(H+1)), measured in the same run: the step's unavoidable core. Then
measures the memory needed to learn a GRU over T steps with full BPTT (tensors saved
for the backward pass) beside BP(λ) with k = 1 (trace + state, independent of T).

    python scripts/benchmark_traces.py                      # CPU, float32
    python scripts/benchmark_traces.py --device cuda --dtype float64 --json out.json

Prints a table and writes JSON (default: results/benchmark_traces.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from tqdm import tqdm

import bpl
from agents.cli import add_threads_flag, set_threads

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--hidden-sizes",
        type=int,
        nargs="+",
        default=[32, 64, 128, 256],
        help="state sizes H to time (default 32 64 128 256)",
    )
    p.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=[1, 16, 64],
        help="batch sizes B to time (default 1 16 64)",
    )
    p.add_argument(
        "--seq-lengths",
        type=int,
        nargs="+",
        default=[100, 1000, 10000],
        help="sequence lengths T for the memory comparison (default 100 1000 10000)",
    )
    p.add_argument(
        "--memory-hidden",
        type=int,
        default=64,
        help="GRU hidden size for the memory comparison (default 64)",
    )
    p.add_argument(
        "--memory-batch",
        type=int,
        default=16,
        help="batch size for the memory comparison (default 16)",
    )
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="default float32")
    p.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="torch device (default: cuda if available, else cpu)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=7,
        help="timed repetitions per cell; the best is reported (default 7)",
    )
    p.add_argument(
        "--max-gflop",
        type=float,
        default=200.0,
        help="skip (H, B) whose trace update exceeds this many GFLOP (default 200)",
    )
    p.add_argument(
        "--max-trace-gb",
        type=float,
        default=6.0,
        help="skip (H, B) whose trace exceeds this many GB (default 6)",
    )
    add_threads_flag(p)
    p.add_argument(
        "--json",
        type=Path,
        default=Path("results/benchmark_traces.json"),
        help="where to write the results (default results/benchmark_traces.json)",
    )
    args = p.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    return args


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best_time(fn, repeats: int, device: torch.device) -> float:
    """Best of ``repeats`` timings after a warm-up (robust to other load on the machine)."""
    fn()  # warm-up
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return min(times)


def time_step(H: int, B: int, dtype: torch.dtype, device: torch.device, repeats: int) -> dict:
    """Best seconds of BPLambda.step and of the bare bmm of the same shape."""
    g = torch.Generator(device=device).manual_seed(0)
    critic = bpl.SyntheticGradient(H, dtype=dtype, device=device)
    learner = bpl.BPLambda(critic, gamma=0.9, lam=1.0, check_inputs=True)
    learner.reset(B)
    # Contracting Jacobians keep the trace bounded over many repeats.
    jac = 0.9 * torch.randn(B, H, H, generator=g, dtype=dtype, device=device) / H**0.5
    z = torch.randn(B, H, generator=g, dtype=dtype, device=device)
    imm = torch.randn(B, H, generator=g, dtype=dtype, device=device)
    cont = torch.zeros(B, dtype=torch.bool, device=device)
    learner.step(z, jac, imm, cont)  # rows now continue: every later step carries

    def step() -> None:
        learner.step(z, jac, imm, cont)

    P = H * (H + 1)
    E = torch.randn(B, H, P, generator=g, dtype=dtype, device=device)
    out = torch.empty_like(E)

    def bare() -> None:
        torch.bmm(jac, E, out=out)

    t_step = _best_time(step, repeats, device)
    t_bmm = _best_time(bare, repeats, device)
    flop = 2.0 * B * H * H * P
    return {
        "H": H,
        "B": B,
        "step_ms": 1e3 * t_step,
        "bmm_ms": 1e3 * t_bmm,
        "ratio": t_step / t_bmm,
        "gflops_step": flop / t_step / 1e9,
        "trace_mb": learner.trace.numel() * learner.trace.element_size() / 2**20,
    }


def bptt_saved_bytes(cell: bpl.RecurrentCell, T: int, B: int) -> int:
    """Bytes autograd saves to backpropagate the loss of a T-step unroll (BPTT)."""
    total = 0
    seen: set[int] = set()

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        key = t.untyped_storage().data_ptr()
        if key not in seen:  # count each stored buffer once
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    x = torch.randn(B, cell.input_size, dtype=cell.weight_hh.dtype, device=cell.weight_hh.device)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        z = cell.initial_state(B)
        loss = 0.0
        for _ in range(T):
            z = cell(x, z)
            loss = loss + z.square().sum()
    del loss, z
    return total


def bp_lambda_bytes(cell: bpl.RecurrentCell, B: int) -> int:
    """Bytes BP(λ) keeps to learn online with k = 1: trace, scratch, state, ĝ, J."""
    critic = bpl.SyntheticGradient(
        cell.state_size, dtype=cell.weight_hh.dtype, device=cell.weight_hh.device
    )
    learner = bpl.BPLambda(critic)
    learner.reset(B)
    per_step = 3 * B * cell.state_size + B * cell.state_size**2  # z, l, ĝ and J
    return learner.memory_bytes + per_step * learner.trace.element_size()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads(args.threads)
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    size = torch.tensor([], dtype=dtype).element_size()
    rows, skipped = [], []
    cells = [(H, B) for H in args.hidden_sizes for B in args.batch_sizes]
    for H, B in tqdm(cells, desc="trace update"):
        gflop = 2.0 * B * H**3 * (H + 1) / 1e9
        gb = 2 * B * H * H * (H + 1) * size / 1e9  # trace + the bare bmm's operands
        if gflop > args.max_gflop or gb > args.max_trace_gb:
            skipped.append({"H": H, "B": B, "gflop": gflop, "gb": gb})
            continue
        repeats = args.repeats if gflop < 20 else max(2, args.repeats // 2)
        rows.append(time_step(H, B, dtype, device, repeats))
    cell = bpl.GRUCell(8, args.memory_hidden, dtype=dtype, device=device)
    memory = []
    for T in tqdm(args.seq_lengths, desc="memory"):
        memory.append(
            {
                "T": T,
                "bptt_mb": bptt_saved_bytes(cell, T, args.memory_batch) / 2**20,
                "bp_lambda_mb": bp_lambda_bytes(cell, args.memory_batch) / 2**20,
            }
        )

    print(
        f"\nBPLambda.step vs bare bmm — {args.dtype}, {device}, "
        f"{torch.get_num_threads()} threads, linear critic, γλ = 0.9"
    )
    header = ("H", 5), ("B", 4), ("step ms", 10), ("bmm ms", 10), ("ratio", 6), ("GFLOP/s", 8)
    print(" ".join(f"{name:>{w}}" for name, w in header) + f" {'trace MB':>9}")
    for r in rows:
        print(
            f"{r['H']:>5} {r['B']:>4} {r['step_ms']:>10.3f} {r['bmm_ms']:>10.3f} "
            f"{r['ratio']:>6.2f} {r['gflops_step']:>8.1f} {r['trace_mb']:>9.1f}"
        )
    for s in skipped:
        print(f"{s['H']:>5} {s['B']:>4}  skipped: {s['gflop']:.0f} GFLOP/step, {s['gb']:.1f} GB")
    print(f"\nMemory to learn a GRU (H={args.memory_hidden}, B={args.memory_batch}) over T steps")
    print(f"{'T':>7} {'BPTT MB':>10} {'BP(λ) MB':>10}")
    for m in memory:
        print(f"{m['T']:>7} {m['bptt_mb']:>10.1f} {m['bp_lambda_mb']:>10.1f}")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "device": str(device),
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor(),
    }
    args.json.write_text(
        json.dumps({"meta": meta, "step": rows, "skipped": skipped, "memory": memory}, indent=1)
    )
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
