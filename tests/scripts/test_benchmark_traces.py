"""scripts/benchmark_traces.py: BPLambda.step beside the bare bmm, and BP(λ)'s memory."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import benchmark_traces  # noqa: E402


def test_tiny_benchmark_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    argv = ["--hidden-sizes", "4", "--batch-sizes", "2", "--seq-lengths", "5", "50"]
    argv += ["--memory-hidden", "4", "--memory-batch", "2", "--repeats", "2"]
    argv += ["--device", "cpu", "--threads", "1", "--json", str(out)]
    assert benchmark_traces.main(argv) == 0
    data = json.loads(out.read_text())
    (step,) = data["step"]
    assert step["H"] == 4 and step["B"] == 2 and step["step_ms"] > 0
    assert data["meta"]["threads"] == 1
    mem = data["memory"]
    # BPTT's saved tensors grow with T; BP(λ)'s memory does not
    assert mem[1]["bptt_mb"] > mem[0]["bptt_mb"]
    assert mem[1]["bp_lambda_mb"] == mem[0]["bp_lambda_mb"] > 0


def test_bad_threads_exit():
    with pytest.raises(SystemExit):
        benchmark_traces.main(["--threads", "0"])
