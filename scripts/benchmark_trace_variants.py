"""The cost / alignment frontier of BP(λ)'s trace approximations (``BPLambda(trace=…)``).

For each recurrent cell and hidden size H (|z| = H for a GRU, 2H for an LSTM) and each
variant, measures in one run:

* the time of one ``BPLambda.step`` at batch B (best of ``--repeats`` after a warm-up) and
  the memory it holds between steps, beside the bare matmul floor of the exact trace,
  (B, |z|, |z|) @ (B, |z|, |z|(|z|+1));
* the critic's alignment after the same number of online updates: a frozen random cell
  runs a delayed-recall task (L_t = ½‖R z_t − x_{t−d}[:O]‖², R fixed random), the critic
  learns by BP(λ) (γ = 0.9, λ = 1, Adam) on ``--train-steps`` steps of ``--train-batch``
  streams, then mean cos(ĝ(z_t), G_t) is taken on held-out episodes, G_t the discounted
  future gradient computed by backpropagation through the frozen unroll.

Variants: ``exact``, ``block:n``, ``diagonal``, ``uoro:k`` (traces of the linear critic)
and ``lowrank:r`` (the rank-r critic ĝ = U(Vᵀz + c) + b with its exact trace). A variant
whose memory or training cost exceeds the limits is skipped and listed as such.

    python scripts/benchmark_trace_variants.py            # GRU, H = 64…512: ~2.5 min, 1 thread
    python scripts/benchmark_trace_variants.py --cells gru lstm   # + LSTM: ~6 min
    python scripts/benchmark_trace_variants.py --hidden-sizes 64 --cells gru --train-steps 50
    python scripts/benchmark_trace_variants.py --device cuda --hidden-sizes 256 512 1024

Writes JSON (--json), a Markdown table (--markdown) and a PNG (--plot).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import bpl
from agents.cli import add_threads_flag, set_threads

DEFAULT_VARIANTS = ["exact", "lowrank:8", "block:16", "diagonal", "uoro:1", "uoro:16"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--hidden-sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    p.add_argument("--cells", nargs="+", choices=["gru", "lstm"], default=["gru"])
    p.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, help="see module doc")
    p.add_argument("--batch", type=int, default=8, help="rows B for the step timing (8)")
    p.add_argument("--repeats", type=int, default=3, help="timed steps; best reported (3)")
    p.add_argument("--train-batch", type=int, default=2, help="streams while learning (2)")
    p.add_argument("--train-steps", type=int, default=200, help="online updates (200)")
    p.add_argument(
        "--max-step-gflop",
        type=float,
        default=100.0,
        help="skip timing a variant whose step at --batch needs more (100)",
    )
    p.add_argument("--episode", type=int, default=40, help="episode length (40)")
    p.add_argument(
        "--sg-learning-rate", type=float, default=3e-3, help="the critic's Adam rate (3e-3)"
    )
    p.add_argument(
        "--max-trace-gb", type=float, default=1.2, help="skip a variant holding more (1.2)"
    )
    p.add_argument(
        "--max-train-tflop",
        type=float,
        default=4.0,
        help="skip the alignment run of a variant whose training needs more (4)",
    )
    p.add_argument(
        "--device", default="cpu", help="torch device every tensor is made on (default: cpu)"
    )
    add_threads_flag(p)
    p.add_argument("--json", type=Path, default=Path("results/trace_variants.json"))
    p.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    p.add_argument("--plot", type=Path, default=None, help="alignment against cost, PNG")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for v in args.variants:
        _parse_variant(v, p.error)
    return args


def _parse_variant(name: str, error=None) -> tuple[str, int | None]:
    """("lowrank", r) or (trace option, None); ``error`` (or ValueError) on a bad name."""
    if name.startswith("lowrank:") and name[8:].isdigit() and int(name[8:]) > 0:
        return "lowrank", int(name[8:])
    try:
        bpl.parse_trace(name)
    except ValueError as err:
        msg = f"variant {name!r}: 'lowrank:<r>' or a trace option ({err})"
        if error is None:
            raise ValueError(msg) from err
        error(msg)
    return name, None


def cost_model(name: str, Z: int) -> tuple[float, float]:
    """(floats stored, flops per step) per row for the variant at |z| = Z."""
    kind, r = _parse_variant(name)
    C = Z * (Z + 1)  # |θ| of the linear critic
    if kind == "lowrank":
        P = 2 * Z * r + r + Z
        return Z * P, 2.0 * Z * Z * P
    trace, k = bpl.parse_trace(name)
    if trace == "exact":
        return Z * C, 2.0 * Z * C * (Z + 1)
    if trace == "block":
        return Z * k * (Z + 1), 2.0 * (k + 1) * k * C
    return k * (Z + C), k * (2.0 * Z * Z + 8.0 * C)


def make_learner(name: str, Z: int, dtype=torch.float32, gamma=0.9, lam=1.0):
    """The critic and its BPLambda for a variant name."""
    kind, r = _parse_variant(name)
    if kind == "lowrank":
        critic = bpl.SyntheticGradient(Z, (r,), activation="linear", dtype=dtype)
        return critic, bpl.BPLambda(critic, gamma, lam, check_inputs=False)
    critic = bpl.SyntheticGradient(Z, dtype=dtype)
    return critic, bpl.BPLambda(critic, gamma, lam, check_inputs=False, trace=name)


def _sync() -> None:
    device = torch.get_default_device()
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _generator(seed: int) -> torch.Generator:
    """A seeded generator on the device tensors are made on (``--device``)."""
    return torch.Generator(device=torch.get_default_device()).manual_seed(seed)


def _best(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        _sync()
        t0 = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - t0)
    return min(times)


def time_step(name: str, Z: int, B: int, repeats: int) -> dict:
    """Best ms of one step (contracting random J, every row continuing) and MB held."""
    g = _generator(0)
    critic, learner = make_learner(name, Z)
    with torch.no_grad():
        for p in critic.parameters():  # a non-zero critic, as after learning
            p.copy_(torch.randn(p.shape, generator=g) / Z**0.5)
    learner.reset(B)
    jac = 0.9 * torch.randn(B, Z, Z, generator=g) / Z**0.5
    z, imm = torch.randn(B, Z, generator=g), torch.randn(B, Z, generator=g)
    cont = torch.zeros(B, dtype=torch.bool)
    learner.step(z, jac, imm, cont)
    seconds = _best(lambda: learner.step(z, jac, imm, cont), repeats)
    return {"step_ms": 1e3 * seconds, "memory_mb": learner.memory_bytes / 2**20}


def time_floor(Z: int, B: int, repeats: int) -> float:
    """Best ms of the exact trace's bare GEMM, (B, Z, Z) @ (B, Z, Z(Z+1))."""
    E = torch.randn(B, Z, Z * (Z + 1))
    jac, out = torch.randn(B, Z, Z), torch.empty_like(E)
    return 1e3 * _best(lambda: torch.bmm(jac, E, out=out), repeats)


