"""The on-policy recurrent base of RecurrentA2C and RecurrentPPO: windows, rollouts,
reward normalisation, GAE, the ``bptt`` history and the update skeleton.

One update per window of T steps (bp_lambda.md §5 and §7):

1. collect T steps from the VecEnv with the current policy (no graph);
2. re-run the core over the window from the detached state it started in (``bptt``:
   from the start of every live episode; ``immediate``: with the graph cut at every
   step), keeping the graph and, for the gradient-critic modes, the Jacobians J_t;
3. the subclass's loss per step (A2C's policy gradient, PPO's clipped surrogate), plus
   c_V (R_t − V(z_t))² − c_H·H[π(·|z_t)], with GAE advantages; its gradient w.r.t. z_t
   is the immediate gradient l_t;
4. core gradient: back-propagation over the window of Σ_t l_t plus β ĝ(z_{T−1}) injected
   at the window's last state (``bp_lambda``, ``dni``);
5. the gradient critic learns from the window (:class:`bpl.credit.CreditEngine`).

The update itself (passes, windows, the credit engine) is :mod:`agents.update`; the
subclass says what one update is (:meth:`_update`).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv

from bpl.alignment import AlignmentProbe
from bpl.credit import CRITIC_MODES, CreditEngine, NonFiniteError

from . import checkpoint
from .config import AgentConfig, check_int, resolve_trace
from .env_util import resolve_env_id
from .policy import (
    POLICY_ALIASES,
    RecurrentActorCriticPolicy,
    RecurrentState,
    check_finite,
    check_spaces,
    policy_core,
)
from .update import UpdateMixin
from .window import History, Window, normalize_rewards

SelfAlgorithm = TypeVar("SelfAlgorithm", bound="RecurrentOnPolicyAlgorithm")


class RecurrentOnPolicyAlgorithm(UpdateMixin, OnPolicyAlgorithm):
    """A recurrent on-policy agent whose core assigns credit by one of
    :data:`bpl.credit.CREDIT_MODES`; SB3's algorithm contract (``learn``, ``predict`` with
    a recurrent state, ``save``/``load``, callbacks, ``evaluate_policy``).

    Options are the fields of :attr:`config_class`; see :class:`~agents.RecurrentA2C`.
    """

    config_class: ClassVar[type[AgentConfig]] = AgentConfig
    policy_aliases: ClassVar[dict[str, type[RecurrentActorCriticPolicy]]] = POLICY_ALIASES
    #: the policy's ``value_core`` when ``policy_kwargs`` does not name it: False (the
    #: value head reads the actor's core); RecurrentPPO: its own core unless
    #: ``value_trains_core=False`` asks for the actor's core as a constant
    default_value_core: ClassVar[bool] = False
    policy: RecurrentActorCriticPolicy

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        checkpoint.AGENTS[cls.__name__] = cls  # checkpoints name the class that wrote them

    def __init__(
        self,
        policy: str | type[RecurrentActorCriticPolicy],
        env: GymEnv | str | None,
        *,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
        _init_setup_model: bool = True,
        **options: Any,
    ) -> None:
        policy_class = (
            self.policy_aliases.get(policy, policy) if isinstance(policy, str) else policy
        )
        if isinstance(policy_class, str):
            raise ValueError(f"unknown policy {policy!r}; known: {sorted(self.policy_aliases)}")
        options["core"] = policy_core(policy_class, options.get("core"))
        config = self.config_class(**options)
        if isinstance(env, str):
            env = gym.make(resolve_env_id(env))
        if env is not None:
            check_spaces(env.observation_space, env.action_space)
        policy_kwargs = dict(policy_kwargs or {})
        for key in ("core", "hidden_size"):
            if key in policy_kwargs:
                raise ValueError(f"pass {key!r} to {type(self).__name__}, not in policy_kwargs")
        policy_kwargs.update(core=config.core, hidden_size=config.hidden_size)
        if self.default_value_core and "value_core" not in policy_kwargs:
            policy_kwargs["value_core"] = bool(policy_kwargs.get("value_trains_core", True))
        for name in config.names():
            setattr(self, name, getattr(config, name))
        #: running statistics of the discounted return (``normalize_reward``)
        self.reward_rms = RunningMeanStd(shape=())
        self._ret: np.ndarray | None = None
        super().__init__(
            policy_class,
            env,
            learning_rate=config.learning_rate,
            n_steps=config.n_steps,
            gamma=config.gamma,
            gae_lambda=config.gae_lambda,
            ent_coef=config.ent_coef,
            vf_coef=config.vf_coef,
            max_grad_norm=config.max_grad_norm,
            use_sde=False,
            sde_sample_freq=-1,
            stats_window_size=config.stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=False,
        )
        if _init_setup_model:
            self._setup_model()

    # ------------------------------------------------------------------ options
    @property
    def config(self) -> AgentConfig:
        """The options as they are now (checked again)."""
        return self.config_class(
            **{name: getattr(self, name) for name in self.config_class.names()}
        )

    def get_config(self) -> dict[str, Any]:
        """Every option, JSON-serialisable, plus ``policy_kwargs`` and ``seed`` (what
        ``save`` stores and ``load`` checks)."""
        pk = {k: v for k, v in self.policy_kwargs.items() if k not in ("core", "hidden_size")}
        if "optimizer_class" in pk:
            pk["optimizer_class"] = pk["optimizer_class"].__name__
        policy = getattr(self, "policy", None)
        if policy is not None:  # saved explicitly: a checkpoint without it predates the option
            pk["value_trains_core"] = policy.value_trains_core
            pk["value_core"] = policy.value_core is not None
        return {**self.config.to_dict(), "policy_kwargs": pk, "seed": self.seed}

    # ------------------------------------------------------------------ set-up
    @property
    def gradient_critic(self) -> torch.nn.Module | None:
        """The gradient critic ĝ (``bp_lambda``, ``dni``), else None."""
        return self.credit_engine.gradient_critic

    def _setup_model(self) -> None:
        """Build the policy and the credit engine (no rollout buffer: the window lives in
        ``self._window``)."""
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self.policy = self.policy_class(  # type: ignore[assignment]
            self.observation_space, self.action_space, self.lr_schedule, **self.policy_kwargs
        ).to(self.device)
        critic = self.credit in CRITIC_MODES
        #: the trace BP(λ) carries (``sg_trace`` with ``"auto"`` resolved for this policy)
        self.sg_trace_used = resolve_trace(self.sg_trace, self.policy.actor_state_size)
        # Own random stream: every credit mode then samples the same actions from the
        # same seed until their updates differ (fair comparisons).
        with torch.random.fork_rng(devices=[]):
            if self.seed is not None:
                torch.manual_seed(self.seed + 1)
            self.credit_engine = CreditEngine(
                self.credit,
                self.policy.actor_state_size,
                sg_gamma=self.sg_gamma,
                sg_lambda=self.sg_lambda,
                sg_beta=self.sg_beta,
                sg_learning_rate=self.sg_learning_rate,
                sg_hidden_sizes=self.sg_hidden_sizes,
                sg_train_output_only=self.sg_train_output_only,
                sg_max_grad_norm=self.sg_max_grad_norm,
                sg_trace=self.sg_trace_used,
                sg_normalize=self.sg_normalize and critic,
                sg_normalize_input=self.sg_normalize_input and critic,
                sg_adaptive_beta=self.sg_adaptive_beta and self.credit == "bp_lambda",
                sg_probe_horizon=self.sg_cosine_horizon,
                device=self.device,
            )
        self._probe = AlignmentProbe(self.sg_cosine_horizon, self.sg_gamma)
        self._state: RecurrentState | None = None
        self._window: Window | None = None
        self._history: History | None = None
        self._inject: torch.Tensor | None = None
        self.rollout_buffer = None  # SB3's learn() passes it on; the window is self._window

    def _reset_recurrent(self) -> None:
        """Fresh zero state, traces and histories for ``self.n_envs`` environments."""
        self._state = self.policy.initial_state(self.n_envs)
        self.credit_engine.reset(self.n_envs)
        self._history = (
            History(self.max_bptt_steps, self.n_steps) if self.credit == "bptt" else None
        )
        self._probe.reset()

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        # The recurrent state, traces and histories restart whenever SB3 resets the
        # environments here.
        needs_reset = reset_num_timesteps or self._last_obs is None
        out = super()._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        if needs_reset or self._state is None or self._state.z.shape[0] != self.n_envs:
            self._reset_recurrent()
        return out

    def learn(
        self: SelfAlgorithm,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 100,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfAlgorithm:
        """Train for ``total_timesteps`` environment steps (SB3's ``learn``).

        :param total_timesteps: environment steps to collect (summed over envs).
        :param callback: SB3 callback(s), called every step.
        :param log_interval: write the logs every this many windows.
        :param tb_log_name: name of the TensorBoard run (default: the class name).
        :param reset_num_timesteps: restart the step counter (False continues it).
        :param progress_bar: show a progress bar.
        :raises NonFiniteError: a loss or gradient became NaN/inf.
        """
        check_int("total_timesteps", total_timesteps, 0)
        if self.env is None:
            raise ValueError(
                f"{type(self).__name__} has no environment to learn from: pass env to the "
                "constructor or to load(), or call set_env(env) first"
            )
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name or type(self).__name__,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    # ------------------------------------------------------------------ rollout
    def collect_rollouts(
        self, env: VecEnv, callback: BaseCallback, rollout_buffer: Any, n_rollout_steps: int
    ) -> bool:
        """Collect one window of ``n_rollout_steps`` steps into ``self._window`` (no graph:
        :meth:`train` re-runs the core over it); False if the callback stopped training."""
        policy, dev = self.policy, self.device
        policy.set_training_mode(False)
        state = start_state = self._state
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
        starts = torch.stack(start_l)
        self._window = Window(
            z0=start_state.z,
            obs=obs_l,
            starts=starts,
            actions=torch.stack(act_l),
            rewards=torch.stack(rew_l),
            ends=torch.cat([starts[1:], dones_t[None]]),
            next_value=next_value,
        )
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def _scale_rewards(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """``normalize_reward``: r / std(discounted return), clipped to ±10 (else r).

        The return R ← γR + r per env folds into SB3's ``RunningMeanStd`` and restarts at
        episode ends (what ``VecNormalize(norm_reward=True)`` does). A NaN or inf reward
        is refused before it reaches the statistics (:class:`NonFiniteInputError`)."""
        check_finite("reward", rewards)
        if not self.normalize_reward:
            return rewards
        scaled, self._ret = normalize_rewards(
            rewards, dones, self._ret, self.reward_rms, self.gamma
        )
        return scaled

    def _bootstrap_truncated(
        self, rewards: np.ndarray, dones: np.ndarray, infos: list[dict], state: RecurrentState
    ) -> np.ndarray:
        """r_t += γ V(terminal state) where an episode was truncated, not terminated; the
        terminal state is one more core step on the terminal observation (as SB3 does for
        feed-forward policies)."""
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
        obs = obs_as_tensor(np.stack([infos[i]["terminal_observation"] for i in rows]), self.device)
        z = state.z[torch.as_tensor(rows, device=self.device)]
        rewards[rows] += self.gamma * self.policy.value_after(obs, z).cpu().numpy()
        return rewards

    # ------------------------------------------------------------------ save, load
    def save(self, path: Any, exclude: Any = None, include: Any = None) -> None:
        """Write a checkpoint atomically to ``path`` (``.zip`` is appended when it has no
        suffix) or a buffer (:func:`agents.checkpoint.save_agent`); ``exclude`` and
        ``include`` are SB3's signature, unused."""
        checkpoint.save_agent(self, path)

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfAlgorithm],
        path: Any,
        env: GymEnv | str | None = None,
        device: torch.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfAlgorithm:
        """Load a checkpoint written by :meth:`save` (nothing in it is executed), on
        ``env`` if given (its spaces must match); ``kwargs`` override options, structural
        ones (:data:`agents.config.STRUCTURAL_KEYS`) must agree with the checkpoint. The
        other arguments are SB3's signature, unused.

        :raises ValueError: corrupt file, not a checkpoint, or a mismatched configuration.
        """
        return checkpoint.load_into(cls, path, env=env, device=device, **kwargs)


__all__ = ["NonFiniteError", "RecurrentOnPolicyAlgorithm"]
