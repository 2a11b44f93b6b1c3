"""Recurrent actor-critic policy: observation -> recurrent core -> (π, V).

Layout: batch-first for one step, ``(B, ·)``; sequences are time-first, ``(T, B, ·)``.
The recurrent state z is one tensor (B, |z|) (for an LSTM z = [h; c], |z| = 2H) so that
the gradient critic, the cell's Jacobian and the reset mask all act on the same thing.
With a separate value core (``value_core=True``) z = [z_π; z_V]: the gradient critic and
the Jacobian cover the actor core's part z_π, the first :attr:`actor_state_size` entries.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import (
    DiagGaussianDistribution,
    Distribution,
    make_proba_distribution,
)
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from bpl import make_cell

from .policy_inputs import (  # noqa: F401 (re-exported: the policy's input checks)
    SUPPORTED_ACTION_SPACES,
    SUPPORTED_OBSERVATION_SPACES,
    NonFiniteInputError,
    check_finite,
    check_spaces,
)

# Default memory time-scale range of the gated cores' chrono initialisation (steps).
DEFAULT_CHRONO_MAX = 100


class RecurrentState(NamedTuple):
    """The recurrent state of a batch of environments.

    :param z: the core's state, (B, |z|).
    """

    z: torch.Tensor

    def reset(self, episode_start: torch.Tensor) -> RecurrentState:
        """Zero the rows that start a new episode: z ← z · (1 − episode_start)."""
        return RecurrentState(self.z * (1.0 - episode_start.to(self.z.dtype)).unsqueeze(-1))


class RecurrentActorCriticPolicy(BasePolicy):
    """Features (SB3's flattening) -> RNN/GRU/LSTM cell -> linear policy and value heads.

    :param observation_space: observation space.
    :param action_space: action space.
    :param lr_schedule: learning-rate schedule (the optimizer starts at ``lr_schedule(1)``).
    :param core: recurrent cell, ``"rnn"``, ``"gru"`` (None: the default) or ``"lstm"``;
        :class:`MlpGruPolicy` and :class:`MlpLstmPolicy` fix it.
    :param hidden_size: H, units in the cell.
    :param encoder_size: width of a tanh layer (orthogonal init, gain √2) between the
        observation and the core; 0 feeds the flattened observation directly. It lifts
        small-valued observations (CartPole's angles are ~0.05) to O(1) inputs.
    :param head_size: width of the tanh layer of the separate policy and value heads on
        top of the core's output h (0: linear heads).
    :param normalize_obs: standardise the flattened observation with running mean and
        variance (buffers of the module: they are saved with it), updated on every
        collected step, clipped to ±5 — what ``VecNormalize`` does, inside the policy.
    :param gate_bias: initial bias of the GRU's update gate / the LSTM's forget gate (0 for
        the RNN): a positive value makes the core keep its state longer at the start of
        training, so that gradients (exact or synthetic) survive long delays.
    :param chrono_max: chrono initialisation (Tallec & Ollivier, ICLR 2018) instead of
        ``gate_bias``: each unit's GRU update-gate / LSTM forget-gate bias is
        log U(1, chrono_max − 1) (the LSTM's input gate gets its negative), so the units'
        initial memory time scales spread from 2 to ``chrono_max`` steps; set it to about
        the task's longest dependency. ``"auto"`` (default): 100 for the GRU and LSTM,
        None for the RNN (no gates). None: constant ``gate_bias``.
    :param value_trains_core: let the value loss's gradient reach the core (and the
        gradient critic's targets), as by default. False: the value head reads the core's
        state as a constant, as sb3-contrib's RecurrentPPO does with a shared LSTM, and
        the core learns from the policy's loss alone. Measured (docs/agents.md): False
        lifts PPO on RepeatPreviousEasy (3 of 3 seeds) but costs A2C + BP(λ) the T-maze
        L = 50 on 1 seed of 3, where the value's need to know the cue helps store it.
        With ``value_core`` it applies to the value's own core (False is refused: that
        core would never learn).
    :param value_core: give the value head its own recurrent core (the same cell and
        size, on the same encoded observation), trained by the value loss alone within
        each window, as sb3-contrib's RecurrentPPO does by default (``enable_critic_lstm``);
        the actor core then learns from the policy's loss alone. False (default): the
        value head reads the actor's core.
    :param log_std_init: initial log standard deviation for Box actions.
    :param ortho_init: orthogonal initialisation of the heads (gain 0.01 for π, 1 for V).
    :param optimizer_class: torch optimizer for the policy's parameters.
    :param optimizer_kwargs: extra optimizer arguments.
    :param normalize_images: passed to SB3's preprocessing.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        core: str | None = None,
        hidden_size: int = 64,
        encoder_size: int = 64,
        head_size: int = 64,
        normalize_obs: bool = True,
        gate_bias: float = 1.0,
        chrono_max: int | str | None = "auto",
        value_trains_core: bool = True,
        value_core: bool = False,
        log_std_init: float = 0.0,
        ortho_init: bool = True,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
    ) -> None:
        core = policy_core(type(self), core)
        if optimizer_kwargs is None:
            optimizer_kwargs = {"eps": 1e-5} if optimizer_class is torch.optim.Adam else {}
        super().__init__(
            observation_space,
            action_space,
            FlattenExtractor,
            None,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            normalize_images=normalize_images,
        )
        self.core_kind = core
        self.hidden_size = hidden_size
        self.log_std_init = log_std_init
        self.ortho_init = ortho_init
        self.features_extractor = self.make_features_extractor()
        if isinstance(encoder_size, bool) or not isinstance(encoder_size, int) or encoder_size < 0:
            raise ValueError(f"encoder_size must be an integer >= 0, got {encoder_size!r}")
        self.encoder_size = encoder_size
        features_dim = self.features_extractor.features_dim
        self.normalize_obs = bool(normalize_obs)
        self.register_buffer("obs_mean", torch.zeros(features_dim))
        self.register_buffer("obs_var", torch.ones(features_dim))
        self.register_buffer("obs_count", torch.tensor(1e-4))
        if encoder_size:
            linear = nn.Linear(features_dim, encoder_size)
            nn.init.orthogonal_(linear.weight, gain=math.sqrt(2))
            nn.init.zeros_(linear.bias)
            self.encoder: nn.Module = nn.Sequential(linear, nn.Tanh())  # (B, F) -> (B, E)
            features_dim = encoder_size
        else:
            self.encoder = nn.Identity()
        self.core = make_cell(core, features_dim, hidden_size)
        self.gate_bias = float(gate_bias)
        self.chrono_max = self._init_gates(self.core, core, hidden_size, chrono_max)
        if not isinstance(value_trains_core, (bool, np.bool_)):
            raise ValueError(f"value_trains_core must be a bool, got {value_trains_core!r}")
        self.value_trains_core = bool(value_trains_core)
        if not isinstance(value_core, (bool, np.bool_)):
            raise ValueError(f"value_core must be a bool, got {value_core!r}")
        if value_core and not value_trains_core:
            raise ValueError(
                "value_core=True needs value_trains_core=True: the value loss is all that "
                "trains the value's own core"
            )
        self.value_core = make_cell(core, features_dim, hidden_size) if value_core else None
        if self.value_core is not None:
            self._init_gates(self.value_core, core, hidden_size, chrono_max)
        if isinstance(head_size, bool) or not isinstance(head_size, int) or head_size < 0:
            raise ValueError(f"head_size must be an integer >= 0, got {head_size!r}")
        self.head_size = head_size
        latent = head_size or hidden_size
        self.pi_head = self._head(hidden_size, head_size)  # (N, H) -> (N, latent)
        self.vf_head = self._head(hidden_size, head_size)  # (N, H) -> (N, latent)
        self.action_dist = make_proba_distribution(action_space)
        if isinstance(self.action_dist, DiagGaussianDistribution):
            self.action_net, self.log_std = self.action_dist.proba_distribution_net(
                latent_dim=latent, log_std_init=log_std_init
            )
        else:
            self.action_net = self.action_dist.proba_distribution_net(latent_dim=latent)
        self.value_net = nn.Linear(latent, 1)
        if ortho_init:
            nn.init.orthogonal_(self.action_net.weight, gain=0.01)
            nn.init.zeros_(self.action_net.bias)
            nn.init.orthogonal_(self.value_net.weight, gain=1.0)
            nn.init.zeros_(self.value_net.bias)
        self.optimizer = optimizer_class(self.parameters(), lr=lr_schedule(1), **optimizer_kwargs)

    def _init_gates(self, cell: nn.Module, core: str, hidden_size: int, chrono_max):
        """Set ``cell``'s GRU update-gate / LSTM forget-gate biases (chrono or
        ``gate_bias``); return the checked ``chrono_max``."""
        if chrono_max == "auto":
            chrono_max = DEFAULT_CHRONO_MAX if core in ("gru", "lstm") else None
        if chrono_max is not None:
            if isinstance(chrono_max, bool) or not isinstance(chrono_max, int) or chrono_max < 2:
                raise ValueError(f"chrono_max must be None or an integer >= 2, got {chrono_max!r}")
            if core not in ("gru", "lstm"):
                raise ValueError(f"chrono_max needs a gated core ('gru' or 'lstm'), got {core!r}")
        if core not in ("gru", "lstm"):
            return chrono_max
        with torch.no_grad():  # GRU gates (r, u, n), LSTM (i, f, g, o): block 1
            H = hidden_size
            bias = cell.bias_ih
            if chrono_max is None:
                bias[H : 2 * H] = self.gate_bias
            else:  # memory time scale 1 + x, x ~ U(1, chrono_max − 1)
                x = torch.empty(H, dtype=bias.dtype).uniform_(1.0, max(chrono_max - 1, 1))
                bias[H : 2 * H] = torch.log(x)
                if core == "lstm":
                    bias[:H] = -torch.log(x)
                    cell.bias_hh[:H] = 0.0
            cell.bias_hh[H : 2 * H] = 0.0
        return chrono_max

    @staticmethod
    def _head(hidden_size: int, head_size: int) -> nn.Module:
        if not head_size:
            return nn.Identity()
        linear = nn.Linear(hidden_size, head_size)
        nn.init.orthogonal_(linear.weight, gain=math.sqrt(2))
        nn.init.zeros_(linear.bias)
        return nn.Sequential(linear, nn.Tanh())

    @property
    def state_size(self) -> int:
        """|z|, the size of the recurrent state (2H for the LSTM; twice that with a value
        core)."""
        return self.core.state_size * (1 if self.value_core is None else 2)

    @property
    def actor_state_size(self) -> int:
        """The actor core's part of z (its first entries): what the gradient critic and
        the Jacobian cover."""
        return self.core.state_size

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            core=self.core_kind,
            hidden_size=self.hidden_size,
            encoder_size=self.encoder_size,
            head_size=self.head_size,
            normalize_obs=self.normalize_obs,
            gate_bias=self.gate_bias,
            chrono_max=self.chrono_max,
            value_trains_core=self.value_trains_core,
            value_core=self.value_core is not None,
            ortho_init=self.ortho_init,
        )
        return data

    def initial_state(self, n_envs: int) -> RecurrentState:
        """Zero state for ``n_envs`` environments."""
        z = self.core.initial_state(n_envs)
        if self.value_core is not None:
            z = torch.cat([z, self.value_core.initial_state(n_envs)], -1)
        return RecurrentState(z)

    def step_core(
        self,
        obs: torch.Tensor,
        state: RecurrentState,
        episode_start: torch.Tensor,
        jacobian: bool = False,
    ) -> tuple[RecurrentState, torch.Tensor | None]:
        """One step of the core: z_t = f(x_t, z_{t−1} · (1 − episode_start_t)).

        :param obs: observations (B, ·) as a tensor (not yet preprocessed).
        :param state: z_{t−1}.
        :param episode_start: (B,) float or bool, 1 where obs starts a new episode.
        :param jacobian: also return J_t = ∂z_t/∂z_{t−1}|masked, (B, |z|, |z|), detached
            (of the actor core's part with a value core).
        :return: the new state and J_t (or None).
        """
        x = self.extract_features(obs, self.features_extractor)  # (B, ·) -> (B, F)
        if self.normalize_obs:
            x = ((x - self.obs_mean) / torch.sqrt(self.obs_var + 1e-8)).clamp(-5.0, 5.0)
        x = self.encoder(x)  # (B, F) -> (B, I)
        z_prev = state.reset(episode_start).z
        S = self.core.state_size
        z_pi = z_prev[:, :S]
        jac = None
        if jacobian:
            z, jac = self.core.jacobian(x, z_pi)
        else:
            z = self.core(x, z_pi)
        if self.value_core is not None:
            z = torch.cat([z, self.value_core(x, z_prev[:, S:])], -1)
        return RecurrentState(z), jac

    @torch.no_grad()
    def value_after(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """V after one more core step from states z (N, |z|) on observations (N, ·): the
        value of a truncated episode's terminal observation, (N,)."""
        nothing = torch.zeros(z.shape[0], dtype=z.dtype, device=z.device)
        state, _ = self.step_core(obs, RecurrentState(z), nothing)
        return self.value(state.z)

    @torch.no_grad()
    def update_obs_stats(self, obs: torch.Tensor) -> None:
        """Fold a batch of observations (B, ·) into the running mean and variance
        (parallel algorithm of Chan et al., as SB3's ``RunningMeanStd``).

        :raises NonFiniteInputError: an observation holds NaN or inf (checked first, even
            with ``normalize_obs=False``: the statistics are left as they were)."""
        x = self.extract_features(obs, self.features_extractor)  # (B, ·) -> (B, F)
        check_finite("observation", x)  # before anything is folded in
        if not self.normalize_obs:
            return
        n = x.shape[0]
        mean, var = x.mean(0), x.var(0, unbiased=False)
        total = self.obs_count + n
        delta = mean - self.obs_mean
        self.obs_mean += delta * n / total
        m2 = self.obs_var * self.obs_count + var * n + delta.pow(2) * self.obs_count * n / total
        self.obs_var.copy_(m2 / total)
        self.obs_count.copy_(total)

    def distribution(self, z: torch.Tensor) -> Distribution:
        """π(·|z) from states (N, |z|)."""
        h = self.core.hidden(z[:, : self.core.state_size])  # (N, |z|) -> (N, H)
        latent = self.pi_head(h)  # (N, H) -> (N, latent)
        out = self.action_net(latent)
        if isinstance(self.action_dist, DiagGaussianDistribution):
            return self.action_dist.proba_distribution(out, self.log_std)
        return self.action_dist.proba_distribution(action_logits=out)

    def value(self, z: torch.Tensor) -> torch.Tensor:
        """V(z): (N, |z|) -> (N,); z enters as a constant unless ``value_trains_core``.
        With a value core, V reads its part of z."""
        if self.value_core is not None:
            h = self.value_core.hidden(z[:, self.core.state_size :])
        else:
            h = self.core.hidden(z)
        if not self.value_trains_core:
            h = h.detach()
        return self.value_net(self.vf_head(h)).squeeze(-1)

    def forward(
        self,
        obs: torch.Tensor,
        state: RecurrentState,
        episode_start: torch.Tensor,
        deterministic: bool = False,
    ) -> tuple[torch.Tensor, RecurrentState]:
        """Actions and next state for one step.

        :param obs: observations (B, ·).
        :param state: previous state.
        :param episode_start: (B,) 1 where obs starts a new episode.
        :param deterministic: take the mode of π instead of sampling.
        """
        state, _ = self.step_core(obs, state, episode_start)
        return self.distribution(state.z).get_actions(deterministic=deterministic), state

    def _predict(self, observation: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        raise NotImplementedError("a recurrent policy needs its state: use predict()")

    def postprocess_actions(self, actions: np.ndarray) -> np.ndarray:
        """Reshape to the action space and clip Box actions to its bounds."""
        actions = actions.reshape((-1, *self.action_space.shape))
        if isinstance(self.action_space, spaces.Box):
            actions = np.clip(actions, self.action_space.low, self.action_space.high)
        return actions

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | np.ndarray | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Action(s) and next recurrent state, SB3's recurrent ``predict`` contract.

        :param observation: one observation or a batch (VecEnv layout).
        :param state: the state returned by the previous call (None: zero state).
        :param episode_start: (B,) True where ``observation`` starts an episode.
        :param deterministic: take the mode of π instead of sampling.
        :return: actions and the next state, a numpy array (B, |z|).
        """
        self.set_training_mode(False)
        obs_tensor, vectorized = self.obs_to_tensor(observation)
        n_envs = obs_tensor.shape[0]
        check_finite("observation", obs_tensor)
        if state is None:
            z = self.initial_state(n_envs).z
        else:
            if isinstance(state, tuple):  # sb3-contrib style (h, c) tuples: concatenate
                state = np.concatenate(state, axis=-1)
            state = np.asarray(state)
            if state.dtype.kind not in "fiu":
                raise ValueError(
                    f"state must be a float array of shape ({n_envs}, {self.state_size}), "
                    f"got dtype {state.dtype}"
                )
            z = torch.as_tensor(state, dtype=self.core.weight_hh.dtype, device=self.device)
            if tuple(z.shape) != (n_envs, self.state_size):
                raise ValueError(
                    f"state must have shape ({n_envs}, {self.state_size}), got {tuple(z.shape)}"
                )
            check_finite("recurrent state", z)
        if episode_start is None:
            episode_start = np.zeros(n_envs, dtype=bool)
        episode_start = np.asarray(episode_start)
        if episode_start.size != n_envs:
            raise ValueError(
                f"episode_start must have one entry per observation ({n_envs}), got shape "
                f"{episode_start.shape}"
            )
        if episode_start.dtype.kind not in "biuf" or not np.isin(episode_start, (0, 1)).all():
            raise ValueError(
                f"episode_start must hold bools (or 0/1), got {episode_start.tolist()!r:.100}"
            )
        start = torch.as_tensor(episode_start.astype(np.float32), dtype=z.dtype, device=self.device)
        start = start.reshape(n_envs)
        with torch.no_grad():
            actions, new_state = self.forward(obs_tensor, RecurrentState(z), start, deterministic)
        actions = self.postprocess_actions(actions.cpu().numpy())
        if not vectorized:
            actions = actions.squeeze(axis=0)
        return actions, new_state.z.cpu().numpy()


class MlpGruPolicy(RecurrentActorCriticPolicy):
    """:class:`RecurrentActorCriticPolicy` with a GRU core."""

    CORE = "gru"


class MlpLstmPolicy(RecurrentActorCriticPolicy):
    """:class:`RecurrentActorCriticPolicy` with an LSTM core (as sb3-contrib's
    ``MlpLstmPolicy``; the state z = [h; c])."""

    CORE = "lstm"


#: Policy names the agents accept: ``MlpRecurrentPolicy`` takes the agent's ``core``.
POLICY_ALIASES: dict[str, type[RecurrentActorCriticPolicy]] = {
    "MlpRecurrentPolicy": RecurrentActorCriticPolicy,
    "MlpGruPolicy": MlpGruPolicy,
    "MlpLstmPolicy": MlpLstmPolicy,
}


def policy_core(policy_class: type, core: str | None) -> str:
    """The core for ``policy_class`` given the agent's ``core`` argument (None: not given).

    :raises ValueError: the policy fixes its core and ``core`` names another one.
    """
    fixed = getattr(policy_class, "CORE", None)
    if fixed is None:
        return "gru" if core is None else core
    if core is not None and core != fixed:
        raise ValueError(
            f"{policy_class.__name__} has a {fixed!r} core, but core={core!r} was given: "
            f"pass one of them, or MlpRecurrentPolicy with core={core!r}"
        )
    return fixed
