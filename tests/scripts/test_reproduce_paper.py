"""scripts/reproduce_paper.py --quick runs end to end and writes its outputs."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "reproduce_paper.py"


def _load():
    spec = importlib.util.spec_from_file_location("reproduce_paper", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_json_markdown_and_figures(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    script = _load()
    results = script.main(["--quick", "--out", str(tmp_path), "--no-progress"])
    data = json.loads((tmp_path / "results.json").read_text())
    assert set("abcde") <= set(data)
    assert data["preset"] == "quick"
    md = (tmp_path / "results.md").read_text()
    for title in (
        "(a) Alignment",
        "(b) Delayed target",
        "(c) Sequential digits",
        "(d) Copy-repeat",
        "(e) Peak memory",
    ):
        assert title in md
    for name in results["figures"]:
        assert (tmp_path / name).stat().st_size > 1000
    assert len(results["figures"]) == 5
    # every alignment is a cosine
    for entry in data["a"]["final"].values():
        assert all(-1.0 <= v <= 1.0 for v in entry["alignment"])
    # BP(λ)'s memory does not grow with the sequence; BPTT's does
    e = data["e"]["results"]
    assert e["20|bptt"]["peak_bytes"] > 1.5 * e["10|bptt"]["peak_bytes"]
    assert e["20|bp_lambda(1)"]["peak_bytes"] == e["10|bp_lambda(1)"]["peak_bytes"]


def test_only_subset_and_bad_flags(tmp_path):
    script = _load()
    results = script.main(["--quick", "--only", "e", "--out", str(tmp_path), "--no-progress"])
    assert "e" in results and "a" not in results
    with pytest.raises(SystemExit):
        script.main(["--quick", "--only", "z", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        script.main(["--quick", "--preset", "full", "--out", str(tmp_path)])


def test_presets_leave_the_critic_unclipped_and_experiments_pass_it_on(monkeypatch):
    """Clipping the critic's update with the network's (norm 1) held its alignment down in
    (b) and let its predictions grow without bound in (c): every preset turns it off for
    (b), (c), (d), and each experiment hands the setting to its learner."""
    script = _load()
    for name, preset in script.PRESETS.items():
        for exp in "bcd":
            assert preset[exp]["sg_max_grad_norm"] is None, (name, exp)
    seen = []

    class Recording(script.SequenceLearner):
        def __init__(self, *args, **kwargs):
            seen.append(kwargs["sg_max_grad_norm"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(script, "SequenceLearner", Recording)

    class Bar:
        def set_description(self, _):
            pass

        def update(self, _):
            pass

    cfg = {"ks": [1], "batches": 1, "seeds": 1, "hidden": 4, "batch_size": 2}
    for value in (None, 0.5):
        seen.clear()
        script.experiment_copy({**cfg, "sg_max_grad_norm": value}, Bar())
        script.experiment_delayed({**cfg, "delays": [3], "sg_max_grad_norm": value}, Bar())
        assert seen and all(v == value for v in seen), (value, seen)
    pytest.importorskip("sklearn")
    seen.clear()
    script.experiment_digits({**cfg, "sg_max_grad_norm": None}, Bar(), None)
    assert seen and all(v is None for v in seen)


def test_without_scikit_learn_digits_are_skipped_and_the_rest_runs(tmp_path, monkeypatch, capsys):
    """The optional dependencies are checked before anything runs: without scikit-learn
    (c) is left out with a message naming the extra, and the others write their results."""
    script = _load()
    monkeypatch.setitem(sys.modules, "sklearn", None)  # `import sklearn` fails
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    results = script.main(["--quick", "--only", "c,e", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert out.index("pip install 'bplambda[digits]'") < out.index("wrote")
    assert "pip install 'bplambda[plots]'" in out
    assert "c" not in results and "e" in results and results["figures"] == []
    data = json.loads((tmp_path / "results.json").read_text())
    assert "e" in data and "c" not in data
    assert any("bplambda[digits]" in note for note in data["skipped"])
    assert "bplambda[digits]" in (tmp_path / "results.md").read_text()


def test_threads_flag(tmp_path):
    script = _load()
    with pytest.raises(SystemExit):
        script.main(["--quick", "--only", "e", "--threads", "0", "--out", str(tmp_path)])
    results = script.main(
        ["--quick", "--only", "e", "--threads", "1", "--out", str(tmp_path), "--no-progress"]
    )
    assert results["threads"] == 1
