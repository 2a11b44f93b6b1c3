"""Sizes of every experiment of :mod:`bpl.experiments.paper`, by preset name, and
``--set`` overrides of them."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable

#: Sizes of every experiment. ``quick`` is a smoke test (< 1 min); ``medium`` is what
#: docs/results/paper_*.md report; ``full`` is larger (more seeds, longer training).
#: ``sg_max_grad_norm`` None: the critic's update is not clipped (clipped at the
#: network's norm 1 it held its alignment down in (b) and its predictions grew without
#: bound in (c), docs/results/paper_b_delayed_target.md, paper_c_digits.md).
PRESETS: dict[str, dict] = {
    "quick": {
        "a": {"delays": [10, 20], "lams": [0.0, 1.0], "batches": 20, "seeds": 1, "hidden": []},
        "b": {
            "delays": [6],
            "ks": [1, 2],
            "batches": 5,
            "seeds": 1,
            "batch_size": 8,
            "sg_max_grad_norm": None,
        },
        "c": {
            "ks": [1, 2],
            "batches": 5,
            "seeds": 1,
            "hidden": 8,
            "batch_size": 16,
            "sg_max_grad_norm": None,
        },
        "d": {
            "ks": [2],
            "batches": 10,
            "seeds": 1,
            "hidden": 8,
            "batch_size": 8,
            "sg_max_grad_norm": None,
        },
        "e": {"lengths": [10, 20], "hidden": 16, "batch_size": 4},
    },
    "medium": {
        "a": {
            "delays": [10, 20, 30, 60, 120],
            "lams": [0.0, 0.25, 0.5, 0.75, 1.0],
            "batches": 100,
            "seeds": 2,
            "hidden": [60, 120],
        },
        "b": {
            "delays": [10, 30, 100],
            "ks": [1, 2, 3],
            "batches": 60,
            "seeds": 4,
            "batch_size": 16,
            "sg_max_grad_norm": None,
        },
        "c": {
            "ks": [1, 2, 3, 5],
            "batches": 1000,
            "seeds": 3,
            "hidden": 30,
            "batch_size": 32,
            "sg_max_grad_norm": None,
        },
        "d": {
            "ks": [1, 3],
            "batches": 1000,
            "seeds": 2,
            "hidden": 16,
            "batch_size": 16,
            "learning_rate": 1e-2,
            "sg_max_grad_norm": None,
        },
        "e": {"lengths": [50, 100, 200, 400, 800], "hidden": 30, "batch_size": 16},
    },
    "full": {
        "a": {
            "delays": [10, 20, 30, 40, 50, 60, 120, 200],
            "lams": [0.0, 0.25, 0.5, 0.75, 1.0],
            "batches": 600,
            "seeds": 3,
            "hidden": [60, 120, 200],
        },
        "b": {
            "delays": [10, 30, 60, 120, 200],
            "ks": [1, 2, 3, 5],
            "batches": 100,
            "seeds": 5,
            "batch_size": 16,
            "sg_max_grad_norm": None,
        },
        "c": {
            "ks": [1, 2, 3, 5],
            "batches": 2000,
            "seeds": 5,
            "hidden": 30,
            "batch_size": 32,
            "sg_max_grad_norm": None,
        },
        "d": {
            "ks": [1, 3],
            "batches": 1500,
            "seeds": 3,
            "hidden": 32,
            "batch_size": 16,
            "learning_rate": 1e-2,
            "sg_max_grad_norm": None,
        },
        "e": {"lengths": [50, 100, 200, 400, 800, 1600], "hidden": 30, "batch_size": 16},
    },
    # (b) on a leaky RNN (h_t = 0.9 h_{t−1} + tanh(…), W_hh = 0.1 × orthogonal) whose
    # methods all learn from e-prop traces at k = 1 (docs/results/paper_b_eprop.md)
    "eprop": {
        "b": {
            "delays": [10, 30, 100],
            "ks": [1],
            "batches": 60,
            "seeds": 4,
            "batch_size": 16,
            "alpha": 0.9,
            "radius": 0.1,
            "network_traces": "eprop",
            "sg_max_grad_norm": None,
        },
    },
    # (d) at the paper's size on one GPU (scripts/gpu_copy_repeat.sh): LSTM H = 100, linear
    # critic (its BP(λ) trace: 16 × 200 × 200 × 201 floats, 0.5 GB in float32)
    "gpu": {
        "d": {
            "ks": [1, 3],
            "batches": 1000,
            "seeds": 1,
            "hidden": 100,
            "batch_size": 16,
            "learning_rate": 3e-3,
            "sg_max_grad_norm": None,
        },
    },
}


def apply_overrides(preset: dict, settings: Iterable[str]) -> dict:
    """A copy of ``preset`` with each ``"X.KEY=VALUE"`` of ``settings`` applied (VALUE as
    JSON, else as a string): ``"b.seeds=1"``, ``"b.delays=[30]"``.

    :raises ValueError: naming ``--set``, for a malformed setting or an experiment the
        preset does not have.
    """
    out = copy.deepcopy(preset)
    for text in settings:
        target, sep, raw = text.partition("=")
        exp, dot, key = target.partition(".")
        if not (sep and dot and key):
            raise ValueError(f"--set takes X.KEY=VALUE (e.g. b.seeds=1), got {text!r}")
        if exp not in out:
            raise ValueError(f"--set {text!r}: the preset has no experiment {exp!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[exp][key] = value
    return out
