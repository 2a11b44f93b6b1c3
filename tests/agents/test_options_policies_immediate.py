"""The options dataclass behind get_config, the policy names, and credit="immediate"."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from agents import AgentConfig, PPOConfig, RecurrentA2C, RecurrentPPO
from agents.policy import RecurrentState
from bpl import GRUCell, LSTMCell
from bpl.credit import CREDIT_MODES

from .helpers import cue_venv


def test_agents_use_bpl_credit_modes():
    import agents

    assert agents.CREDIT_MODES is CREDIT_MODES
    assert "immediate" in CREDIT_MODES


# ---------------------------------------------------------------- options
def test_every_option_has_a_doc_and_a_default():
    for cls in (AgentConfig, PPOConfig):
        for f in dataclasses.fields(cls):
            assert f.metadata.get("doc"), f.name
            assert f.default is not dataclasses.MISSING, f.name
    ppo_only = set(PPOConfig.names()) - set(AgentConfig.names())
    assert ppo_only == {"n_epochs", "clip_range", "target_kl", "batch_size"}


@pytest.mark.parametrize("cls", [RecurrentA2C, RecurrentPPO])
def test_config_dataclass_and_get_config_round_trip(cls):
    model = cls(
        "MlpRecurrentPolicy", cue_venv(), hidden_size=8, n_steps=3, sg_hidden_sizes=(4,), seed=0
    )
    config = model.get_config()
    assert set(model.config_class.names()) <= set(config)
    assert set(config) - set(model.config_class.names()) == {"policy_kwargs", "seed"}
    assert model.config_class.from_dict(config) == model.config
    assert model.config_class.from_dict(config).to_dict() == {
        k: v for k, v in config.items() if k in model.config_class.names()
    }
    again = cls("MlpRecurrentPolicy", cue_venv(), **config)
    assert again.get_config() == config


def test_unknown_option_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="n_epochs"):
        RecurrentA2C("MlpRecurrentPolicy", cue_venv(), n_epochs=3)


# ---------------------------------------------------------------- policies
@pytest.mark.parametrize(
    "policy, kw, cell",
    [
        ("MlpLstmPolicy", {}, LSTMCell),
        ("MlpLstmPolicy", {"core": "lstm"}, LSTMCell),
        ("MlpGruPolicy", {}, GRUCell),
        ("MlpRecurrentPolicy", {}, GRUCell),
        ("MlpRecurrentPolicy", {"core": "lstm"}, LSTMCell),
    ],
)
def test_policy_names_pick_the_core(policy, kw, cell):
    model = RecurrentA2C(policy, cue_venv(), hidden_size=8, n_steps=2, seed=0, **kw)
    assert isinstance(model.policy.core, cell)
    assert model.core == model.get_config()["core"]
    model.learn(8)


@pytest.mark.parametrize("policy, core", [("MlpLstmPolicy", "gru"), ("MlpGruPolicy", "lstm")])
def test_policy_with_a_conflicting_core_is_refused(policy, core):
    with pytest.raises(ValueError, match=f"core={core!r}"):
        RecurrentA2C(policy, cue_venv(), core=core)


def test_lstm_policy_checkpoint_loads_with_its_core(tmp_path):
    model = RecurrentPPO("MlpLstmPolicy", cue_venv(), hidden_size=8, n_steps=2, seed=0)
    model.save(tmp_path / "m.zip")
    loaded = RecurrentPPO.load(tmp_path / "m.zip")
    assert isinstance(loaded.policy.core, LSTMCell) and loaded.core == "lstm"


# ---------------------------------------------------------------- immediate
def _core_grads(model: RecurrentA2C) -> tuple[list[torch.Tensor], RecurrentA2C]:
    """Collect one window, then run the update with the optimizer step caught: the core's
    gradients, and a copy of the model from before the update."""
    model.learn(0)  # set up the environments without training
    model.collect_rollouts(model.env, _NoCallback(), None, model.n_steps)
    before = copy.deepcopy(model)
    grads: list[torch.Tensor] = []
    opt = model.policy.optimizer
    opt.step = lambda *a, **k: grads.extend(p.grad.clone() for p in model.policy.core.parameters())
    model.train()
    return grads, before


class _NoCallback:
    def __getattr__(self, name):
        return lambda *a, **k: True


def test_immediate_core_gradient_is_the_sum_of_one_step_gradients():
    kw = dict(hidden_size=8, n_steps=5, max_grad_norm=1e9, seed=0)
    model = RecurrentA2C("MlpRecurrentPolicy", cue_venv(length=9), credit="immediate", **kw)
    grads, ref = _core_grads(model)
    # l_t from the same loss at the same states, then each step's gradient with z_{t−1} fixed
    w = ref._window
    ref.policy.set_training_mode(True)
    p = ref._forward(w, (w.z0, w.obs, w.starts), jacobian=False)
    tg = ref._targets(w, p)
    loss = -(tg.advantages * p.log_prob).mean()
    loss = loss + ref.ent_coef * -p.entropy.mean()
    loss = loss + ref.vf_coef * torch.nn.functional.mse_loss(tg.returns, p.values)
    loss.backward()
    l = p.z_in.grad  # (T, B, |z|)
    want = [torch.zeros_like(g) for g in grads]
    z_prev = w.z0
    for t in range(len(w.obs)):
        z_prev = z_prev.detach()
        state, _ = ref.policy.step_core(w.obs[t], RecurrentState(z_prev), w.starts[t])
        step = torch.autograd.grad(state.z, tuple(ref.policy.core.parameters()), l[t])
        want = [a + b for a, b in zip(want, step)]
        z_prev = state.z
    assert len(grads) == len(want) == len(list(model.policy.core.parameters()))
    assert all(g.abs().sum() > 0 for g in grads)
    for got, exp in zip(grads, want):
        torch.testing.assert_close(got, exp)
    # TBPTT over the same window gets a different core gradient (credit through time)
    tbptt = RecurrentA2C("MlpRecurrentPolicy", cue_venv(length=9), credit="tbptt", **kw)
    other, _ = _core_grads(tbptt)
    assert any(not torch.allclose(a, b) for a, b in zip(grads, other))


def test_immediate_runs_saves_and_loads(tmp_path):
    model = RecurrentPPO("MlpRecurrentPolicy", cue_venv(), credit="immediate", hidden_size=8)
    assert model.gradient_critic is None and model.credit_engine.cuts_every_step
    model.learn(32)
    model.save(tmp_path / "m.zip")
    assert RecurrentPPO.load(tmp_path / "m.zip").credit == "immediate"
