"""RecurrentA2C: SB3 contract round trips, spaces, credit modes, bad input, faults."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from agents import CREDIT_MODES, NonFiniteError, RecurrentA2C, gae_advantages, make_env
from agents.checkpoint import _write_zip, read_checkpoint

from .helpers import CueEnv, NaNEnv, cue_venv, rollout_actions


def small(env, credit: str = "bp_lambda", **kw) -> RecurrentA2C:
    kw.setdefault("hidden_size", 8)
    kw.setdefault("n_steps", 4)
    return RecurrentA2C("MlpRecurrentPolicy", env, credit=credit, seed=0, **kw)


# ---------------------------------------------------------------- contract
@pytest.mark.parametrize("credit", CREDIT_MODES)
@pytest.mark.parametrize("core", ["gru", "lstm"])
def test_learn_save_load_predict_round_trip(tmp_path, credit, core):
    model = small(cue_venv(), credit, core=core)
    model.learn(64)
    assert model.num_timesteps == 64
    model.save(tmp_path / "model")
    assert (tmp_path / "model.zip").exists()
    loaded = RecurrentA2C.load(tmp_path / "model", env=cue_venv())
    assert loaded.num_timesteps == 64
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(rollout_actions(model), rollout_actions(loaded))
    for a, b in zip(
        model.policy.state_dict().values(), loaded.policy.state_dict().values(), strict=False
    ):
        torch.testing.assert_close(a, b)
    if model.gradient_critic is not None:
        sd_a, sd_b = model.gradient_critic.state_dict(), loaded.gradient_critic.state_dict()
        for k in sd_a:
            torch.testing.assert_close(sd_a[k], sd_b[k])
        opt = loaded.credit_engine.optimizer.state_dict()["state"]
        assert opt, "the gradient critic's optimizer state must be saved"
    loaded.learn(32, reset_num_timesteps=False)  # training continues after loading
    assert loaded.num_timesteps == 96


def test_load_without_env_predicts_single_observation(tmp_path):
    model = small(cue_venv(box_obs=True), "bp_lambda")
    model.learn(16)
    model.save(tmp_path / "m.zip")
    loaded = RecurrentA2C.load(tmp_path / "m.zip")
    obs = np.array([1.0, 0.0, 0.0], np.float32)
    action, state = loaded.predict(obs, deterministic=True)
    ref, ref_state = model.predict(obs, deterministic=True)
    assert np.shape(action) == () and action == ref
    np.testing.assert_allclose(state, ref_state, rtol=1e-6)
    assert state.shape == (1, 8)


@pytest.mark.parametrize(
    "kw",
    [
        dict(box_obs=True, action="discrete"),
        dict(box_obs=False, action="multidiscrete"),
        dict(box_obs=True, action="box"),
    ],
)
def test_spaces(kw):
    env = cue_venv(**kw)
    model = small(env, "bp_lambda")
    model.learn(32)
    obs = env.reset()
    action, _ = model.predict(obs)
    assert action.shape == (2, *env.action_space.shape)
    assert all(env.action_space.contains(a) for a in action)


def test_id_string_and_single_env():
    model = small("CartPole-v1", "tbptt")
    assert model.n_envs == 1
    model.learn(16)
    model = small(gym.make("CartPole-v1"), "dni")
    model.learn(16)


def test_evaluate_policy_and_callbacks(tmp_path):
    model = small(cue_venv(), "bp_lambda")
    eval_cb = EvalCallback(cue_venv(1, seed=5), n_eval_episodes=3, eval_freq=16, verbose=0)
    ckpt_cb = CheckpointCallback(save_freq=16, save_path=str(tmp_path), name_prefix="ck")
    model.learn(64, callback=[eval_cb, ckpt_cb])
    assert eval_cb.last_mean_reward != -np.inf
    saved = sorted(p.name for p in tmp_path.glob("ck_*.zip"))
    assert saved, "CheckpointCallback wrote nothing"
    RecurrentA2C.load(tmp_path / saved[-1])
    mean, std = evaluate_policy(model, cue_venv(1, seed=9), n_eval_episodes=4)
    assert 0.0 <= mean <= 1.0 and std >= 0.0


def test_logging_keys(tmp_path):
    from stable_baselines3.common.logger import configure

    model = small(cue_venv(), "bp_lambda", log_sg_cosine=True, sg_cosine_horizon=8)
    logger = configure(str(tmp_path), ["csv"])
    model.set_logger(logger)
    model.learn(128, log_interval=8)
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    for key in [
        "rollout/ep_rew_mean",
        "rollout/ep_len_mean",
        "rollout/success_rate",
        "time/fps",
        "train/policy_loss",
        "train/value_loss",
        "train/entropy_loss",
        "bpl/td_error",
        "bpl/sg_norm",
        "bpl/sg_cosine",
    ]:
        assert key in header, key


# ---------------------------------------------------------------- known answers
def test_gae_matches_sb3_rollout_buffer():
    rng = np.random.default_rng(0)
    T, B, gamma, lam = 6, 3, 0.9, 0.8
    rewards = rng.normal(size=(T, B)).astype(np.float32)
    values = rng.normal(size=(T, B)).astype(np.float32)
    starts = rng.random((T, B)) < 0.3
    last_values = rng.normal(size=B).astype(np.float32)
    dones = rng.random(B) < 0.5
    buf = RolloutBuffer(
        T, gym.spaces.Box(-1, 1, (1,)), gym.spaces.Discrete(2), "cpu", lam, gamma, B
    )
    for t in range(T):
        buf.add(
            np.zeros((B, 1)),
            np.zeros((B, 1)),
            rewards[t],
            starts[t],
            torch.tensor(values[t]),
            torch.zeros(B),
        )
    buf.compute_returns_and_advantage(torch.tensor(last_values), dones)
    ends = np.concatenate([starts[1:], dones[None]]).astype(np.float32)
    adv, ret = gae_advantages(
        torch.tensor(rewards),
        torch.tensor(values),
        torch.tensor(last_values),
        torch.tensor(ends),
        gamma,
        lam,
    )
    np.testing.assert_allclose(adv.numpy(), buf.advantages, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ret.numpy(), buf.returns, rtol=1e-5, atol=1e-6)


def _params_after(credit: str, **kw) -> list[torch.Tensor]:
    model = small(cue_venv(length=4), credit, n_steps=4, **kw)
    model.learn(64)
    return [p.detach().clone() for p in model.policy.parameters()]


def test_windows_aligned_with_episodes_make_tbptt_equal_bptt():
    # Episodes of exactly 4 steps and windows of 4 steps: TBPTT already reaches back to
    # the episode start, so the two modes must produce the same parameters.
    for a, b in zip(_params_after("tbptt"), _params_after("bptt"), strict=False):
        torch.testing.assert_close(a, b)


def test_zero_beta_bp_lambda_equals_tbptt_and_injection_changes_updates():
    tb = _params_after("tbptt")
    for a, b in zip(tb, _params_after("bp_lambda", sg_beta=0.0), strict=False):
        torch.testing.assert_close(a, b)
    # with windows shorter than episodes the injected ĝ must change the core's updates
    model = small(cue_venv(length=9), "bp_lambda", n_steps=2, sg_beta=1.0, sg_learning_rate=0.05)
    model.learn(256)
    other = small(cue_venv(length=9), "tbptt", n_steps=2)
    other.learn(256)
    diff = (model.policy.core.weight_hh - other.policy.core.weight_hh).abs().max()
    assert diff > 1e-6
    assert model.gradient_critic.output.weight.abs().sum() > 0, "ĝ never learned"


def test_bptt_history_is_trimmed_to_live_episodes():
    model = small(cue_venv(length=5), "bptt", n_steps=2)
    model.learn(80)
    assert len(model._history.obs) <= 5 + 2


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kw, word",
    [
        (dict(sg_lambda=1.5), "sg_lambda"),
        (dict(sg_gamma=-0.1), "sg_gamma"),
        (dict(gae_lambda=2), "gae_lambda"),
        (dict(n_steps=0), "n_steps"),
        (dict(credit="rtrl"), "credit"),
        (dict(core="transformer"), "core"),
        (dict(hidden_size=0), "hidden_size"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(sg_beta=float("nan")), "sg_beta"),
        (dict(sg_hidden_sizes=(0,)), "sg_hidden_sizes"),
        (dict(normalize_reward="yes"), "normalize_reward"),
        (dict(learning_rate={"schedule": "cosine"}), "learning_rate"),
        (
            dict(learning_rate={"schedule": "linear", "start": 0, "end": 0, "end_fraction": 1}),
            "start > 0",
        ),
        (
            dict(learning_rate={"schedule": "linear", "start": 1e-3, "end": 0, "end_fraction": 2}),
            "end_fraction",
        ),
    ],
)
def test_invalid_hyperparameters(kw, word):
    with pytest.raises(ValueError, match=word):
        RecurrentA2C("MlpRecurrentPolicy", cue_venv(), **kw)


@pytest.mark.parametrize("core", ["gru", "lstm"])
def test_chrono_initialisation_spreads_memory_time_scales(tmp_path, core):
    model = small(cue_venv(), core=core, hidden_size=64, policy_kwargs={"chrono_max": 100})
    H, cell = 64, model.policy.core
    bias = cell.bias_ih.detach() + cell.bias_hh.detach()
    scales = 1.0 + torch.exp(bias[H : 2 * H])  # time scale 1/(1 − σ(b)) = 1 + e^b
    assert scales.min() >= 2.0 - 1e-4 and scales.max() <= 100.0 + 1e-3
    assert scales.max() > 50.0 and scales.min() < 20.0  # spread, not one value
    if core == "lstm":
        torch.testing.assert_close(bias[:H], -bias[H : 2 * H])
    model.save(tmp_path / "m")
    loaded = RecurrentA2C.load(tmp_path / "m", env=cue_venv())
    assert loaded.policy.chrono_max == 100
    torch.testing.assert_close(loaded.policy.core.bias_ih, cell.bias_ih)


def test_chrono_is_the_default_for_gated_cores_only():
    assert small(cue_venv()).policy.chrono_max == 100
    assert small(cue_venv(), core="lstm").policy.chrono_max == 100
    assert small(cue_venv(), core="rnn").policy.chrono_max is None
    off = small(cue_venv(), policy_kwargs={"chrono_max": None, "gate_bias": 2.0})
    H = off.policy.core.hidden_size
    assert off.policy.chrono_max is None
    torch.testing.assert_close(off.policy.core.bias_ih[H : 2 * H], torch.full((H,), 2.0))


@pytest.mark.parametrize(
    "kw, word",
    [
        (dict(core="rnn", policy_kwargs={"chrono_max": 10}), "gated core"),
        (dict(policy_kwargs={"chrono_max": 1}), "chrono_max"),
        (dict(policy_kwargs={"chrono_max": 2.5}), "chrono_max"),
    ],
)
def test_invalid_chrono_max(kw, word):
    with pytest.raises(ValueError, match=word):
        small(cue_venv(), **kw)


def test_unsupported_spaces():
    class DictEnv(CueEnv):
        def __init__(self):
            super().__init__()
            self.observation_space = gym.spaces.Dict({"a": gym.spaces.Discrete(3)})

    with pytest.raises(ValueError, match="observation space"):
        RecurrentA2C("MlpRecurrentPolicy", DictEnv())


def test_unknown_env_id_names_close_matches():
    with pytest.raises(ValueError, match="CartPol-v1") as err:
        RecurrentA2C("MlpRecurrentPolicy", "CartPol-v1")
    assert "CartPole-v1" in str(err.value)
    with pytest.raises(ValueError, match="CartPol-v1"):
        make_env("CartPol-v1")


# ---------------------------------------------------------------- faults
def test_non_finite_loss_stops_without_applying_update():
    model = small(make_vec_env(NaNEnv, n_envs=2, seed=0), "bp_lambda")
    before = [p.detach().clone() for p in model.policy.parameters()]
    with pytest.raises(NonFiniteError, match="non-finite"):
        model.learn(64)
    for a, b in zip(before, model.policy.parameters(), strict=False):
        torch.testing.assert_close(a, b.detach())


def test_corrupt_and_foreign_checkpoints(tmp_path):
    model = small(cue_venv(), "bp_lambda")
    model.save(tmp_path / "good.zip")
    data = (tmp_path / "good.zip").read_bytes()
    (tmp_path / "trunc.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt"):
        RecurrentA2C.load(tmp_path / "trunc.zip")
    (tmp_path / "junk.zip").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="corrupt"):
        RecurrentA2C.load(tmp_path / "junk.zip")
    with pytest.raises(ValueError, match="does not exist"):
        RecurrentA2C.load(tmp_path / "missing.zip")


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_CHECKPOINT",))


def test_loading_never_executes_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = small(cue_venv(), "bp_lambda")
    model.save(tmp_path / "good.zip")
    with zipfile.ZipFile(tmp_path / "good.zip") as zf:
        meta = zf.read("meta.json")
    payload = io.BytesIO()
    torch.save({"policy": _Boom()}, payload)  # a pickle that would run a command
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("meta.json", meta)
        zf.writestr("tensors.pt", payload.getvalue())
    with pytest.raises(ValueError):
        RecurrentA2C.load(tmp_path / "evil.zip")
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()
    (tmp_path / "pickled.zip").write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(ValueError):
        RecurrentA2C.load(tmp_path / "pickled.zip")
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()


def test_checkpoint_from_another_configuration(tmp_path):
    model = small(cue_venv(), "bp_lambda")
    model.save(tmp_path / "m.zip")
    with pytest.raises(ValueError, match="hidden_size"):
        RecurrentA2C.load(tmp_path / "m.zip", hidden_size=16)
    with pytest.raises(ValueError, match="credit"):
        RecurrentA2C.load(tmp_path / "m.zip", credit="tbptt")
    with pytest.raises(ValueError, match="observation space"):
        RecurrentA2C.load(tmp_path / "m.zip", env=cue_venv(box_obs=True))
    with pytest.raises(ValueError, match="sg_normalize_input"):
        RecurrentA2C.load(tmp_path / "m.zip", sg_normalize_input=False)
    # non-structural hyperparameters may change on load
    loaded = RecurrentA2C.load(tmp_path / "m.zip", ent_coef=0.5)
    assert loaded.ent_coef == 0.5


@pytest.mark.parametrize("credit", ["bp_lambda", "dni"])
def test_critic_input_normalisation_is_learned_saved_and_used(tmp_path, credit):
    model = small(cue_venv(), credit)
    assert model.sg_normalize_input and model.credit_engine.normalizer is not None
    model.learn(32)
    norm = model.credit_engine.normalizer
    assert float(norm.count) == 32 and bool((norm.var > 0).all())
    model.save(tmp_path / "m.zip")
    loaded = RecurrentA2C.load(tmp_path / "m.zip")
    for key, value in norm.state_dict().items():
        torch.testing.assert_close(loaded.credit_engine.normalizer.state_dict()[key], value)
    raw = small(cue_venv(), credit, sg_normalize_input=False)
    assert raw.credit_engine.normalizer is None
    raw.learn(32)


def test_critic_sees_standardised_states():
    """The first window sets the statistics exactly, so the states BP(λ) gets over that
    window have mean 0 and variance 1 per unit (units that never moved excepted)."""
    model = small(cue_venv(), "bp_lambda", n_steps=8)
    seen, step = [], model.credit_engine.bp_lambda.step
    model.credit_engine.bp_lambda.step = lambda z, *rest: (seen.append(z), step(z, *rest))[1]
    model.learn(16)  # one window of 8 steps × 2 envs
    zs = torch.cat(seen)
    moving = model.credit_engine.normalizer.var > 1e-5
    assert zs.shape[0] == 16 and bool(moving.any())
    n = int(moving.sum())
    torch.testing.assert_close(zs.mean(0)[moving], torch.zeros(n), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        zs.var(0, unbiased=False)[moving], torch.ones(int(moving.sum())), atol=1e-4, rtol=1e-4
    )


def test_dni_critic_sees_standardised_states():
    model = small(cue_venv(), "dni", n_steps=8)
    seen = []
    model.gradient_critic.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    model.learn(16)
    norm = model.credit_engine.normalizer
    # the regression's input is the state before the window (zero here), standardised
    torch.testing.assert_close(seen[-1], norm.transform(torch.zeros_like(model._state.z))[0])
    assert float(norm.count) == 16


def test_checkpoint_from_before_input_normalisation_loads_without_it(tmp_path):
    model = small(cue_venv(), "bp_lambda", sg_normalize_input=False)
    model.save(tmp_path / "m.zip")
    meta, tensors = read_checkpoint(tmp_path / "m.zip")
    del meta["config"]["sg_normalize_input"]  # as written before the option existed
    buf = io.BytesIO()
    torch.save(tensors, buf)
    with open(tmp_path / "old.zip", "wb") as f:
        _write_zip(f, meta, buf.getvalue())
    loaded = RecurrentA2C.load(tmp_path / "old.zip")
    assert loaded.sg_normalize_input is False and loaded.credit_engine.normalizer is None


def test_save_is_atomic(tmp_path, monkeypatch):
    model = small(cue_venv(), "tbptt")
    model.save(tmp_path / "m.zip")
    before = (tmp_path / "m.zip").read_bytes()

    def fail(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    model.learn(16)
    with pytest.raises(OSError):
        model.save(tmp_path / "m.zip")
    assert (tmp_path / "m.zip").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.zip"], "temporary file left behind"


# ---------------------------------------------------------------- reward scale, lr schedule
def test_reward_normalisation_matches_sb3_running_mean_std():
    """r / √(var of the discounted return + 1e-8), clipped to ±10, the return restarting at
    episode ends — against SB3's own RunningMeanStd, step by step."""
    from stable_baselines3.common.running_mean_std import RunningMeanStd

    model = small(cue_venv(3), "tbptt", normalize_reward=True, gamma=0.9)
    rng = np.random.default_rng(0)
    rms, ret = RunningMeanStd(shape=()), np.zeros(3)
    for _ in range(40):
        r = rng.normal(size=3).astype(np.float32) * 5
        d = rng.random(3) < 0.2
        ret = ret * 0.9 + r
        rms.update(ret)
        want = np.clip(r / np.sqrt(rms.var + 1e-8), -10, 10)
        ret[d] = 0.0
        np.testing.assert_allclose(model._scale_rewards(r, d), want, rtol=1e-5)
    unscaled = small(cue_venv(3), "tbptt")
    assert unscaled._scale_rewards(r, d) is r


