"""The policy's ``value_core``: a separate recurrent core for the value head, trained by
the value loss alone, with the gradient critic over the actor core's part of z."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from agents import RecurrentA2C, RecurrentPPO
from agents.checkpoint import _write_zip, read_checkpoint
from agents.hyperparams import read_file
from agents.run_args import build_parser, model_kwargs

from .helpers import cue_venv


def _model(cls=RecurrentA2C, core="gru", length=4, **kwargs) -> RecurrentA2C:
    kwargs.setdefault("policy_kwargs", {"value_core": True})
    env = cue_venv(length=length)
    return cls("MlpRecurrentPolicy", env, core=core, hidden_size=8, n_steps=4, seed=0, **kwargs)


@pytest.mark.parametrize("core, actor", [("gru", 8), ("lstm", 16), ("rnn", 8)])
def test_state_is_actor_then_value_and_the_critic_covers_the_actor(core, actor):
    model = _model(core=core)
    policy = model.policy
    assert (policy.actor_state_size, policy.state_size) == (actor, 2 * actor)
    assert policy.initial_state(3).z.shape == (3, 2 * actor)
    assert model.credit_engine.state_size == actor
    actions, state = model.predict(np.zeros(2, dtype=np.int64), episode_start=np.ones(2, bool))
    assert state.shape == (2, 2 * actor) and actions.shape == (2,)
    _, jac = policy.step_core(torch.zeros(2, dtype=torch.long), policy.initial_state(2),
                              torch.ones(2), jacobian=True)  # fmt: skip
    assert jac.shape == (2, actor, actor)


def _grads(policy, loss: torch.Tensor) -> tuple[float, float]:
    policy.zero_grad()
    loss.backward()
    total = lambda m: sum(p.grad.abs().sum().item() for p in m.parameters() if p.grad is not None)  # noqa: E731
    return total(policy.core), total(policy.value_core)


def test_each_loss_reaches_only_its_own_core():
    policy = _model().policy
    obs, start = torch.tensor([0, 1]), torch.ones(2)
    state, _ = policy.step_core(obs, policy.initial_state(2), start)
    state, _ = policy.step_core(obs, state, torch.zeros(2))
    actor, value = _grads(policy, policy.value(state.z).sum())
    assert actor == 0.0 and value > 0.0
    state, _ = policy.step_core(obs, policy.initial_state(2), start)
    dist = policy.distribution(state.z)
    actor, value = _grads(policy, dist.log_prob(torch.tensor([0, 1])).sum())
    assert actor > 0.0 and value == 0.0


def _after_one_update(injected: float) -> RecurrentA2C:
    # episodes of 6 steps: windows of 4 end inside them, where β ĝ is injected (here a
    # fixed tensor of ĝ's shape); no clipping, so that each core's step depends on its
    # own gradient alone
    model = _model(length=6, max_grad_norm=1e9)
    model.credit_engine.injection = lambda last, end: torch.full_like(last, injected)
    model.learn(model.n_steps * model.n_envs)
    return model


def test_synthetic_gradient_enters_the_actor_core_only():
    with_sg, without = _after_one_update(10.0), _after_one_update(0.0)
    same = lambda a, b: all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))  # noqa: E731
    assert not same(with_sg.policy.core, without.policy.core)  # the injection moved the actor
    assert same(with_sg.policy.value_core, without.policy.value_core)


@pytest.mark.parametrize("cls", [RecurrentA2C, RecurrentPPO])
@pytest.mark.parametrize("credit", ["bp_lambda", "dni", "tbptt", "bptt"])
def test_every_credit_mode_trains_with_a_value_core(cls, credit):
    model = _model(cls, credit=credit)
    before = [p.detach().clone() for p in model.policy.value_core.parameters()]
    model.learn(64)
    assert any(not torch.equal(a, b) for a, b in zip(model.policy.value_core.parameters(), before))


def test_value_core_is_saved_and_old_checkpoints_have_none(tmp_path):
    model = _model(credit="bp_lambda")
    assert model.get_config()["policy_kwargs"]["value_core"] is True
    model.save(tmp_path / "m.zip")
    loaded = RecurrentA2C.load(tmp_path / "m.zip")
    assert loaded.policy.value_core is not None
    for a, b in zip(loaded.policy.parameters(), model.policy.parameters()):
        assert torch.equal(a, b)
    plain = RecurrentA2C("MlpRecurrentPolicy", cue_venv(), hidden_size=8, n_steps=4, seed=0)
    plain.save(tmp_path / "p.zip")
    meta, tensors = read_checkpoint(tmp_path / "p.zip")
    del meta["config"]["policy_kwargs"]["value_core"]  # as written before the option existed
    buf = io.BytesIO()
    torch.save(tensors, buf)
    with open(tmp_path / "old.zip", "wb") as f:
        _write_zip(f, meta, buf.getvalue())
    assert RecurrentA2C.load(tmp_path / "old.zip").policy.value_core is None


def test_bad_value_core_settings_are_refused():
    with pytest.raises(ValueError, match="value_core must be a bool, got 'yes'"):
        _model(policy_kwargs={"value_core": "yes"})
    with pytest.raises(ValueError, match="value_core=True needs value_trains_core=True"):
        _model(policy_kwargs={"value_core": True, "value_trains_core": False})


def test_flag_and_hyperparams_key(tmp_path):
    args = build_parser().parse_args(["--value-core"])
    assert model_kwargs(args)["policy_kwargs"]["value_core"] is True
    args = build_parser().parse_args([])
    assert "value_core" not in model_kwargs(args)["policy_kwargs"]
    path = tmp_path / "h.yml"
    path.write_text("bpl/TMaze-v0:\n  policy_kwargs: {value_core: true}\n")
    assert read_file("a2c", path)["bpl/TMaze-v0"][2] == {"policy_kwargs": {"value_core": True}}
    path.write_text("bpl/TMaze-v0:\n  policy_kwargs: {value_core: 1}\n")
    with pytest.raises(ValueError, match="policy_kwargs.value_core must be a bool"):
        read_file("a2c", path)


def test_ppo_has_a_value_core_by_default_and_a2c_does_not():
    build = lambda cls, **pk: cls("MlpRecurrentPolicy", cue_venv(), hidden_size=8, policy_kwargs=pk)  # noqa: E731
    assert build(RecurrentPPO).policy.value_core is not None  # as sb3-contrib's critic LSTM
    assert build(RecurrentA2C).policy.value_core is None
    assert (
        build(RecurrentPPO, value_trains_core=False).policy.value_core is None
    )  # shared, constant
    assert build(RecurrentPPO, value_core=False).policy.value_core is None
    assert build(RecurrentA2C, value_core=True).policy.value_core is not None
