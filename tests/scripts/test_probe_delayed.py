"""scripts/probes/probe_delayed.py: one cell of experiment (b), per method."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "probes"))

import probe_delayed  # noqa: E402

from bpl.experiments import parse_method  # noqa: E402


def test_probe_reports_losses_and_alignments(capsys):
    argv = [
        "--delay",
        "4",
        "--k",
        "2",
        "--batches",
        "2",
        "--seeds",
        "2",
        "--json",
        "--radius",
        "0.5",
    ]
    argv += ["--methods", "tbptt", "dni+std", "bp_lambda(0.5)", "bp_lambda(1)+std"]
    rows = probe_delayed.main(argv)
    assert json.loads(capsys.readouterr().out) == rows
    assert [r["method"] for r in rows] == ["tbptt", "dni+std", "bp_lambda(0.5)", "bp_lambda(1)+std"]
    for row in rows:
        assert len(row["loss"]) == 2 and all(math.isfinite(x) for x in row["loss"])
        assert len(row["alignment"]) == (0 if row["method"] == "tbptt" else 2)
        assert all(-1.0 <= a <= 1.0 for a in row["alignment"])


def test_table_output(capsys):
    probe_delayed.main(["--delay", "3", "--k", "1", "--batches", "1", "--seeds", "1",
                        "--methods", "bptt", "--sg-hidden-sizes", "4"])  # fmt: skip
    out = capsys.readouterr().out
    assert "| method | loss per seed | alignment per seed | ‖ĝ‖/‖G‖ per seed |" in out
    assert "| bptt |" in out
    assert "critic's update clip: unclipped" in out


@pytest.mark.parametrize(
    "method, expect",
    [
        ("bp_lambda(1)+std", ("bp_lambda(1)", True)),
        ("dni", ("dni", False)),
        ("bp_lambda(0.25)", ("bp_lambda(0.25)", False)),
    ],
)
def test_parse_method(method, expect):
    assert parse_method(method) == expect


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--methods", "rtrl"], "method must be one of"),
        (["--methods", "bp_lambda(2)"], "method must be one of"),
        (["--methods", "tbptt+std"], "+std needs a synthetic-gradient method"),
        (["--k", "0"], "--k must be >= 1"),
        (["--radius", "0"], "--radius must be > 0"),
        (["--sg-hidden-sizes", "a"], "--sg-hidden-sizes must be comma-separated integers"),
        (["--sg-max-grad-norm", "0"], "--sg-max-grad-norm must be > 0"),
        (["--alpha", "1"], "--alpha must be in [0, 1)"),
        (["--network-traces", "eprop", "--k", "2"], "--network-traces needs --k 1"),
        (["--sg-beta", "-1"], "--sg-beta must be >= 0"),
        (["--sg-time-input", "-1"], "--sg-time-input must be >= 0"),
        (["--lr", "0"], "--lr was renamed: use --learning-rate"),
        (["--synth-lr", "1e-3"], "--synth-lr was renamed: use --sg-learning-rate"),
        (["--synth-hidden", "4"], "--synth-hidden was renamed: use --sg-hidden-sizes"),
        (["--no-synth-clip"], "--no-synth-clip was renamed: use --sg-max-grad-norm"),
    ],
)
def test_bad_input_exits_with_a_message(argv, words, capsys):
    with pytest.raises(SystemExit) as exc:
        probe_delayed.main(argv)
    assert exc.value.code == 2
    assert words in capsys.readouterr().err


def test_leaky_network_with_traces_and_a_phase_input(capsys):
    rows = probe_delayed.main(
        ["--delay", "5", "--k", "1", "--batches", "2", "--seeds", "1", "--json", "--alpha",
         "0.8", "--radius", "0.2", "--network-traces", "eprop", "--sg-time-input", "2",
         "--sg-beta", "0.5", "--methods", "tbptt", "bp_lambda(1)", "bptt"]
    )  # fmt: skip
    capsys.readouterr()
    assert [len(r["alignment"]) for r in rows] == [0, 1, 0]
    assert len(rows[1]["scale"]) == 1 and rows[1]["scale"][0] >= 0
    assert all(math.isfinite(x) for r in rows for x in r["loss"])
