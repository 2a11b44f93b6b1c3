"""Recurrent advantage actor-critic whose core learns by BP(λ), DNI, TBPTT or BPTT.

Layout: windows are time-first, ``(T, B, ·)`` with T = ``n_steps`` and B = ``n_envs``.

One update per window of T steps (bp_lambda.md §5 and §7):

1. collect T steps from the VecEnv with the current policy (no graph);
2. re-run the core over the window from the detached state it started in (``bptt``:
   from the start of every live episode), keeping the graph and, for the synthetic-
   gradient modes, the Jacobians J_t;
3. actor-critic loss per step, L_t = −Â_t log π(a_t|z_t) − c_H·H[π(·|z_t)] + c_V (R_t − V(z_t))²,
   with GAE advantages; its gradient w.r.t. z_t is the immediate gradient l_t;
4. core gradient: TBPTT over the window of Σ_t l_t plus β ĝ(z_{T−1}) injected at the
   window's last state (``bp_lambda``, ``dni``);
5. gradient critic: ``bp_lambda`` feeds (z_t, J_t, l_t, episode_end_t) for every t of the
   window to :class:`bpl.BPLambda` (traces carry across windows); ``dni`` regresses
   ĝ(z_{−1}) on the window's k-step bootstrapped target (Jaderberg et al., 2017).
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import warnings
import zipfile
from typing import Any, ClassVar, TypeVar

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm, maybe_make_env
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import (
    ConstantSchedule,
    LinearSchedule,
    explained_variance,
    obs_as_tensor,
)
from stable_baselines3.common.vec_env import VecEnv

from bpl import (
    BPLambda,
    StateNormalizer,
    SyntheticGradient,
    bootstrapped_targets,
    cosine_similarity,
)
from bpl import future_gradients as exact_future_gradients

from .env_util import resolve_env_id
from .policy import (
    SUPPORTED_ACTION_SPACES,
    SUPPORTED_OBSERVATION_SPACES,
    RecurrentActorCriticPolicy,
    RecurrentState,
)
from .spaces_json import space_from_json, space_to_json

SelfRecurrentA2C = TypeVar("SelfRecurrentA2C", bound="RecurrentA2C")

#: Credit-assignment modes for the recurrent core.
CREDIT_MODES = ("bp_lambda", "dni", "tbptt", "bptt")
#: Checkpoint format tag; files without it are refused.
CHECKPOINT_FORMAT = "bplambda.RecurrentA2C"
CHECKPOINT_VERSION = 1
#: Hyperparameters that fix the shapes of the saved tensors: a checkpoint only loads
#: into a model that agrees on all of them.
STRUCTURAL_KEYS = (
    "credit",
    "core",
    "hidden_size",
    "sg_hidden_sizes",
    "sg_train_output_only",
    "sg_normalize_input",
)


class NonFiniteError(RuntimeError):
    """A loss or gradient became NaN/inf; the update that produced it was not applied."""


def gae_advantages(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_value: torch.Tensor,
    episode_ends: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates over a window (Schulman et al., 2016).

    δ_t = r_t + γ V_{t+1} (1 − end_t) − V_t,   Â_t = δ_t + γλ (1 − end_t) Â_{t+1},
    with V_T = ``next_value`` and Â_T = 0; returns R_t = Â_t + V_t.

    :param rewards: r, (T, B).
    :param values: V(z_t), (T, B).
    :param next_value: V(z_T) after the window, (B,).
    :param episode_ends: (T, B) float, 1 where step t ended its episode.
    :param gamma: RL discount γ.
    :param gae_lambda: GAE λ.
    :return: advantages and returns, both (T, B).
    """
    T = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in range(T - 1, -1, -1):
        nxt = next_value if t == T - 1 else values[t + 1]
        live = 1.0 - episode_ends[t]
        delta = rewards[t] + gamma * nxt * live - values[t]
        last = delta + gamma * gae_lambda * live * last
        adv[t] = last
    return adv, adv + values


