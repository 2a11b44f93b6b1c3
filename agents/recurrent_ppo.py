"""Recurrent PPO whose core learns by BP(λ), DNI, TBPTT or BPTT: RecurrentA2C's windows,
with several clipped-surrogate passes over each window instead of one A2C step.

Everything but the update is :class:`~agents.RecurrentA2C`'s: windows of ``n_steps`` per
environment, TBPTT within the window, β ĝ injected at its last state, the gradient critic
learned by :class:`bpl.BPLambda` across windows. Per window (T steps × B envs):

1. GAE advantages and returns from the values of the first pass (as PPO's rollout does);
2. ``n_epochs`` passes, each re-running the core from the window's stored start state
   and taking one Adam step on the whole window (one minibatch: the window is the
   batch, as sb3-contrib's RecurrentPPO with ``batch_size = n_steps × n_envs``), with
   the clipped surrogate −mean min(ρ Â, clip(ρ, 1 ± ε) Â), ρ = π(a|z) / π_old(a|z);
3. the gradient critic learns once, from the first pass (ρ = 1 there, so its immediate
   gradients are A2C's), and the same β ĝ is injected in every pass.

Memory stays bounded by the window, as for RecurrentA2C; the cost per window is about
``n_epochs`` TBPTT passes plus one BP(λ) trace update.
"""

from __future__ import annotations

from typing import Any

import torch

from .recurrent_a2c import RecurrentA2C, _check_int, _check_nonneg


class RecurrentPPO(RecurrentA2C):
    """Recurrent PPO (clipped surrogate, several passes per window) on RecurrentA2C's
    recurrent core and credit modes.

    Not sb3-contrib's ``RecurrentPPO`` (an LSTM trained by BPTT over stored sequences):
    this one keeps RecurrentA2C's online windows and gradient critic.

    :param policy: ``"MlpRecurrentPolicy"`` or a policy class.
    :param env: Gymnasium env, registered id or VecEnv.
    :param credit: ``"bp_lambda"``, ``"dni"``, ``"tbptt"`` or ``"bptt"``.
    :param n_epochs: gradient passes over each window (≥ 1; 1 with ``clip_range`` large is
        A2C's step).
    :param clip_range: ε of the clipped surrogate, > 0.
    :param target_kl: stop a window's passes early when the KL estimate exceeds
        1.5 × this (SB3's rule); None: never.
    :param normalize_advantage: standardise the advantages per window (PPO's default).
    :param kwargs: every other argument of :class:`~agents.RecurrentA2C`, same defaults.
    """

    def __init__(
        self,
        policy: Any,
        env: Any,
        credit: str = "bp_lambda",
        n_epochs: int = 10,
        clip_range: float = 0.2,
        target_kl: float | None = None,
        normalize_advantage: bool = True,
        **kwargs: Any,
    ) -> None:
        self.n_epochs = _check_int("n_epochs", n_epochs, 1)
        self.clip_range = _check_nonneg("clip_range", clip_range, positive=True)
        if target_kl is not None:
            target_kl = _check_nonneg("target_kl", target_kl, positive=True)
        self.target_kl = target_kl
        super().__init__(
            policy, env, credit=credit, normalize_advantage=normalize_advantage, **kwargs
        )

    def learn(
        self, total_timesteps: int, *args: Any, tb_log_name: str = "RecurrentPPO", **kwargs: Any
    ) -> RecurrentPPO:
        """As :meth:`RecurrentA2C.learn`; the TensorBoard run is named RecurrentPPO."""
        return super().learn(total_timesteps, *args, tb_log_name=tb_log_name, **kwargs)

    def _policy_loss(
        self, adv: torch.Tensor, log_prob: torch.Tensor, old_log_prob: torch.Tensor
    ) -> torch.Tensor:
        """PPO's clipped surrogate −mean min(ρ Â, clip(ρ, 1 − ε, 1 + ε) Â)."""
        ratio = torch.exp(log_prob - old_log_prob)
        clipped = torch.clamp(ratio, 1.0 - self.clip_range, 1.0 + self.clip_range)
        return -torch.min(ratio * adv, clipped * adv).mean()

    def _log_epoch(self, log_prob: torch.Tensor, old_log_prob: torch.Tensor) -> None:
        log_ratio = log_prob - old_log_prob
        ratio = log_ratio.exp()
        log = self.logger.record_mean
        log("train/clip_fraction", ((ratio - 1).abs() > self.clip_range).float().mean().item())
        log("train/approx_kl", ((ratio - 1) - log_ratio).mean().item())
        self.logger.record("train/clip_range", self.clip_range)

    def get_config(self) -> dict[str, Any]:
        """RecurrentA2C's hyperparameters plus ``n_epochs``, ``clip_range``, ``target_kl``."""
        config = super().get_config()
        config.update(n_epochs=self.n_epochs, clip_range=self.clip_range, target_kl=self.target_kl)
        return config


__all__ = ["RecurrentPPO"]
