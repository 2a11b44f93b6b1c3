"""scripts/benchmark_trace_variants.py: the trace variants' cost / alignment frontier."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

import bpl

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import benchmark_trace_variants as bench  # noqa: E402


def test_tiny_frontier_writes_json_table_and_plot(tmp_path):
    out, md, png = tmp_path / "v.json", tmp_path / "v.md", tmp_path / "v.png"
    argv = ["--hidden-sizes", "8", "--cells", "gru", "lstm", "--train-steps", "12"]
    argv += ["--episode", "6", "--repeats", "1", "--batch", "2", "--threads", "1"]
    argv += ["--variants", "exact", "lowrank:2", "block:4", "diagonal", "uoro:2"]
    argv += ["--json", str(out), "--markdown", str(md), "--plot", str(png)]
    assert bench.main(argv) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["cell"], r["Z"]) for r in rows[:: len(rows) // 2]] == [("gru", 8), ("lstm", 16)]
    assert all(r["step_ms"] > 0 and -1 <= r["alignment"] <= 1 for r in rows)
    assert md.read_text().count("\n") == len(rows) + 2
    assert png.stat().st_size > 1000


def test_limits_skip_and_say_so(tmp_path):
    out = tmp_path / "v.json"
    argv = ["--hidden-sizes", "16", "--cells", "gru", "--variants", "exact", "diagonal"]
    argv += ["--max-trace-gb", "1e-4", "--max-train-tflop", "1e-9", "--repeats", "1"]
    argv += ["--json", str(out)]
    assert bench.main(argv) == 0
    exact, diag = json.loads(out.read_text())["rows"]
    assert "GB" in exact["skipped"] and exact["floor_ms"] is None
    assert "TFLOP" in diag["align_skipped"] and diag["step_ms"] > 0
    assert "skipped" in bench.markdown_table([exact, diag], 8)


def test_bad_variant_exits():
    with pytest.raises(SystemExit):
        bench.main(["--variants", "lowrank:0"])
    with pytest.raises(SystemExit):
        bench.main(["--variants", "fast"])


def test_backprop_future_gradients_match_the_jacobian_recursion():
    """G_t by autograd through the unroll equals bpl.future_gradients on the same
    episode (the benchmark's G is the one the tests trust)."""
    task = bench.DelayedRecall("lstm", 5, seed=0)
    zs, G = task.backprop_future_gradients(12, 3, 0.9, torch.Generator().manual_seed(1))
    zs2, jacs, imm = task.episode(12, 3, torch.Generator().manual_seed(1))
    torch.testing.assert_close(zs, zs2)
    torch.testing.assert_close(G, bpl.future_gradients(imm, jacs, 0.9), rtol=1e-4, atol=1e-5)
    assert G.norm() > 0.1


@pytest.mark.parametrize("name", ["exact", "lowrank:3", "block:2", "diagonal", "uoro:2"])
def test_cost_model_counts_the_floats_held(name):
    Z, B = 8, 3
    floats, _ = bench.cost_model(name, Z)
    _, learner = bench.make_learner(name, Z)
    learner.reset(B)
    held = learner.trace.numel() + (learner._variant.u.numel() if "uoro" in name else 0)
    assert held == B * floats


def test_device_is_checked_and_the_default_device_restored():
    with pytest.raises(SystemExit, match="unknown torch device"):
        bench.main(["--device", "potato"])
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="no CUDA device"):
            bench.main(["--device", "cuda"])
    assert torch.get_default_device().type == "cpu"
