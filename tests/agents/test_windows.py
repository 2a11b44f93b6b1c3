"""Rollouts cut into truncation windows: layout, exact equivalences, minibatches of windows."""

from __future__ import annotations

import pytest
import torch

from agents import RecurrentA2C, RecurrentPPO
from bpl.windows import from_windows, to_windows

from .helpers import cue_venv


def test_windowed_layout_rows_are_window_then_env():
    T, B, k = 6, 2, 3
    x = torch.arange(T * B).view(T, B)  # x[t, b] = 2t + b
    w = to_windows(x, k)  # (k, K*B)
    assert w.shape == (k, 4)
    # row r = c*B + b holds steps c*k .. c*k+k-1 of env b
    assert w[:, 0].tolist() == [0, 2, 4] and w[:, 1].tolist() == [1, 3, 5]
    assert w[:, 2].tolist() == [6, 8, 10] and w[:, 3].tolist() == [7, 9, 11]
    assert torch.equal(from_windows(w, B), x)


def _params(model):
    out = list(model.policy.parameters())
    if model.gradient_critic is not None:
        out += list(model.gradient_critic.parameters())
    return out


def test_window_of_one_step_is_immediate():
    """tbptt with k = 1 cuts the graph at every step, as ``immediate`` does."""
    kw = dict(hidden_size=8, n_steps=4, seed=0)
    a = RecurrentA2C("MlpRecurrentPolicy", cue_venv(length=5), credit="tbptt", window=1, **kw)
    a.learn(64)
    b = RecurrentA2C("MlpRecurrentPolicy", cue_venv(length=5), credit="immediate", **kw)
    b.learn(64)
    for x, y in zip(_params(a), _params(b), strict=True):
        torch.testing.assert_close(x, y)


def test_short_window_differs_from_the_whole_rollout():
    kw = dict(hidden_size=8, n_steps=4, seed=0, credit="tbptt")
    a = RecurrentA2C("MlpRecurrentPolicy", cue_venv(length=5), window=2, **kw)
    a.learn(64)
    b = RecurrentA2C("MlpRecurrentPolicy", cue_venv(length=5), **kw)
    b.learn(64)
    assert any((x - y).abs().max() > 1e-6 for x, y in zip(_params(a), _params(b), strict=True))


@pytest.mark.parametrize("credit", ["tbptt", "bp_lambda", "dni", "immediate"])
def test_minibatch_of_every_window_equals_the_whole_rollout(credit):
    """One epoch on all windows re-run from their stored start states (the minibatch
    path: β ĝ injected per window row, the critic learning from pass 0 without a step)
    gives the whole-rollout step's parameters: same TBPTT(k), same injection, same critic."""
    kw = dict(hidden_size=8, n_steps=6, window=2, n_epochs=1, seed=0, credit=credit)
    a = RecurrentPPO("MlpRecurrentPolicy", cue_venv(length=7), **kw)
    a.learn(96)
    b = RecurrentPPO("MlpRecurrentPolicy", cue_venv(length=7), batch_size=12, **kw)
    b.learn(96)
    for x, y in zip(_params(a), _params(b), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)


def test_minibatches_split_the_windows_and_step_each():
    model = RecurrentPPO(
        "MlpRecurrentPolicy",
        cue_venv(length=7),
        hidden_size=8,
        n_steps=8,
        window=2,
        batch_size=4,
        n_epochs=3,
        seed=0,
    )
    model.learn(32)  # 2 rollouts of 8 steps x 2 envs = 8 windows of 2 -> 4 minibatches
    assert model._n_updates == 2 * 3 * 4
    steps = [s["step"] for s in model.credit_engine.optimizer.state_dict()["state"].values()]
    assert steps and all(float(s) == 2 for s in steps)  # the critic learns once per rollout


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_steps": 8, "window": 3}, "window must divide n_steps = 8"),
        ({"window": 0}, "window must be an integer"),
    ],
)
def test_bad_window_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RecurrentA2C("MlpRecurrentPolicy", cue_venv(), **kwargs)


def test_bad_batch_size_is_refused():
    with pytest.raises(ValueError, match="batch_size must be an integer"):
        RecurrentPPO("MlpRecurrentPolicy", cue_venv(), batch_size=0)
