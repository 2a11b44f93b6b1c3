"""RecurrentPPO: the clipped surrogate, several passes per window, the critic learned once
per window, checkpoints that know their class, bad input."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from agents import CREDIT_MODES, RecurrentA2C, RecurrentPPO, load_agent
from agents.checkpoint import _write_zip, read_checkpoint

from .helpers import cue_venv, rollout_actions


def small_ppo(env, credit: str = "bp_lambda", **kw) -> RecurrentPPO:
    kw.setdefault("hidden_size", 8)
    kw.setdefault("n_steps", 4)
    return RecurrentPPO("MlpRecurrentPolicy", env, credit=credit, seed=0, **kw)


def test_clipped_surrogate_matches_hand_computation():
    model = small_ppo(cue_venv(), clip_range=0.2)
    adv = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    old = torch.log(torch.tensor([[0.5, 0.5], [0.2, 0.4]]))
    new = torch.log(torch.tensor([[0.7, 0.3], [0.2, 0.6]]))
    ratio = [[1.4, 0.6], [1.0, 1.5]]
    # per element: min(ρA, clip(ρ, 0.8, 1.2)A)
    expect = [
        min(1.4 * 1.0, 1.2 * 1.0),
        min(0.6 * -2.0, 0.8 * -2.0),
        min(1.0 * 0.5, 1.0 * 0.5),
        min(1.5 * 3.0, 1.2 * 3.0),
    ]
    assert ratio[0][0] == pytest.approx(1.4)
    loss = model._policy_loss(adv, new, old)
    assert loss.item() == pytest.approx(-sum(expect) / 4, rel=1e-5)


@pytest.mark.parametrize("credit", CREDIT_MODES)
def test_one_unclipped_pass_is_a2c(credit):
    # With ρ = 1 the surrogate's gradient is the policy gradient: one pass of PPO must
    # give A2C's parameters exactly (both with standardised advantages).
    # (RecurrentPPO gives the value head its own core by default: both get one here)
    kw = dict(hidden_size=8, n_steps=3, normalize_advantage=True, seed=0)
    kw["policy_kwargs"] = {"value_core": True}
    # (each model is built and trained before the next: actions come from torch's global
    # random stream, which building a model re-seeds)
    a2c = RecurrentA2C("MlpRecurrentPolicy", cue_venv(length=7), credit=credit, **kw)
    a2c.learn(96)
    ppo = RecurrentPPO("MlpRecurrentPolicy", cue_venv(length=7), credit=credit, n_epochs=1, **kw)
    ppo.learn(96)
    for a, b in zip(a2c.policy.parameters(), ppo.policy.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    if a2c.gradient_critic is not None:
        for a, b in zip(
            a2c.gradient_critic.parameters(), ppo.gradient_critic.parameters(), strict=True
        ):
            torch.testing.assert_close(a, b)


def test_passes_per_window_and_critic_learns_once_per_window():
    model = small_ppo(cue_venv(length=9), "bp_lambda", n_epochs=3)
    model.learn(64)  # 2 envs × 4 steps per window → 8 windows
    assert model._n_updates == 8 * 3
    steps = [s["step"] for s in model.credit_engine.optimizer.state_dict()["state"].values()]
    assert steps and all(float(s) == 8 for s in steps), steps
    # the passes after the first move the policy: later windows see ratios ≠ 1
    model.n_epochs = 1
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(8, reset_num_timesteps=False)
    assert any((a != b).any() for a, b in zip(before, model.policy.parameters(), strict=True))


def test_target_kl_stops_the_passes_early():
    free = small_ppo(cue_venv(length=9), "tbptt", n_epochs=8, learning_rate=3e-2)
    free.learn(64)
    assert free._n_updates == 8 * 8
    tight = small_ppo(cue_venv(length=9), "tbptt", n_epochs=8, learning_rate=3e-2, target_kl=1e-6)
    tight.learn(64)
    assert 8 <= tight._n_updates < 8 * 8  # the first pass always runs (its KL is 0)


def test_logging_keys(tmp_path):
    from stable_baselines3.common.logger import configure

    model = small_ppo(cue_venv(), "bp_lambda", n_epochs=2)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(128, log_interval=8)
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    for key in [
        "train/policy_loss",
        "train/value_loss",
        "train/clip_fraction",
        "train/approx_kl",
        "train/clip_range",
        "bpl/td_error",
        "bpl/sg_norm",
    ]:
        assert key in header, key


@pytest.mark.parametrize("credit", CREDIT_MODES)
def test_save_load_round_trip_and_class_dispatch(tmp_path, credit):
    model = small_ppo(cue_venv(), credit, n_epochs=2, clip_range=0.3, target_kl=0.05)
    model.learn(64)
    model.save(tmp_path / "ppo.zip")
    meta, _ = read_checkpoint(tmp_path / "ppo.zip")
    assert meta["algorithm"] == "RecurrentPPO"
    for loaded in (
        RecurrentPPO.load(tmp_path / "ppo.zip", env=cue_venv()),
        load_agent(tmp_path / "ppo.zip", env=cue_venv()),
    ):
        assert type(loaded) is RecurrentPPO
        assert loaded.get_config() == model.get_config()
        assert (loaded.n_epochs, loaded.clip_range, loaded.target_kl) == (2, 0.3, 0.05)
        assert loaded._n_updates == model._n_updates
        np.testing.assert_array_equal(rollout_actions(model), rollout_actions(loaded))
    with pytest.raises(ValueError, match="holds a RecurrentPPO agent"):
        RecurrentA2C.load(tmp_path / "ppo.zip")
    a2c = RecurrentA2C("MlpRecurrentPolicy", cue_venv(), credit=credit, hidden_size=8, seed=0)
    a2c.save(tmp_path / "a2c.zip")
    assert type(load_agent(tmp_path / "a2c.zip")) is RecurrentA2C
    with pytest.raises(ValueError, match="holds a RecurrentA2C agent"):
        RecurrentPPO.load(tmp_path / "a2c.zip")


def test_checkpoint_without_class_tag_is_an_a2c_and_unknown_classes_are_refused(tmp_path):
    model = RecurrentA2C("MlpRecurrentPolicy", cue_venv(), hidden_size=8, seed=0)
    model.save(tmp_path / "m.zip")
    with zipfile.ZipFile(tmp_path / "m.zip") as zf:
        meta = json.loads(zf.read("meta.json"))
        tensors = zf.read("tensors.pt")
    del meta["algorithm"]  # as written before the tag existed
    with open(tmp_path / "old.zip", "wb") as f:
        _write_zip(f, meta, tensors)
    assert type(load_agent(tmp_path / "old.zip")) is RecurrentA2C
    meta["algorithm"] = "SomethingElse"
    with open(tmp_path / "odd.zip", "wb") as f:
        _write_zip(f, meta, tensors)
    with pytest.raises(ValueError, match="unknown agent 'SomethingElse'"):
        load_agent(tmp_path / "odd.zip")


@pytest.mark.parametrize(
    "kw, word",
    [
        ({"n_epochs": 0}, "n_epochs"),
        ({"n_epochs": 2.5}, "n_epochs"),
        ({"clip_range": 0.0}, "clip_range"),
        ({"clip_range": -0.1}, "clip_range"),
        ({"clip_range": float("nan")}, "clip_range"),
        ({"clip_range": True}, "clip_range"),
        ({"target_kl": 0.0}, "target_kl"),
        ({"target_kl": "0.1"}, "target_kl"),
        ({"gae_lambda": 1.5}, "gae_lambda"),
    ],
)
def test_invalid_hyperparameters(kw, word):
    with pytest.raises(ValueError, match=word):
        small_ppo(cue_venv(), **kw)
