"""The agents' ``sg_trace`` (BP(λ)'s trace approximation) and the policy's
``value_trains_core`` (whether the value loss reaches the core)."""

from __future__ import annotations

import io

import pytest
import torch

from agents import RecurrentA2C, RecurrentPPO
from agents.checkpoint import _write_zip, read_checkpoint

from .helpers import cue_venv


@pytest.mark.parametrize("trace", ["diagonal", "block:4", "uoro:2"])
@pytest.mark.parametrize("cls", [RecurrentA2C, RecurrentPPO])
def test_approximate_trace_trains_saves_and_loads(cls, trace, tmp_path):
    model = cls("MlpRecurrentPolicy", cue_venv(), hidden_size=8, n_steps=4, sg_trace=trace, seed=0)
    assert model.credit_engine.bp_lambda.trace_kind != "exact"
    model.learn(64)
    path = tmp_path / "m.zip"
    model.save(path)
    loaded = cls.load(path, env=cue_venv())
    assert loaded.sg_trace == trace
    assert loaded.get_config()["sg_trace"] == trace
    before = [p.detach().clone() for p in loaded.gradient_critic.parameters()]
    loaded.learn(32, reset_num_timesteps=False)
    after = list(loaded.gradient_critic.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, before))


@pytest.mark.parametrize(
    "core, hidden, used",
    [
        ("gru", 64, "exact"),
        ("gru", 65, "diagonal"),
        ("lstm", 32, "exact"),
        ("lstm", 33, "diagonal"),
    ],
)
@pytest.mark.parametrize("cls", [RecurrentA2C, RecurrentPPO])
def test_auto_trace_is_exact_up_to_64_state_units(cls, core, hidden, used, tmp_path):
    # the actor's state: H for the GRU, 2H for the LSTM; the value core does not count
    kw = dict(core=core, hidden_size=hidden, n_steps=4, seed=0)
    model = cls("MlpRecurrentPolicy", cue_venv(), policy_kwargs={"value_core": True}, **kw)
    assert model.sg_trace == "auto" and model.sg_trace_used == used
    kind = model.credit_engine.bp_lambda.trace_kind
    assert (kind == "exact") == (used == "exact")
    model.save(tmp_path / "m.zip")
    loaded = cls.load(tmp_path / "m.zip", env=cue_venv())
    assert loaded.get_config()["sg_trace"] == "auto" and loaded.sg_trace_used == used


def test_auto_is_the_default_and_a_bad_trace_is_refused():
    model = RecurrentA2C("MlpRecurrentPolicy", cue_venv(), hidden_size=8, n_steps=4, seed=0)
    assert model.sg_trace == "auto" and model.sg_trace_used == "exact"
    with pytest.raises(ValueError, match=r"sg_trace must be 'auto' or one of .*'blocky'"):
        RecurrentA2C("MlpRecurrentPolicy", cue_venv(), hidden_size=8, sg_trace="blocky")
    with pytest.raises(ValueError, match="divide"):
        RecurrentA2C("MlpRecurrentPolicy", cue_venv(), hidden_size=8, sg_trace="block:3")


def test_a_checkpoint_with_another_trace_is_refused(tmp_path):
    model = RecurrentA2C("MlpRecurrentPolicy", cue_venv(), hidden_size=8, n_steps=4, seed=0)
    model.save(tmp_path / "m.zip")
    with pytest.raises(ValueError, match="sg_trace"):
        RecurrentA2C.load(tmp_path / "m.zip", env=cue_venv(), sg_trace="diagonal")


def _core_grad_from_value_loss(value_trains_core: bool) -> float:
    model = RecurrentA2C(
        "MlpRecurrentPolicy",
        cue_venv(),
        hidden_size=8,
        seed=0,
        policy_kwargs={"value_trains_core": value_trains_core},
    )
    policy = model.policy
    state = policy.initial_state(2)
    obs = torch.zeros(2, dtype=torch.long)
    new, _ = policy.step_core(obs, state, torch.ones(2))
    policy.zero_grad()
    policy.value(new.z).sum().backward()
    return sum(p.grad.abs().sum().item() for p in policy.core.parameters() if p.grad is not None)


def test_value_loss_reaches_the_core_only_when_asked():
    assert _core_grad_from_value_loss(False) == 0.0
    assert _core_grad_from_value_loss(True) > 0.0


def _value_kept_out() -> RecurrentA2C:
    return RecurrentA2C(
        "MlpRecurrentPolicy",
        cue_venv(),
        hidden_size=8,
        n_steps=4,
        seed=0,
        policy_kwargs={"value_trains_core": False},
    )


def test_value_trains_core_is_saved_and_old_checkpoints_keep_their_behaviour(tmp_path):
    assert RecurrentA2C("MlpRecurrentPolicy", cue_venv(), hidden_size=8).policy.value_trains_core
    model = _value_kept_out()
    assert model.get_config()["policy_kwargs"]["value_trains_core"] is False
    model.save(tmp_path / "m.zip")
    assert RecurrentA2C.load(tmp_path / "m.zip").policy.value_trains_core is False
    with pytest.raises(ValueError, match="value_trains_core must be a bool"):
        RecurrentA2C("MlpRecurrentPolicy", cue_venv(), policy_kwargs={"value_trains_core": "yes"})


def test_checkpoints_from_before_the_options_load_as_they_were_trained(tmp_path):
    model = _value_kept_out()
    model.save(tmp_path / "m.zip")
    meta, tensors = read_checkpoint(tmp_path / "m.zip")
    del meta["config"]["sg_trace"]  # as written before the options existed
    del meta["config"]["policy_kwargs"]["value_trains_core"]
    buf = io.BytesIO()
    torch.save(tensors, buf)
    with open(tmp_path / "old.zip", "wb") as f:
        _write_zip(f, meta, buf.getvalue())
    loaded = RecurrentA2C.load(tmp_path / "old.zip")
    assert loaded.sg_trace == "exact"
    assert loaded.policy.value_trains_core is True  # the value loss trained the core then
