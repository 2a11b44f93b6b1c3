"""scripts/demo.py: BP(λ) learns a frozen RNN's future gradient, and the curves it writes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import demo  # noqa: E402


def test_demo_writes_one_curve_per_lambda(tmp_path, capsys):
    out = tmp_path / "curves.json"
    argv = ["--iterations", "4", "--delay", "5", "--hidden-size", "4", "--sg-hidden-sizes", ""]
    assert demo.main(argv + ["--sg-lambda", "1", "0.5", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert set(data["curves"]) == {"lam=1", "lam=0.5"}
    assert all(len(c) == 4 and all(-1.0 <= x <= 1.0 for x in c) for c in data["curves"].values())
    assert data["args"]["sg_hidden_sizes"] == []
    assert "final alignment" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--lams", "1"], "--lams was renamed: use --sg-lambda"),
        (["--critic-hidden", "8"], "--critic-hidden was renamed: use --sg-hidden-sizes"),
        (["--lr", "0.1"], "--lr was renamed: use --sg-learning-rate"),
        (["--sg-hidden-sizes", "8,x"], "--sg-hidden-sizes must be comma-separated integers"),
    ],
)
def test_bad_flags_exit_with_a_message(argv, words, capsys):
    with pytest.raises(SystemExit) as err:
        demo.main(argv)
    assert err.value.code == 2
    assert words in capsys.readouterr().err


def test_help_gives_the_run_time(capsys):
    with pytest.raises(SystemExit):
        demo.main(["--help"])
    assert "about 8 s" in capsys.readouterr().out
