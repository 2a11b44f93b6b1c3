"""Reproduce the experiments of Pemberton & Costa (TMLR 2024), "BP(λ): Online Learning via
Synthetic Gradients", with bpl's sequence learner, on CPU or one GPU.

    python scripts/reproduce_paper.py [--quick | --preset {quick,medium,full,gpu}] [--out DIR]
        [--only a,b,c,d,e] [--set d.hidden=100 ...] [--device cpu|cuda] [--mnist PATH]
        [--threads N]

Writes into ``--out`` (default ``runs/reproduce``): ``results.json`` (every number and the
configuration), ``results.md`` (the tables) and one PNG per experiment:

(a) frozen linear RNN, only the gradient critic learns: alignment vs training per λ and delay;
(b) delayed target with the RNN learning: final loss per method, window k and delay;
(c) sequential digits (LSTM): test accuracy per method and k;
(d) copy-repeat (LSTM, curriculum): level reached per method with the same number of
    sequences;
(e) peak memory and time per step vs sequence length, bptt vs bp_lambda.

The experiments themselves are :mod:`bpl.experiments.paper`, their sizes
:data:`bpl.experiments.presets.PRESETS`; the ``gpu`` preset holds only (d) at the paper's
size (LSTM H = 100), run by ``scripts/gpu_copy_repeat.sh``. ``--device`` places (b), (c)
and (d) on that device ((a) and (e) stay on the CPU: (e) measures CPU memory).

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
import time
from pathlib import Path

import torch

from agents.cli import add_threads_flag, set_threads
from bpl.experiments.paper import (
    METHOD_ORDER,
    checks,
    experiment_alignment,
    experiment_copy,
    experiment_delayed,
    experiment_digits,
    experiment_memory,
    median,
)
from bpl.experiments.presets import PRESETS, apply_overrides


# --------------------------------------------------------------------------- output
def _count_runs(preset: dict, only: set[str]) -> int:
    n = 0
    if "a" in only:
        c = preset["a"]
        extra = len(c["hidden"]) + len([d for d in c["hidden"] if d not in c["delays"]])
        n += (len(c["delays"]) * len(c["lams"]) + extra) * c["seeds"]
    if "b" in only:
        c = preset["b"]
        n += len(c["delays"]) * (4 * len(c["ks"]) + 2) * c["seeds"]  # METHOD_ORDER
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


def _markdown_delayed(b: dict) -> list[str]:
    """(b)'s section of results.md: the floors, the settings and the loss table."""
    lines: list[str] = []
    lines += ["", "## (b) Delayed target, RNN learning: final loss (lower is better)", ""]
    floors = b["no_memory_loss"]
    lines.append(
        "No-memory loss (best constant output): "
        + ", ".join(f"delay {d}: {_fmt(v)}" for d, v in floors.items())
        + "."
    )
    c = b["config"]
    lines.append(
        f"RNN: leak α = {c.get('alpha', 0.0)}, W_hh = {c.get('radius', 0.9)} × orthogonal; "
        f"network traces (k = 1): {c.get('network_traces') or 'none'}; critic: hidden "
        f"{c.get('sg_hidden_sizes', [])}, time input {c.get('sg_time_input', 0)}, "
        f"β = {c.get('sg_beta', 1.0)}; {c['batches']} batches of {c['batch_size']}."
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
    return lines


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
        lines += _markdown_delayed(results["b"])
    for key, title in [
        ("c", "(c) Sequential digits, LSTM: test accuracy"),
        ("d", "(d) Copy-repeat, LSTM: curriculum level reached"),
    ]:
        if key not in results:
            continue
        r = results[key]
        lines += ["", f"## {title}", ""]
        if key == "d":
            lines += [
                f"LSTM H = {r['config']['hidden']}, {r['sequences']} sequences per run, "
                f"device {r['device']}.",
                "",
            ]
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
                ys = [median([c[j][1] for c in curves]) for j in range(len(xs))]
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
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated subset of a,b,c,d,e (default: every experiment of the preset)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="X.KEY=VALUE",
        help="change one value of the preset, VALUE as JSON: --set b.seeds=1 "
        "--set 'b.delays=[30]' (repeatable)",
    )
    parser.add_argument(
        "--device",
        default=None,
        help="torch device of (b), (c), (d): cpu or cuda[:N] (default: cuda for preset gpu, "
        "else cpu)",
    )
    parser.add_argument(
        "--mnist",
        default=None,
        help="local MNIST .npz (x_train, y_train, x_test, y_test) for (c); never downloaded",
    )
    add_threads_flag(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def resolve_device(text: str) -> torch.device:
    """The torch device named by ``--device``.

    :raises ValueError: not a device, or CUDA asked for where it is not available.
    """
    try:
        device = torch.device(text)
    except RuntimeError as err:
        raise ValueError(f"--device must name a torch device (cpu, cuda), got {text!r}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"--device {text}: CUDA is not available here (torch {torch.__version__}, "
            f"built with CUDA {torch.version.cuda}); use --device cpu"
        )
    return device


def _setup(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """Preset name, its (overridden) configuration, the experiments to run, the device and
    the thread count; every bad flag is a parser error (exit code 2)."""
    if args.quick and args.preset not in (None, "quick"):
        parser.error("--quick conflicts with --preset " + args.preset)
    name = "quick" if args.quick else (args.preset or "medium")
    preset = PRESETS[name]
    only = set(preset) if args.only is None else {s.strip() for s in args.only.split(",")} - {""}
    bad = only - set("abcde")
    if bad:
        parser.error(f"--only takes letters from a,b,c,d,e, got {sorted(bad)}")
    missing = only - set(preset)
    if missing:
        parser.error(
            f"preset {name!r} has no experiment {sorted(missing)}; it has {sorted(preset)}"
        )
    try:
        preset = apply_overrides(preset, args.set)
        device = resolve_device(args.device or ("cuda" if name == "gpu" else "cpu"))
        threads = set_threads(args.threads)
    except ValueError as err:
        parser.error(str(err) if str(err).startswith("--") else f"--{err}")
    return name, preset, only, device, threads


def main(argv: list[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    name, preset, only, device, threads = _setup(parser, args)
    only, figures, notes = optional_dependencies(only, args.mnist)
    for note in notes:
        print(note)
    args.out.mkdir(parents=True, exist_ok=True)

    from tqdm.auto import tqdm

    t0 = time.time()
    results: dict = {"preset": name, "threads": threads, "torch": torch.__version__}
    results["device"] = str(device)
    results["skipped"] = notes
    with tqdm(total=_count_runs(preset, only), disable=args.no_progress, unit="run") as bar:
        if "a" in only:
            results["a"] = experiment_alignment(preset["a"], bar)
        if "b" in only:
            results["b"] = experiment_delayed(preset["b"], bar, device)
        if "c" in only:
            results["c"] = experiment_digits(preset["c"], bar, args.mnist, device)
        if "d" in only:
            results["d"] = experiment_copy(preset["d"], bar, device)
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
