"""scripts/probes/probe_digits.py: one run of experiment (c), watched while it trains."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "probes"))

import probe_digits  # noqa: E402


def test_probe_reports_accuracy_alignment_and_norms(capsys):
    pytest.importorskip("sklearn")
    argv = ["--hidden", "4", "--batches", "3", "--every", "2", "--k", "2", "--json"]
    rows = probe_digits.main(argv + ["--method", "bp_lambda(1)+std", "--sg-max-grad-norm", "1"])
    assert json.loads(capsys.readouterr().out) == rows
    assert [r["batch"] for r in rows] == [2, 3]  # every 2 batches and the last
    for r in rows:
        assert 0.0 <= r["accuracy"] <= 1.0 and -1.0 <= r["alignment"] <= 1.0
        assert math.isfinite(r["state_norm"]) and r["prediction_norm"] >= 0.0
    # a method without a critic reports neither alignment nor prediction
    rows = probe_digits.main(argv + ["--method", "tbptt"])
    capsys.readouterr()
    assert all("alignment" not in r and "prediction_norm" not in r for r in rows)


def test_table_output(capsys):
    pytest.importorskip("sklearn")
    probe_digits.main(["--hidden", "4", "--batches", "1", "--method", "bptt"])
    out = capsys.readouterr().out
    assert (
        "| batch | test accuracy | alignment |" in out and "critic's update clip: unclipped" in out
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--k", "0"], "--k must be >= 1, got 0"),
        (["--every", "0"], "--every must be >= 1, got 0"),
        (["--seed", "-1"], "--seed must be >= 0, got -1"),
        (["--sg-beta", "-0.5"], "--sg-beta must be >= 0, got -0.5"),
        (["--beta", "0.5"], "--beta was renamed: use --sg-beta"),
        (["--synth-clip"], "--synth-clip was renamed: use --sg-max-grad-norm 1"),
        (["--method", "rtrl"], "method must be one of"),
        (["--method", "bptt+std"], "+std needs a synthetic-gradient method"),
    ],
)
def test_bad_flags_exit_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as err:
        probe_digits.main(argv)
    assert err.value.code == 2
    assert message in capsys.readouterr().err


def test_without_scikit_learn_it_exits_naming_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(SystemExit) as err:
        probe_digits.main(["--batches", "1"])
    assert err.value.code == 2
    assert "pip install 'bplambda[digits]'" in capsys.readouterr().err
