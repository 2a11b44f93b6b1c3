"""A window of collected steps, its GAE advantages, and the episode history for ``bptt``.

Layout: time-first, ``(T, B, ·)`` with T = ``n_steps`` and B = ``n_envs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from stable_baselines3.common.running_mean_std import RunningMeanStd


@dataclass
class Window:
    """T steps of B environments, collected without a graph (the update re-runs the core).

    :param z0: the recurrent state before the window, (B, |z|).
    :param obs: T observation batches (B, ·).
    :param starts: (T, B) float, 1 where step t starts an episode.
    :param actions: (T, B, ·).
    :param rewards: (T, B), after reward normalisation and truncation bootstrap.
    :param ends: (T, B) float, 1 where step t ends its episode.
    :param next_value: V(z_T) after the window, (B,).
    """

    z0: torch.Tensor
    obs: list[torch.Tensor]
    starts: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    ends: torch.Tensor
    next_value: torch.Tensor

    @property
    def shape(self) -> tuple[int, int]:
        """(T, B)."""
        T, B = self.starts.shape
        return T, B


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


class Pass(NamedTuple):
    """One run of the core and heads over a window, with graph.

    :param zs: states over the unrolled sequence, (L, B, |z|), L ≥ T (``bptt``: L > T).
    :param jacs: J_t over the sequence, (L, B, |z|, |z|), or None.
    :param z_in: the window's states as a leaf, (T, B, |z|): its ``.grad`` is l_t / (T·B).
    :param log_prob: log π(a_t|z_t), (T, B).
    :param values: V(z_t), (T, B).
    :param entropy: H[π(·|z_t)] (or −log π where it has no closed form), (T, B).
    """

    zs: torch.Tensor
    jacs: torch.Tensor | None
    z_in: torch.Tensor
    log_prob: torch.Tensor
    values: torch.Tensor
    entropy: torch.Tensor


class Targets(NamedTuple):
    """What the window's first pass fixes for every pass: Â_t, R_t and log π_old(a_t|z_t)."""

    advantages: torch.Tensor
    returns: torch.Tensor
    old_log_prob: torch.Tensor


def normalize_rewards(
    rewards: np.ndarray,
    dones: np.ndarray,
    ret: np.ndarray | None,
    rms: RunningMeanStd,
    gamma: float,
) -> tuple[np.ndarray, np.ndarray]:
    """r / std(discounted return), clipped to ±10 (``VecNormalize(norm_reward=True)``).

    The return R ← γR + r per env (``ret``; None: zeros) folds into ``rms`` (updated in
    place) and restarts at episode ends. Returns the scaled rewards and the new returns.
    """
    r = np.asarray(rewards, dtype=np.float64)
    if ret is None or ret.shape != r.shape:
        ret = np.zeros_like(r)
    ret = ret * gamma + r
    rms.update(ret)
    ret[np.asarray(dones, dtype=bool)] = 0.0
    return np.clip(r / np.sqrt(rms.var + 1e-8), -10.0, 10.0).astype(np.float32), ret


class History:
    """The steps since the earliest live episode start, for ``bptt``: each window is
    appended, and after the update what no live episode needs is dropped.

    :param max_steps: longest history kept (``max_bptt_steps``).
    :param window: steps per window (``n_steps``).
    """

    def __init__(self, max_steps: int, window: int) -> None:
        self.max_steps, self.window = max_steps, window
        self.z0: torch.Tensor | None = None
        self.obs: list[torch.Tensor] = []
        self.starts: torch.Tensor | None = None

    def extend(self, w: Window) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """Append the window; return (state before the history, obs, starts)."""
        if self.z0 is None:
            self.z0, self.starts = w.z0, w.starts[:0]
        self.obs = self.obs + w.obs
        self.starts = torch.cat([self.starts, w.starts])
        return self.z0, self.obs, self.starts

    def trim(self, zs: torch.Tensor) -> None:
        """Drop steps older than the earliest live episode start (and beyond the cap);
        ``zs`` (L, B, |z|) are the history's states from the update."""
        starts = self.starts  # (L, B)
        L = starts.shape[0]
        idx = torch.arange(L, device=starts.device).unsqueeze(1).expand_as(starts)
        last_start = torch.where(starts > 0, idx, -1).max(0).values  # (B,)
        # a row with no start in the history keeps everything (only before the first episode)
        cut = int(last_start.min().clamp_min(0))
        cut = max(cut, L - self.max_steps + self.window)
        if cut > 0:
            self.z0 = zs[cut - 1].detach()
            self.obs = self.obs[cut:]
            self.starts = starts[cut:]


__all__ = ["History", "Pass", "Targets", "Window", "gae_advantages", "normalize_rewards"]
