"""scripts/reproduce_paper.py --quick runs end to end and writes its outputs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bpl.experiments import paper

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "reproduce_paper.py"
GPU_SCRIPT = ROOT / "scripts" / "gpu_copy_repeat.sh"


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
            if exp in preset:
                assert preset[exp]["sg_max_grad_norm"] is None, (name, exp)
    seen = []

    class Recording(paper.SequenceLearner):
        def __init__(self, *args, **kwargs):
            seen.append(kwargs["sg_max_grad_norm"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(paper, "SequenceLearner", Recording)

    class Bar:
        def set_description(self, _):
            pass

        def update(self, _):
            pass

    cfg = {"ks": [1], "batches": 1, "seeds": 1, "hidden": 4, "batch_size": 2}
    for value in (None, 0.5):
        seen.clear()
        paper.experiment_copy({**cfg, "sg_max_grad_norm": value}, Bar())
        paper.experiment_delayed({**cfg, "delays": [3], "sg_max_grad_norm": value}, Bar())
        assert seen and all(v == value for v in seen), (value, seen)
    pytest.importorskip("sklearn")
    seen.clear()
    paper.experiment_digits({**cfg, "sg_max_grad_norm": None}, Bar(), None)
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


def test_gpu_script_runs_copy_repeat_on_the_cpu_with_tiny_sizes(tmp_path):
    """scripts/gpu_copy_repeat.sh: the GPU command's code path (preset gpu, (d) only),
    here with --device cpu, H = 4 and 3 batches."""
    out = tmp_path / "gpu"
    argv = ["--device", "cpu", "--set", "d.hidden=4", "--set", "d.batches=3", "--out", str(out)]
    proc = subprocess.run(
        ["bash", str(GPU_SCRIPT), *argv],
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "results.json").read_text())
    assert set("abcde") & set(data) == {"d"} and data["preset"] == "gpu"
    d = data["d"]
    assert d["config"]["hidden"] == 4 and d["sequences"] == 3 * 16 and d["device"] == "cpu"
    assert {r["method"] for r in d["results"].values()} == {
        "immediate", "tbptt", "dni", "bp_lambda(1)", "bptt"
    }  # fmt: skip
    assert "LSTM H = 4, 48 sequences per run, device cpu" in (out / "results.md").read_text()


def test_device_flag(tmp_path, monkeypatch, capsys):
    script = _load()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exc:
        script.main(["--preset", "gpu", "--out", str(tmp_path)])  # the gpu preset means cuda
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        script.main(["--quick", "--only", "d", "--device", "cuda", "--out", str(tmp_path)])
    assert "CUDA is not available" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["--quick", "--only", "d", "--device", "tpu9", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        script.main(["--preset", "gpu", "--only", "b", "--device", "cpu", "--out", str(tmp_path)])


def test_set_overrides_the_preset(tmp_path):
    script = _load()
    results = script.main(
        ["--quick", "--only", "b", "--set", "b.delays=[4]", "--set", "b.ks=[1]", "--set",
         "b.network_traces=eprop", "--set", "b.alpha=0.5", "--set", "b.sg_time_input=2",
         "--out", str(tmp_path), "--no-progress"]
    )  # fmt: skip
    cfg = results["b"]["config"]
    assert cfg["delays"] == [4] and cfg["network_traces"] == "eprop" and cfg["alpha"] == 0.5
    assert script.PRESETS["quick"]["b"]["delays"] != [4]  # the preset itself is unchanged
    for bad in ("b.seeds", "z.seeds=1", "seeds=1"):
        with pytest.raises(SystemExit):
            script.main(["--quick", "--only", "b", "--set", bad, "--out", str(tmp_path)])


def test_delayed_settings_reach_each_learner(monkeypatch):
    """(b)'s e-prop traces go to every method but bptt at k = 1, the critic's settings to
    dni and bp_lambda only, the leak to the cell."""
    seen = []

    class Recording(paper.SequenceLearner):
        def __init__(self, cell, *args, **kwargs):
            seen.append((cell.alpha, kwargs))
            super().__init__(cell, *args, **kwargs)

    monkeypatch.setattr(paper, "SequenceLearner", Recording)

    class Bar:
        def set_description(self, _):
            pass

        def update(self, _):
            pass

    cfg = {"delays": [3], "ks": [1, 2], "batches": 1, "seeds": 1, "batch_size": 2,
           "alpha": 0.5, "network_traces": "eprop", "sg_time_input": 2, "sg_beta": 0.5}  # fmt: skip
    paper.experiment_delayed(cfg, Bar())
    for alpha, kw in seen:
        assert alpha == 0.5
        window_one = kw["credit"] == "immediate" or kw["k"] == 1
        assert (kw.get("network_traces") == "eprop") == (window_one and kw["credit"] != "bptt")
        critic = kw["credit"] in ("dni", "bp_lambda")
        assert (kw.get("sg_time_input") == 2) == critic and (kw.get("sg_beta") == 0.5) == critic


def test_delayed_checks_say_whether_bp1_is_lowest_at_every_k():
    def entry(m, d, k, v):
        return {"delay": d, "method": m, "k": k, "median": v}

    res = {}
    for d in (10, 30):
        for k in (1, 2):
            for m in paper.METHOD_ORDER:
                kk = None if m in ("bptt", "immediate") else k
                v = 0.1 if m == "bp_lambda(1)" and (d == 30 or k == 1) else 0.3
                res[f"{d}|{m}|{kk}"] = entry(m, d, kk, v)
    b = {"config": {"delays": [10, 30], "ks": [1, 2]}, "results": res}
    b["no_memory_loss"] = {10: 0.5, 30: 0.11}
    out = paper.checks({"b": b})
    assert out["b_bp1_lowest_at_every_k"] == {
        "delay=30": {
            "every_k": True,
            "per_k": {1: True, 2: True},
            "below_no_memory_loss": {1: False, 2: False},
        }
    }
    assert out["b_bp1_beats_tbptt_and_dni"]["delay=10,k=2"] is False