class DelayedRecall:
    """A frozen random cell on L_t = ½‖R z_t − x_{t−d}[:O]‖² (zero for t < d)."""

    def __init__(self, cell_kind: str, H: int, seed: int, inputs=8, outputs=4, delay=5):
        torch.manual_seed(seed)
        self.cell = bpl.make_cell(cell_kind, inputs, H)
        self.cell.requires_grad_(False)
        Z = self.cell.state_size
        self.readout = torch.randn(outputs, Z) / Z**0.5
        self.inputs, self.outputs, self.delay = inputs, outputs, delay

    def episode(self, T: int, B: int, gen: torch.Generator):
        """States (T, B, Z), Jacobians (T, B, Z, Z), immediate gradients (T, B, Z)."""
        xs = torch.randn(T, B, self.inputs, generator=gen)
        z = self.cell.initial_state(B)
        zs, jacs = [], []
        with torch.no_grad():
            for t in range(T):
                z, jac = self.cell.jacobian(xs[t], z)
                zs.append(z)
                jacs.append(jac)
        zs = torch.stack(zs)
        return zs, torch.stack(jacs), self.immediate(zs, xs)

    def immediate(self, zs: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        d = self.delay
        err = zs @ self.readout.T
        err[d:] -= xs[:-d, :, : self.outputs]
        err[:d] = 0
        return err @ self.readout

    def backprop_future_gradients(self, T: int, B: int, gamma: float, gen: torch.Generator):
        """(zs, G) with G_t = Σ_{τ>t} γ^{τ−t−1} ∂L_τ/∂z_t, by autograd through the unroll:
        the recurrent edge passes γ·gradient, so dL/dz_t = l_t + γ G_t."""
        xs = torch.randn(T, B, self.inputs, generator=gen)
        z = self.cell.initial_state(B).requires_grad_()
        zs = []
        with torch.enable_grad():
            for t in range(T):
                prev = gamma * z + (1 - gamma) * z.detach() if t else z
                z = self.cell(xs[t], prev)
                z.retain_grad()
                zs.append(z)
            states = torch.stack(zs)
            err = states @ self.readout.T
            d = self.delay
            loss = 0.5 * (err[d:] - xs[:-d, :, : self.outputs]).pow(2).sum()
            loss.backward()
        total = torch.stack([z.grad for z in zs])
        imm = self.immediate(states.detach(), xs)
        return states.detach(), (total - imm) / gamma


def train_and_align(name: str, task: DelayedRecall, args, gamma=0.9) -> float:
    """Mean cos(ĝ(z_t), G_t) on held-out episodes after ``train_steps`` online updates."""
    Z = task.cell.state_size
    torch.manual_seed(args.seed)
    critic, learner = make_learner(name, Z, gamma=gamma)
    opt = torch.optim.Adam(critic.trainable_parameters(), lr=args.sg_learning_rate)
    gen = _generator(args.seed + 1)
    B, T = args.train_batch, args.episode
    learner.reset(B)
    done = 0
    while done < args.train_steps:
        zs, jacs, imm = task.episode(T, B, gen)
        for t in range(min(T, args.train_steps - done)):
            end = torch.full((B,), t == T - 1)
            learner.step(zs[t], jacs[t], imm[t], end)
            opt.step()
            opt.zero_grad(set_to_none=True)
            done += 1
        learner.reset(B)
    eval_gen = _generator(args.seed + 2)
    zs, G = task.backprop_future_gradients(T, 8, gamma, eval_gen)
    with torch.no_grad():
        pred = critic(zs)
    return float(bpl.alignment(pred[:-1], G[:-1])[1])


def run_cell(cell: str, H: int, args) -> list[dict]:
    """Every variant at one (cell, H): timing, memory, floor and alignment (or skips)."""
    Z = H * (2 if cell == "lstm" else 1)
    task = DelayedRecall(cell, H, args.seed)
    floats, flops = cost_model("exact", Z)
    fits = 2 * args.batch * floats * 4 / 1e9 <= 2 * args.max_trace_gb
    fits = fits and args.batch * flops / 1e9 <= args.max_step_gflop
    floor = time_floor(Z, args.batch, args.repeats) if fits else None
    rows = []
    for name in args.variants:
        floats, flops = cost_model(name, Z)
        row = {"cell": cell, "H": H, "Z": Z, "variant": name, "floats_per_row": floats}
        row |= {"gflop_per_row": flops / 1e9, "floor_ms": floor}
        gb, gflop = args.batch * floats * 4 / 1e9, args.batch * flops / 1e9
        if gb > args.max_trace_gb or gflop > args.max_step_gflop:
            row["skipped"] = f"{gb:.1f} GB, {gflop:.0f} GFLOP a step at B={args.batch}"
            rows.append(row)
            print(_line(row), flush=True)
            continue
        row |= time_step(name, Z, args.batch, args.repeats)
        train = args.train_batch * args.train_steps * flops / 1e12
        if train > args.max_train_tflop:
            row["align_skipped"] = f"training {train:.1f} TFLOP"
        else:
            t0 = time.perf_counter()
            row["alignment"] = train_and_align(name, task, args)
            row["train_s"] = time.perf_counter() - t0
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def _line(r: dict) -> str:
    if "skipped" in r:
        return f"{r['cell']} H={r['H']} {r['variant']}: skipped ({r['skipped']})"
    align = f"{r['alignment']:.3f}" if "alignment" in r else f"— ({r['align_skipped']})"
    return (
        f"{r['cell']} H={r['H']} {r['variant']}: {r['step_ms']:.2f} ms, "
        f"{r['memory_mb']:.1f} MB, alignment {align}"
    )


def markdown_table(rows: list[dict], batch: int) -> str:
    """One Markdown table of every (cell, H, variant)."""
    lines = [
        f"| cell | H | \\|z\\| | variant | floats/row | GFLOP/row/step | step ms (B={batch}) "
        "| exact GEMM floor ms | memory MB | alignment |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        floor = "—" if r["floor_ms"] is None else f"{r['floor_ms']:.2f}"
        head = f"| {r['cell']} | {r['H']} | {r['Z']} | `{r['variant']}` | "
        head += f"{r['floats_per_row']:.3g} | {r['gflop_per_row']:.3g} | "
        if "skipped" in r:
            lines.append(head + f"skipped: {r['skipped']} | {floor} | — | — |")
            continue
        align = f"{r['alignment']:.3f}" if "alignment" in r else f"not run: {r['align_skipped']}"
        lines.append(head + f"{r['step_ms']:.2f} | {floor} | {r['memory_mb']:.1f} | {align} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    """Alignment against measured step time, one marker per variant, one colour per |z|."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if "alignment" in r]
    sizes = sorted({r["Z"] for r in done})
    markers = dict(zip(sorted({r["variant"] for r in done}), "os^vDPX*<>"))
    colours = plt.cm.viridis([i / max(1, len(sizes) - 1) for i in range(len(sizes))])
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for r in done:
        ax.scatter(
            r["step_ms"],
            r["alignment"],
            marker=markers[r["variant"]],
            color=colours[sizes.index(r["Z"])],
            edgecolor="k" if r["cell"] == "lstm" else "none",
            s=55,
        )
    for v, m in markers.items():
        ax.scatter([], [], marker=m, color="grey", label=v)
    for z, c in zip(sizes, colours):
        ax.scatter([], [], marker="s", color=c, label=f"|z| = {z}")
    ax.set_xscale("log")
    ax.set_xlabel("BPLambda.step time, ms (log; black edge: LSTM)")
    ax.set_ylabel("alignment cos(ĝ, G) after the same updates")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads(args.threads)
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise SystemExit(f"--device: unknown torch device {args.device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch finds no CUDA device on this machine")
    torch.set_default_device(device)  # every tensor and module below is made there
    try:
        return run(args)
    finally:
        torch.set_default_device(None)


def run(args: argparse.Namespace) -> int:
    """Measure every (cell, H, variant) and write the JSON, table and plot."""
    t0 = time.perf_counter()
    rows = []
    for cell in args.cells:
        for H in args.hidden_sizes:
            rows += run_cell(cell, H, args)
    table = markdown_table(rows, args.batch)
    print("\n" + table)
    meta = {
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": args.device,
        "seconds": time.perf_counter() - t0,
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table)
    if args.plot is not None:
        plot(rows, args.plot)
    print(f"wrote {args.json} in {meta['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