def _check_unit(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _check_nonneg(name: str, value: Any, positive: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        allowed = "a finite number > 0" if positive else "a finite number >= 0"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return float(value)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_spaces(observation_space: spaces.Space, action_space: spaces.Space) -> None:
    if not isinstance(observation_space, SUPPORTED_OBSERVATION_SPACES):
        raise ValueError(
            f"observation space {observation_space} is not supported; allowed: "
            + ", ".join(s.__name__ for s in SUPPORTED_OBSERVATION_SPACES)
        )
    if not isinstance(action_space, SUPPORTED_ACTION_SPACES):
        raise ValueError(
            f"action space {action_space} is not supported; allowed: "
            + ", ".join(s.__name__ for s in SUPPORTED_ACTION_SPACES)
        )
    if isinstance(action_space, spaces.Box) and not np.all(
        np.isfinite(action_space.low) & np.isfinite(action_space.high)
    ):
        raise ValueError(f"Box action space must have finite bounds, got {action_space}")


class RecurrentA2C(OnPolicyAlgorithm):
    """Recurrent A2C whose core assigns credit by BP(λ), DNI, TBPTT or episode BPTT.

    Follows stable-baselines3's algorithm contract (``learn``, ``predict`` with a
    recurrent state, ``save``/``load``, callbacks, ``evaluate_policy``).

    :param policy: ``"MlpRecurrentPolicy"`` or a :class:`RecurrentActorCriticPolicy` subclass.
    :param env: a Gymnasium env, a registered id (``module:EnvId-v0`` allowed) or a VecEnv.
    :param credit: how the core learns: ``"bp_lambda"`` (TBPTT over the window + β ĝ, ĝ
        learned by BP(λ)), ``"dni"`` (same injection, ĝ learned on k-step bootstrapped
        targets), ``"tbptt"`` (window only, no ĝ) or ``"bptt"`` (back to episode start).
    :param learning_rate: learning rate of the policy (actor, critic and core), or a
        schedule of the remaining progress (1 → 0). SB3's ``LinearSchedule`` (e.g.
        ``LinearSchedule(3e-3, 0.0, 1.0)``: linear decay to 0) and ``ConstantSchedule``
        are saved with the model; another callable is saved as its initial value, with a
        warning.
    :param n_steps: window length T per environment between updates (1 = fully online).
    :param gamma: RL discount γ.
    :param gae_lambda: GAE λ ∈ [0, 1].
    :param ent_coef: entropy bonus coefficient c_H.
    :param vf_coef: value loss coefficient c_V.
    :param max_grad_norm: clip the policy's gradient to this norm.
    :param normalize_advantage: standardise advantages over each window.
    :param normalize_reward: divide rewards by a running standard deviation of the
        discounted return and clip them to ±10 (what SB3's ``VecNormalize(norm_reward=True)``
        does), inside the agent so that the statistics are saved with it; training only —
        ``ep_rew_mean`` and evaluations see the environment's rewards.
    :param core: recurrent cell: ``"rnn"``, ``"gru"`` or ``"lstm"``.
    :param hidden_size: H, units in the core.
    :param sg_gamma: gradient critic's discount γ_g ∈ [0, 1] (separate from ``gamma``).
    :param sg_lambda: gradient critic's trace decay λ_g ∈ [0, 1] (separate from ``gae_lambda``).
    :param sg_beta: scale β ≥ 0 of the synthetic gradient injected at the window end.
    :param sg_learning_rate: Adam learning rate of the gradient critic.
    :param sg_hidden_sizes: hidden layers of the gradient critic (``()`` = linear ĝ = A z + b);
        a hidden layer trained output-only (``sg_train_output_only``), e.g. ``(16,)``, keeps
        the trace at B·|z|·|z|·17 floats instead of B·|z|²·(|z|+1) (docs/agents.md: what
        each costs in speed and alignment).
    :param sg_train_output_only: with hidden layers, keep them frozen at their random
        initialisation and learn only the output layer (much cheaper traces, bp_lambda.md §6).
    :param sg_max_grad_norm: clip the gradient critic's update to this norm.
    :param sg_normalize: the critic predicts G/σ with σ a running RMS of the immediate
        gradients l (injected as β·σ·ĝ), so that its Adam steps match its targets' scale.
    :param sg_normalize_input: the critic works in standardised coordinates
        z' = (z − μ)/s (running per-unit mean and standard deviation of the states;
        J' = diag(1/s) J diag(s), l' = s ⊙ l, ĝ = ĝ'/s: an exact change of variables,
        :class:`bpl.StateNormalizer`), so that it learns as fast along directions of z that
        vary little — a memory that is still faint — as along the others.
    :param log_sg_cosine: log ``bpl/sg_cosine``, the cosine between ĝ_t and the exact future
        gradient G_t computed by a backward sweep over a stored stretch of steps.
    :param sg_cosine_horizon: steps stored for ``bpl/sg_cosine``.
    :param max_bptt_steps: ``bptt`` only: longest history kept for back-propagation.
    :param stats_window_size: episodes averaged for the rollout statistics.
    :param tensorboard_log: TensorBoard folder (None: no TensorBoard).
    :param policy_kwargs: extra arguments for the policy (``log_std_init``, ``ortho_init``,
        ``optimizer_class``, ``optimizer_kwargs``).
    :param verbose: 0 silent, 1 training logs on stdout.
    :param seed: random seed.
    :param device: torch device (``"auto"``: CUDA when available).
    :param _init_setup_model: build the networks now (False when loading).
    """

    policy_aliases: ClassVar[dict[str, type[RecurrentActorCriticPolicy]]] = {
        "MlpRecurrentPolicy": RecurrentActorCriticPolicy,
        "MlpLstmPolicy": RecurrentActorCriticPolicy,
    }
    policy: RecurrentActorCriticPolicy

    #: gradient steps per window: one for A2C (RecurrentPPO sets its own)
    n_epochs: int = 1
    #: early stop of a window's passes when the KL estimate exceeds 1.5× this (PPO only)
    target_kl: float | None = None

    def __init__(
        self,
        policy: str | type[RecurrentActorCriticPolicy],
        env: GymEnv | str | None,
        credit: str = "bp_lambda",
        learning_rate: float | Schedule = 1e-3,
        n_steps: int = 8,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        ent_coef: float = 0.01,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        normalize_advantage: bool = False,
        normalize_reward: bool = False,
        core: str = "gru",
        hidden_size: int = 64,
        sg_gamma: float = 0.99,
        sg_lambda: float = 1.0,
        sg_beta: float = 1.0,
        sg_learning_rate: float = 3e-3,
        sg_hidden_sizes: tuple[int, ...] | list[int] = (),
        sg_train_output_only: bool = True,
        sg_max_grad_norm: float = 10.0,
        sg_normalize: bool = True,
        sg_normalize_input: bool = True,
        log_sg_cosine: bool = False,
        sg_cosine_horizon: int = 256,
        max_bptt_steps: int = 1000,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        if credit not in CREDIT_MODES:
            raise ValueError(f"credit must be one of {CREDIT_MODES}, got {credit!r}")
        if core not in ("rnn", "gru", "lstm"):
            raise ValueError(f"core must be one of ('rnn', 'gru', 'lstm'), got {core!r}")
        learning_rate = _learning_rate_from_config(learning_rate)
        if not callable(learning_rate):
            _check_nonneg("learning_rate", learning_rate, positive=True)
        n_steps = _check_int("n_steps", n_steps, 1)
        _check_unit("gamma", gamma)
        _check_unit("gae_lambda", gae_lambda)
        _check_nonneg("ent_coef", ent_coef)
        _check_nonneg("vf_coef", vf_coef)
        _check_nonneg("max_grad_norm", max_grad_norm, positive=True)
        _check_int("hidden_size", hidden_size, 1)
        _check_unit("sg_gamma", sg_gamma)
        _check_unit("sg_lambda", sg_lambda)
        _check_nonneg("sg_beta", sg_beta)
        _check_nonneg("sg_learning_rate", sg_learning_rate, positive=True)
        _check_nonneg("sg_max_grad_norm", sg_max_grad_norm, positive=True)
        sg_hidden_sizes = tuple(_check_int("sg_hidden_sizes[i]", s, 1) for s in sg_hidden_sizes)
        _check_int("sg_cosine_horizon", sg_cosine_horizon, 2)
        _check_int("max_bptt_steps", max_bptt_steps, n_steps)
        if isinstance(env, str):
            env = gym.make(resolve_env_id(env))
        if env is not None:
            _check_spaces(env.observation_space, env.action_space)
        policy_kwargs = dict(policy_kwargs or {})
        for key in ("core", "hidden_size"):
            if key in policy_kwargs:
                raise ValueError(f"pass {key!r} to RecurrentA2C, not in policy_kwargs")
        policy_kwargs.update(core=core, hidden_size=hidden_size)

        self.credit = credit
        self.normalize_advantage = bool(normalize_advantage)
        if not isinstance(normalize_reward, (bool, np.bool_)):
            raise ValueError(f"normalize_reward must be a bool, got {normalize_reward!r}")
        self.normalize_reward = bool(normalize_reward)
        #: running (mean, var, count) of the discounted return, and the return per env
        self._ret_rms = np.array([0.0, 1.0, 1e-4])
        self._ret: np.ndarray | None = None
        self.core = core
        self.hidden_size = hidden_size
        self.sg_gamma = float(sg_gamma)
        self.sg_lambda = float(sg_lambda)
        self.sg_beta = float(sg_beta)
        self.sg_learning_rate = float(sg_learning_rate)
        self.sg_hidden_sizes = sg_hidden_sizes
        self.sg_train_output_only = bool(sg_train_output_only)
        self.sg_max_grad_norm = float(sg_max_grad_norm)
        self.sg_normalize = bool(sg_normalize)
        self.sg_normalize_input = bool(sg_normalize_input)
        self.log_sg_cosine = bool(log_sg_cosine)
        self.sg_cosine_horizon = int(sg_cosine_horizon)
        self.max_bptt_steps = int(max_bptt_steps)
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            gamma=gamma,
            gae_lambda=gae_lambda,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=False,
            sde_sample_freq=-1,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=False,
        )
        if _init_setup_model:
            self._setup_model()

    # ------------------------------------------------------------------ set-up
    @property
    def uses_synthetic_gradient(self) -> bool:
        """True for the modes that inject ĝ (``bp_lambda``, ``dni``)."""
        return self.credit in ("bp_lambda", "dni")

    def _setup_model(self) -> None:
        """Build the policy, the gradient critic and its optimizer (no rollout buffer:
        the window lives in ``self._window``)."""
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self.policy = self.policy_class(  # type: ignore[assignment]
            self.observation_space, self.action_space, self.lr_schedule, **self.policy_kwargs
        ).to(self.device)
        self.gradient_critic: SyntheticGradient | None = None
        self.sg_input_norm: StateNormalizer | None = None
        self.sg_optimizer: torch.optim.Optimizer | None = None
        self.bp_lambda: BPLambda | None = None
        if self.uses_synthetic_gradient:
            # Own random stream: every credit mode then samples the same actions from the
            # same seed until their updates differ (fair comparisons).
            with torch.random.fork_rng(devices=[]):
                if self.seed is not None:
                    torch.manual_seed(self.seed + 1)
                self.gradient_critic = SyntheticGradient(
                    self.policy.state_size,
                    hidden_sizes=self.sg_hidden_sizes,
                    train_output_only=self.sg_train_output_only,
                    device=self.device,
                )
            if self.sg_normalize_input:
                self.sg_input_norm = StateNormalizer(self.policy.state_size, device=self.device)
            self.sg_optimizer = torch.optim.Adam(
                self.gradient_critic.trainable_parameters(), lr=self.sg_learning_rate
            )
            if self.credit == "bp_lambda":
                self.bp_lambda = BPLambda(
                    self.gradient_critic, self.sg_gamma, self.sg_lambda, check_inputs=False
                )
        self._state: RecurrentState | None = None
        self._window: dict[str, Any] | None = None
        self._history: dict[str, Any] | None = None
        self._probe: dict[str, list[torch.Tensor]] = {}
        self.rollout_buffer = None  # SB3's learn() passes it on; the window is self._window
        self._sg_scale_sq: torch.Tensor | None = None  # running mean of l² (sg_normalize)

    def _reset_recurrent(self) -> None:
        """Fresh zero state, traces and histories for ``self.n_envs`` environments."""
        self._state = self.policy.initial_state(self.n_envs)
        if self.bp_lambda is not None:
            self.bp_lambda.reset(self.n_envs)
        self._history = None
        self._probe = {}

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        # Why override: the recurrent state, traces and histories must restart whenever
        # SB3 resets the environments here.
        needs_reset = reset_num_timesteps or self._last_obs is None
        out = super()._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        if needs_reset or self._state is None or self._state.z.shape[0] != self.n_envs:
            self._reset_recurrent()
        return out

    def learn(
        self: SelfRecurrentA2C,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 100,
        tb_log_name: str = "RecurrentA2C",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfRecurrentA2C:
        """Train for ``total_timesteps`` environment steps (SB3's ``learn``).

        :param total_timesteps: environment steps to collect (summed over envs).
        :param callback: SB3 callback(s), called every step.
        :param log_interval: write the logs every this many windows.
        :param tb_log_name: name of the TensorBoard run.
        :param reset_num_timesteps: restart the step counter (False continues it).
        :param progress_bar: show a progress bar.
        :raises NonFiniteError: a loss or gradient became NaN/inf.
        """
        _check_int("total_timesteps", total_timesteps, 0)
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    # ------------------------------------------------------------------ rollout
    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: Any,
        n_rollout_steps: int,
    ) -> bool:
        """Collect one window of ``n_rollout_steps`` steps into ``self._window``.

        No graph is kept: :meth:`train` re-runs the core over the window.

        :param env: the training VecEnv.
        :param callback: called every step; returning False stops training.
        :param rollout_buffer: unused (SB3's signature).
        :param n_rollout_steps: T.
        :return: False if the callback stopped training.
        """
        policy = self.policy
        policy.set_training_mode(False)
        dev = self.device
        state = self._state
        start_state = state
        obs_l, start_l, act_l, rew_l = [], [], [], []
        callback.on_rollout_start()
        for _ in range(n_rollout_steps):
            obs = obs_as_tensor(self._last_obs, dev)
            start = torch.as_tensor(self._last_episode_starts, dtype=torch.float32, device=dev)
            policy.update_obs_stats(obs)
            with torch.no_grad():
                state, _ = policy.step_core(obs, state, start)
                actions = policy.distribution(state.z).get_actions()
            actions_np = policy.postprocess_actions(actions.cpu().numpy())
            if isinstance(self.action_space, spaces.Discrete):
                actions_np = actions_np.reshape(-1)
            new_obs, rewards, dones, infos = env.step(actions_np)
            self.num_timesteps += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                self._state = state
                return False
            self._update_info_buffer(infos, dones)
            rewards = self._scale_rewards(rewards, dones)
            rewards = self._bootstrap_truncated(rewards, dones, infos, state)
            obs_l.append(obs)
            start_l.append(start)
            act_l.append(actions)
            rew_l.append(torch.as_tensor(rewards, dtype=torch.float32, device=dev))
            self._last_obs = new_obs
            self._last_episode_starts = dones
        dones_t = torch.as_tensor(dones, dtype=torch.float32, device=dev)
        with torch.no_grad():  # V(z_T) for the GAE bootstrap (the next window recomputes z_T)
            nxt, _ = policy.step_core(obs_as_tensor(new_obs, dev), state, dones_t)
            next_value = policy.value(nxt.z)
        self._state = state
        self._window = {
            "z0": start_state.z,  # (B, |z|), state before the window
            "obs": obs_l,  # T × (B, ·)
            "starts": torch.stack(start_l),  # (T, B)
            "actions": torch.stack(act_l),  # (T, B, ·)
            "rewards": torch.stack(rew_l),  # (T, B)
            "ends": torch.cat([torch.stack(start_l)[1:], dones_t[None]]),  # (T, B)
            "next_value": next_value,  # (B,)
        }
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def _scale_rewards(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """``normalize_reward``: r / std(discounted return), clipped to ±10 (else r).

        The return R ← γR + r per env folds into a running mean/variance (Chan et al.'s
        parallel update, SB3's ``RunningMeanStd``) and restarts at episode ends."""
        if not self.normalize_reward:
            return rewards
        r = np.asarray(rewards, dtype=np.float64)
        if self._ret is None or self._ret.shape != r.shape:
            self._ret = np.zeros_like(r)
        self._ret = self._ret * self.gamma + r
        mean, var, count = self._ret_rms
        n = self._ret.size
        b_mean, b_var = float(self._ret.mean()), float(self._ret.var())
        total = count + n
        delta = b_mean - mean
        m2 = var * count + b_var * n + delta**2 * count * n / total
        self._ret_rms = np.array([mean + delta * n / total, m2 / total, total])
        self._ret[np.asarray(dones, dtype=bool)] = 0.0
        return np.clip(r / np.sqrt(self._ret_rms[1] + 1e-8), -10.0, 10.0).astype(np.float32)

    def _bootstrap_truncated(
        self, rewards: np.ndarray, dones: np.ndarray, infos: list[dict], state: RecurrentState
    ) -> np.ndarray:
        """r_t += γ V(terminal state) where an episode was truncated, not terminated.

        The terminal state is one more core step on the terminal observation (as SB3
        does for feed-forward policies, GitHub issue #633)."""
        rows = [
            i
            for i, done in enumerate(dones)
            if done
            and infos[i].get("TimeLimit.truncated", False)
            and infos[i].get("terminal_observation") is not None
        ]
        if not rows:
            return rewards
        rewards = np.array(rewards, dtype=np.float32)
        obs = np.stack([infos[i]["terminal_observation"] for i in rows])
        with torch.no_grad():
            idx = torch.as_tensor(rows, device=self.device)
            sub = RecurrentState(state.z[idx])
            nothing = torch.zeros(len(rows), device=self.device)
            term, _ = self.policy.step_core(obs_as_tensor(obs, self.device), sub, nothing)
            rewards[rows] += self.gamma * self.policy.value(term.z).cpu().numpy()
        return rewards

    # ------------------------------------------------------------------ update
    def _unroll(
        self, z0: torch.Tensor, obs: list[torch.Tensor], starts: torch.Tensor, jacobian: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Core states over a sequence, with graph: (T, B, |z|) and J (T, B, |z|, |z|)."""
        state = RecurrentState(z0.detach())
        zs, jacs = [], []
        for t in range(len(obs)):
            state, jac = self.policy.step_core(obs[t], state, starts[t], jacobian=jacobian)
            zs.append(state.z)
            jacs.append(jac)
        return torch.stack(zs), (torch.stack(jacs) if jacobian else None)

    def _bptt_sequence(self, w: dict[str, Any]) -> tuple[torch.Tensor, list, torch.Tensor]:
        """Append the window to the episode history and return (z before it, obs, starts)."""
        h = self._history
        if h is None:
            h = {"z0": w["z0"], "obs": [], "starts": w["starts"][:0]}
        h["obs"] = h["obs"] + w["obs"]
        h["starts"] = torch.cat([h["starts"], w["starts"]])
        self._history = h
        return h["z0"], h["obs"], h["starts"]

    def _trim_history(self, zs: torch.Tensor) -> None:
        """Drop history older than the earliest live episode start (and beyond the cap)."""
        h = self._history
        starts = h["starts"]  # (L, B)
        L = starts.shape[0]
        idx = torch.arange(L, device=starts.device).unsqueeze(1).expand_as(starts)
        last_start = torch.where(starts > 0, idx, -1).max(0).values  # (B,)
        # a row with no start in the history keeps everything (only before the first episode)
        cut = int(last_start.min().clamp_min(0))
        cut = max(cut, L - self.max_bptt_steps + self.n_steps)
        if cut > 0:
            h["z0"] = zs[cut - 1].detach()
            h["obs"] = h["obs"][cut:]
            h["starts"] = starts[cut:]

    def _policy_loss(
        self, adv: torch.Tensor, log_prob: torch.Tensor, old_log_prob: torch.Tensor
    ) -> torch.Tensor:
        """The policy-gradient loss: −mean Â_t log π(a_t|z_t) (A2C).

        :class:`~agents.RecurrentPPO` overrides it with the clipped surrogate."""
        return -(adv * log_prob).mean()

    def train(self) -> None:
        """One update from the window collected last (see the module docstring).

        ``n_epochs`` gradient steps on the window (1 for A2C; RecurrentPPO: several), each
        re-running the core from the window's stored start state. The gradient critic
        learns once per window, from the first pass, whose loss gradient is A2C's (the
        PPO ratio is 1 there), and the same β ĝ is injected at the window's last state
        in every pass."""
        w = self._window
        policy = self.policy
        policy.set_training_mode(True)
        self._update_learning_rate(policy.optimizer)
        T, B = w["starts"].shape
        need_jac = self.uses_synthetic_gradient or (
            self.log_sg_cosine and self.gradient_critic is not None
        )
        if self.credit == "bptt":
            z0, obs, starts = self._bptt_sequence(w)
        else:
            z0, obs, starts = w["z0"], w["obs"], w["starts"]
        actions = w["actions"].reshape(T * B, *w["actions"].shape[2:])
        log = self.logger.record_mean
        sg_inject = sg_last = None
        for epoch in range(self.n_epochs):
            first = epoch == 0
            zs, jacs = self._unroll(z0, obs, starts, jacobian=need_jac and first)  # (L, B, |z|)
            zw = zs[-T:]  # (T, B, |z|): the window's states
            z_in = zw.detach().requires_grad_(True)
            flat = z_in.reshape(T * B, -1)  # (T, B, |z|) -> (T*B, |z|)
            dist = policy.distribution(flat)
            log_prob = dist.log_prob(actions).view(T, B)
            values = policy.value(flat).view(T, B)
            entropy = dist.entropy()
            entropy = -log_prob if entropy is None else entropy.view(T, B)
            if first:
                with torch.no_grad():
                    adv, returns = gae_advantages(
                        w["rewards"],
                        values,
                        w["next_value"],
                        w["ends"],
                        self.gamma,
                        self.gae_lambda,
                    )
                    if self.normalize_advantage and adv.numel() > 1:
                        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                    old_log_prob = log_prob.detach()
            elif self.target_kl is not None:
                with torch.no_grad():  # SB3 PPO's estimator of KL(old ‖ new)
                    log_ratio = log_prob - old_log_prob
                    approx_kl = ((log_ratio.exp() - 1) - log_ratio).mean().item()
                if approx_kl > 1.5 * self.target_kl:
                    log("train/approx_kl", approx_kl)
                    break  # early stop: the policy moved too far from the one that acted
            policy_loss = self._policy_loss(adv, log_prob, old_log_prob)
            value_loss = F.mse_loss(returns, values)
            entropy_loss = -entropy.mean()
            loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
            if not torch.isfinite(loss):
                raise NonFiniteError(
                    f"non-finite loss at step {self.num_timesteps}: policy "
                    f"{policy_loss.item()}, value {value_loss.item()}, entropy "
                    f"{entropy_loss.item()}; update not applied"
                )
            policy.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # head gradients, and z_in.grad = l_t / (T·B)
            imm = z_in.grad  # (T, B, |z|)
            grad_z = imm.clone()
            if self.uses_synthetic_gradient:
                if first:
                    l_unit = imm * (T * B)  # per-sample immediate gradients l_t = ∂L_t/∂z_t
                    scale = self._gradient_scale(l_unit) if self.sg_normalize else 1.0
                    # ĝ predicts G / σ: BP(λ) is linear in l, so its targets scale by σ too
                    sg_last = self._train_gradient_critic(w, zw.detach(), jacs[-T:], l_unit / scale)
                    live = 1.0 - w["ends"][-1]  # no future gradient after an episode's end
                    sg_last = scale * sg_last  # (B, |z|): the unnormalised prediction of G
                    sg_inject = self.sg_beta * sg_last * live.unsqueeze(-1) / (T * B)
                grad_z[-1] += sg_inject
            if zs.requires_grad:
                full = torch.zeros_like(zs)
                full[-T:] = grad_z
                torch.autograd.backward(zs, full)  # TBPTT over the window (or the episode)
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), self.max_grad_norm)
            if not torch.isfinite(grad_norm):
                policy.optimizer.zero_grad(set_to_none=True)
                raise NonFiniteError(
                    f"non-finite policy gradient at step {self.num_timesteps}; update not applied"
                )
            policy.optimizer.step()
            self._n_updates += 1
            log("train/policy_loss", policy_loss.item())
            log("train/value_loss", value_loss.item())
            log("train/entropy_loss", entropy_loss.item())
            log("train/grad_norm", grad_norm.item())
            if first:
                log(
                    "train/explained_variance",
                    explained_variance(
                        values.detach().flatten().cpu().numpy(), returns.flatten().cpu().numpy()
                    ),
                )
                if sg_last is not None:
                    log("bpl/sg_norm", sg_last.norm(dim=1).mean().item())
                    # size of the injected β ĝ relative to the window's immediate gradients
                    ratio = self.sg_beta * sg_last.norm() / (imm.norm() * T * B + 1e-12)
                    log("bpl/sg_injection_ratio", ratio.item())
            self._log_epoch(log_prob.detach(), old_log_prob)
        if self.credit == "bptt":
            self._trim_history(zs)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record(
            "train/learning_rate", self.lr_schedule(self._current_progress_remaining)
        )

    def _log_epoch(self, log_prob: torch.Tensor, old_log_prob: torch.Tensor) -> None:
        """Per-pass diagnostics beyond the losses (RecurrentPPO: clip fraction, KL)."""

    def _gradient_scale(self, l_unit: torch.Tensor) -> torch.Tensor:
        """σ, a running RMS of the immediate gradients l (EMA over windows, rate 0.01).

        The critic learns G/σ, so its targets are O(1) whatever the loss scale; a fixed
        Adam step would otherwise swamp targets of size 1e-4 (a fresh policy head)."""
        ms = l_unit.detach().pow(2).mean()
        if self._sg_scale_sq is None or float(self._sg_scale_sq) == 0.0:
            self._sg_scale_sq = ms
        else:
            self._sg_scale_sq = 0.99 * self._sg_scale_sq + 0.01 * ms
        return self._sg_scale_sq.sqrt().clamp_min(1e-8)

    def _train_gradient_critic(
        self, w: dict[str, Any], zw: torch.Tensor, jw: torch.Tensor, l_unit: torch.Tensor
    ) -> torch.Tensor:
        """Update ĝ from the window and return ĝ(z_{T−1}), (B, |z|) (before the update)."""
        T = zw.shape[0]
        crit, opt = self.gradient_critic, self.sg_optimizer
        opt.zero_grad(set_to_none=True)
        ends = w["ends"] > 0  # (T, B)
        z0, jw_raw, l_raw = w["z0"], jw, l_unit
        to_grad = lambda g: g  # noqa: E731  (ĝ back in z coordinates)
        state_norm = self.sg_input_norm
        if state_norm is not None:
            # The critic's coordinates z' = (z − μ)/s, fixed within this window. μ and s move
            # by 1% per window, so traces carried across windows mix coordinates that differ
            # by about that much.
            state_norm.update(zw)
            zw, jw, l_unit = state_norm.transform(zw, jw, l_unit)
            z0 = state_norm.transform(z0)[0]
            to_grad = state_norm.to_gradient
        if self.credit == "bp_lambda":
            bpl = self.bp_lambda
            bpl.reset_rows(w["starts"][0] > 0)  # envs reset outside a window restart here
            sgs = []
            for t in range(T):
                sgs.append(to_grad(bpl.step(zw[t], jw[t], l_unit[t], ends[t])))
            sg_last = sgs[-1]
            if bpl.last_td_error is not None:
                self.logger.record_mean("bpl/td_error", bpl.last_td_error.item())
            if self.log_sg_cosine:
                self._probe_alignment(torch.stack(sgs), jw_raw, l_raw, w["starts"])
        else:  # DNI: regress ĝ(z_{−1}) on the k-step bootstrapped target
            with torch.no_grad():
                last = crit(zw[-1])  # (B, |z|), the critic's coordinates
                boot = last * (~ends[-1]).unsqueeze(-1)
                sg_last = to_grad(last)
                starts = w["starts"].unsqueeze(-1).unsqueeze(-1)  # (T, B, 1, 1)
                jm = jw * (1.0 - starts)  # no credit flows across an episode start
                l_seq = torch.cat([torch.zeros_like(l_unit[:1]), l_unit])  # (T+1, B, |z|)
                j_seq = torch.cat([torch.zeros_like(jm[:1]), jm])  # (T+1, B, |z|, |z|)
                target = bootstrapped_targets(l_seq, j_seq, boot, self.sg_gamma)[0]
            pred = crit(z0)
            sg_loss = 0.5 * (pred - target).pow(2).sum(1).mean()
            sg_loss.backward()
            self.logger.record_mean("bpl/td_error", (pred - target).norm(dim=1).mean().item())
            if self.log_sg_cosine:
                with torch.no_grad():
                    sgs = to_grad(crit(zw))
                self._probe_alignment(sgs, jw_raw, l_raw, w["starts"])
        params = crit.trainable_parameters()
        norm = torch.nn.utils.clip_grad_norm_(params, self.sg_max_grad_norm)
        if not torch.isfinite(norm):
            raise NonFiniteError(
                f"non-finite gradient-critic update at step {self.num_timesteps}; not applied"
            )
        opt.step()
        return sg_last.detach()

    def _probe_alignment(
        self, sgs: torch.Tensor, jw: torch.Tensor, l_unit: torch.Tensor, starts: torch.Tensor
    ) -> None:
        """Store (ĝ, J, l) and, every ``sg_cosine_horizon`` steps, log the cosine between
        ĝ_t and the exact discounted future gradient G_t (a backward sweep).

        Steps count where G_t is exact within the stored stretch: the episode ends
        inside it, or at least half the stretch follows t."""
        p = self._probe
        for key, val in (("sg", sgs), ("jac", jw), ("l", l_unit), ("starts", starts)):
            p.setdefault(key, []).append(val.detach())
        n = sum(x.shape[0] for x in p["sg"])
        if n < self.sg_cosine_horizon:
            return
        sg, jac, imm, st = (torch.cat(p[k]) for k in ("sg", "jac", "l", "starts"))
        self._probe = {}
        jac = jac * (1.0 - st)[..., None, None]  # cut the chain at episode starts
        G = exact_future_gradients(imm, jac, self.sg_gamma)  # (N, B, |z|)
        N = sg.shape[0]
        ends_after = torch.flip(torch.cummax(torch.flip(st, [0]), 0).values, [0])  # (N, B)
        # a start at s > t means t's episode ended inside the stretch
        later_start = torch.cat([ends_after[1:], torch.zeros_like(ends_after[:1])]) > 0
        early = torch.arange(N, device=sg.device).unsqueeze(1) < N // 2
        mask = (later_start | early) & (G.norm(dim=-1) > 0)
        if bool(mask.any()):
            cos = cosine_similarity(sg, G)[mask].mean()
            self.logger.record_mean("bpl/sg_cosine", cos.item())

    # ------------------------------------------------------------------ predict
    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | np.ndarray | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Action(s) and next recurrent state (SB3's recurrent ``predict``).

        :param observation: one observation or a VecEnv batch.
        :param state: state from the previous call (None: zero state).
        :param episode_start: (B,) True where the observation starts an episode.
        :param deterministic: mode of π instead of a sample.
        """
        return self.policy.predict(observation, state, episode_start, deterministic)

    # ------------------------------------------------------------------ save / load
    def get_config(self) -> dict[str, Any]:
        """Every hyperparameter, JSON-serialisable (what ``save`` stores and ``load`` checks)."""
        lr = _learning_rate_to_config(self.learning_rate)
        pk = {k: v for k, v in self.policy_kwargs.items() if k not in ("core", "hidden_size")}
        if "optimizer_class" in pk:
            pk["optimizer_class"] = pk["optimizer_class"].__name__
        return {
            "credit": self.credit,
            "learning_rate": lr,
            "n_steps": self.n_steps,
            "gamma": self.gamma,
            "gae_lambda": self.gae_lambda,
            "ent_coef": self.ent_coef,
            "vf_coef": self.vf_coef,
            "max_grad_norm": self.max_grad_norm,
            "normalize_advantage": self.normalize_advantage,
            "normalize_reward": self.normalize_reward,
            "core": self.core,
            "hidden_size": self.hidden_size,
            "sg_gamma": self.sg_gamma,
            "sg_lambda": self.sg_lambda,
            "sg_beta": self.sg_beta,
            "sg_learning_rate": self.sg_learning_rate,
            "sg_hidden_sizes": list(self.sg_hidden_sizes),
            "sg_train_output_only": self.sg_train_output_only,
            "sg_max_grad_norm": self.sg_max_grad_norm,
            "sg_normalize": self.sg_normalize,
            "sg_normalize_input": self.sg_normalize_input,
            "log_sg_cosine": self.log_sg_cosine,
            "sg_cosine_horizon": self.sg_cosine_horizon,
            "max_bptt_steps": self.max_bptt_steps,
            "stats_window_size": self._stats_window_size,
            "policy_kwargs": pk,
            "seed": self.seed,
        }

    def save(
        self,
        path: str | os.PathLike | io.BufferedIOBase,
        exclude: Any = None,
        include: Any = None,
    ) -> None:
        """Write a checkpoint atomically: a zip holding JSON (config, spaces, counters) and
        tensors (policy, its optimizer, gradient critic, its optimizer); no pickled code.

        :param path: file path (``.zip`` is appended when it has no suffix) or a buffer.
        :param exclude: unused (SB3's signature).
        :param include: unused (SB3's signature).
        """
        meta = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "algorithm": type(self).__name__,
            "config": self.get_config(),
            "observation_space": space_to_json(self.observation_space),
            "action_space": space_to_json(self.action_space),
            "num_timesteps": int(self.num_timesteps),
            "n_updates": int(self._n_updates),
            "episode_num": int(self._episode_num),
        }
        tensors: dict[str, Any] = {
            "policy": self.policy.state_dict(),
            "policy_optimizer": self.policy.optimizer.state_dict(),
        }
        if self.normalize_reward:
            tensors["reward_rms"] = torch.as_tensor(self._ret_rms, dtype=torch.float64)
        if self.gradient_critic is not None:
            tensors["gradient_critic"] = self.gradient_critic.state_dict()
            tensors["sg_optimizer"] = self.sg_optimizer.state_dict()
            if self._sg_scale_sq is not None:
                tensors["sg_scale_sq"] = self._sg_scale_sq.detach().cpu()
            if self.sg_input_norm is not None:
                tensors["sg_input_norm"] = self.sg_input_norm.state_dict()
        buf = io.BytesIO()
        torch.save(tensors, buf)
        if isinstance(path, io.BufferedIOBase):
            _write_zip(path, meta, buf.getvalue())
            return
        path = os.fspath(path)
        if not os.path.splitext(path)[1]:
            path += ".zip"
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".zip", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                _write_zip(f, meta, buf.getvalue())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfRecurrentA2C],
        path: str | os.PathLike | io.BufferedIOBase,
        env: GymEnv | str | None = None,
        device: torch.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfRecurrentA2C:
        """Load a checkpoint written by :meth:`save`; nothing in the file is executed.

        :param path: checkpoint path (``.zip`` may be left out) or a buffer.
        :param env: environment to continue training on (its spaces must match).
        :param device: torch device.
        :param custom_objects: unused (SB3's signature).
        :param print_system_info: unused (SB3's signature).
        :param force_reset: unused; the environment is always reset by the next ``learn``.
        :param kwargs: hyperparameters to override; structural ones (``credit``, ``core``,
            ``hidden_size``, ``sg_hidden_sizes``, ``sg_train_output_only``) must agree with
            the checkpoint.
        :raises ValueError: corrupt file, not a checkpoint, or a mismatched configuration.
        """
        meta, tensors = read_checkpoint(path)
        algorithm = meta.get("algorithm", "RecurrentA2C")  # files from before the tag
        if algorithm != cls.__name__:
            raise ValueError(
                f"checkpoint {path} holds a {algorithm} agent, not a {cls.__name__}: load it "
                f"with agents.{algorithm}.load or agents.load_agent"
            )
        config = dict(meta["config"])
        config.setdefault("sg_normalize_input", False)  # files from before the option
        mismatch = {
            k: (config.get(k), kwargs[k])
            for k in STRUCTURAL_KEYS
            if k in kwargs and _norm(kwargs[k]) != _norm(config.get(k))
        }
        if mismatch:
            diff = ", ".join(
                f"{k}: checkpoint {a!r} vs requested {b!r}" for k, (a, b) in mismatch.items()
            )
            raise ValueError(f"checkpoint {path} has another configuration ({diff})")
        config.update(kwargs)
        obs_space = space_from_json(meta["observation_space"])
        act_space = space_from_json(meta["action_space"])
        pk = dict(config.pop("policy_kwargs", {}) or {})
        if isinstance(pk.get("optimizer_class"), str):
            name = pk["optimizer_class"]
            if not hasattr(torch.optim, name):
                raise ValueError(f"checkpoint names an unknown optimizer {name!r}")
            pk["optimizer_class"] = getattr(torch.optim, name)
        if isinstance(env, str):
            env = gym.make(resolve_env_id(env))
        if env is not None:
            env = BaseAlgorithm._wrap_env(maybe_make_env(env, 0), 0)
            for name, want, got in (
                ("observation", obs_space, env.observation_space),
                ("action", act_space, env.action_space),
            ):
                if want != got:
                    raise ValueError(
                        f"checkpoint {path} was trained with {name} space {want}, "
                        f"but the environment has {got}"
                    )
        try:
            model = cls(
                "MlpRecurrentPolicy",
                env,
                device=device,
                policy_kwargs=pk,
                _init_setup_model=False,
                **config,
            )
        except TypeError as err:
            raise ValueError(f"checkpoint {path} has an unknown hyperparameter: {err}") from err
        if env is None:
            model.observation_space, model.action_space, model.n_envs = obs_space, act_space, 1
        model._setup_model()
        try:
            model.policy.load_state_dict(tensors["policy"])
            model.policy.optimizer.load_state_dict(tensors["policy_optimizer"])
            if model.gradient_critic is not None:
                model.gradient_critic.load_state_dict(tensors["gradient_critic"])
                model.sg_optimizer.load_state_dict(tensors["sg_optimizer"])
                if "sg_scale_sq" in tensors:
                    model._sg_scale_sq = tensors["sg_scale_sq"].to(model.device)
                if model.sg_input_norm is not None:
                    model.sg_input_norm.load_state_dict(tensors["sg_input_norm"])
        except (KeyError, RuntimeError, ValueError) as err:
            raise ValueError(f"checkpoint {path} does not match its configuration: {err}") from err
        if model.normalize_reward:
            if "reward_rms" not in tensors:
                raise ValueError(
                    f"checkpoint {path} has normalize_reward=True but no reward statistics"
                )
            model._ret_rms = tensors["reward_rms"].double().numpy().copy()
        model.num_timesteps = int(meta["num_timesteps"])
        model._n_updates = int(meta["n_updates"])
        model._episode_num = int(meta.get("episode_num", 0))
        return model


def _learning_rate_to_config(lr: Any) -> float | dict[str, Any]:
    """A learning rate or SB3 schedule as JSON: a float, or ``{"schedule": "linear", ...}``."""
    if isinstance(lr, LinearSchedule):
        return {
            "schedule": "linear",
            "start": float(lr.start),
            "end": float(lr.end),
            "end_fraction": float(lr.end_fraction),
        }
    if isinstance(lr, ConstantSchedule):
        return float(lr.val)
    if callable(lr):
        warnings.warn(
            f"learning_rate is a custom schedule ({lr!r}); it is saved as its initial value "
            f"{float(lr(1.0))}, use stable_baselines3's LinearSchedule to save a schedule",
            stacklevel=3,
        )
        return float(lr(1.0))
    return float(lr)


def _learning_rate_from_config(lr: Any) -> Any:
    """Inverse of :func:`_learning_rate_to_config` (other values pass through)."""
    if not isinstance(lr, dict):
        return lr
    if lr.get("schedule") != "linear" or set(lr) != {"schedule", "start", "end", "end_fraction"}:
        raise ValueError(
            "learning_rate as a dict must be {'schedule': 'linear', 'start', 'end', "
            f"'end_fraction'}}, got {lr!r}"
        )
    for key in ("start", "end", "end_fraction"):
        value = lr[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"learning_rate[{key!r}] must be a number >= 0, got {value!r}")
    if not lr["start"] > 0 or not 0 < lr["end_fraction"] <= 1:
        raise ValueError(
            "learning_rate needs start > 0 and end_fraction in (0, 1], got "
            f"start={lr['start']!r}, end_fraction={lr['end_fraction']!r}"
        )
    return LinearSchedule(float(lr["start"]), float(lr["end"]), float(lr["end_fraction"]))


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value


def _write_zip(f: Any, meta: dict[str, Any], tensor_bytes: bytes) -> None:
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("meta.json", json.dumps(meta, indent=2, sort_keys=True))
        zf.writestr("tensors.pt", tensor_bytes)


def read_checkpoint(path: str | os.PathLike | io.BufferedIOBase) -> tuple[dict, dict]:
    """Read (metadata, tensors) from a checkpoint without executing anything from it.

    Tensors are read with ``torch.load(weights_only=True)``.

    :param path: checkpoint path (``.zip`` may be left out) or a buffer.
    :raises ValueError: the file is missing, corrupt or not a RecurrentA2C checkpoint.
    """
    if not isinstance(path, io.BufferedIOBase):
        path = os.fspath(path)
        if not os.path.exists(path) and os.path.exists(path + ".zip"):
            path += ".zip"
        if not os.path.exists(path):
            raise ValueError(f"checkpoint {path} does not exist")
    try:
        with zipfile.ZipFile(path, "r") as zf:
            meta = json.loads(zf.read("meta.json").decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
                raise ValueError("no RecurrentA2C format tag")
            if meta.get("version") != CHECKPOINT_VERSION:
                raise ValueError(f"version {meta.get('version')!r}, expected {CHECKPOINT_VERSION}")
            raw = zf.read("tensors.pt")
        tensors = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except (ValueError, KeyError, OSError, EOFError, RuntimeError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"cannot read checkpoint {path}: corrupt or not a RecurrentA2C checkpoint ({err})"
        ) from err
    except Exception as err:  # e.g. pickle.UnpicklingError from weights_only
        raise ValueError(f"cannot read checkpoint {path}: refused or corrupt ({err})") from err
    return meta, tensors


__all__ = [
    "CREDIT_MODES",
    "NonFiniteError",
    "RecurrentA2C",
    "gae_advantages",
    "read_checkpoint",
]