def test_reward_statistics_are_saved_and_required(tmp_path):
    model = small(cue_venv(), "bp_lambda", normalize_reward=True)
    model.learn(64)
    model.save(tmp_path / "m.zip")
    loaded = RecurrentA2C.load(tmp_path / "m.zip", env=cue_venv())
    assert loaded.normalize_reward is True
    for stat in ("mean", "var", "count"):
        assert getattr(loaded.reward_rms, stat) == getattr(model.reward_rms, stat)
    assert model.reward_rms.count > 64 - 1  # every step's returns were folded in
    meta, tensors = read_checkpoint(tmp_path / "m.zip")
    del tensors["reward_rms"]
    buf = io.BytesIO()
    torch.save(tensors, buf)
    with open(tmp_path / "bad.zip", "wb") as f:
        _write_zip(f, meta, buf.getvalue())
    with pytest.raises(ValueError, match="no reward statistics"):
        RecurrentA2C.load(tmp_path / "bad.zip")


def test_linear_learning_rate_schedule_decays_and_is_saved(tmp_path):
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.utils import LinearSchedule

    class RecordLR(BaseCallback):
        def __init__(self):
            super().__init__()
            self.lrs = []

        def _on_rollout_start(self):
            self.lrs.append(self.model.policy.optimizer.param_groups[0]["lr"])

        def _on_step(self):
            return True

    model = small(cue_venv(), "tbptt", learning_rate=LinearSchedule(1e-2, 0.0, 1.0))
    rec = RecordLR()
    model.learn(256, callback=rec)  # 32 windows of 2 envs × 4 steps
    lrs = np.array(rec.lrs[1:])  # set by the update after each window
    want = 1e-2 * (1 - 8 * np.arange(1, 32) / 256)
    np.testing.assert_allclose(lrs, want, rtol=1e-6)
    model.save(tmp_path / "m.zip")
    cfg = read_checkpoint(tmp_path / "m.zip")[0]["config"]
    assert cfg["learning_rate"] == {
        "schedule": "linear",
        "start": 1e-2,
        "end": 0.0,
        "end_fraction": 1.0,
    }
    loaded = RecurrentA2C.load(tmp_path / "m.zip")
    assert isinstance(loaded.learning_rate, LinearSchedule)
    assert loaded.lr_schedule(0.5) == pytest.approx(5e-3)


def test_custom_learning_rate_schedule_is_saved_as_its_start_with_a_warning(tmp_path):
    model = small(cue_venv(), "tbptt", learning_rate=lambda p: 1e-3 * p)
    with pytest.warns(UserWarning, match="custom schedule"):
        model.save(tmp_path / "m.zip")
    assert read_checkpoint(tmp_path / "m.zip")[0]["config"]["learning_rate"] == 1e-3
