"""Recurrent PPO on the same windows and credit modes: several clipped-surrogate passes
over each window instead of one A2C step.

Per window (T steps × B envs):

1. GAE advantages and returns from the values of the first pass (as PPO's rollout does);
2. ``n_epochs`` passes, each re-running the core from the window's stored start state
   and taking one step on the whole window (one minibatch, as sb3-contrib's
   RecurrentPPO with ``batch_size = n_steps × n_envs``), with the clipped surrogate
   −mean min(ρ Â, clip(ρ, 1 ± ε) Â), ρ = π(a|z) / π_old(a|z); with ``target_kl``, the
   passes stop once the KL estimate exceeds 1.5 × ``target_kl`` (SB3's rule);
3. the gradient critic learns once, from the first pass (ρ = 1 there, so its immediate
   gradients are A2C's), and the same β ĝ is injected in every pass.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from .config import PPOConfig
from .on_policy import Pass, RecurrentOnPolicyAlgorithm
from .window import Window


class RecurrentPPO(RecurrentOnPolicyAlgorithm):
    """Recurrent PPO (clipped surrogate, several passes per window) on the recurrent core
    and credit modes of :class:`~agents.RecurrentA2C`.

    Not sb3-contrib's ``RecurrentPPO`` (an LSTM trained by BPTT over stored sequences):
    this one keeps the online windows and the gradient critic.

    Options: :class:`agents.config.PPOConfig` — RecurrentA2C's (same defaults, except
    ``normalize_advantage=True``) plus ``n_epochs`` (passes per window, ≥ 1),
    ``clip_range`` (ε > 0) and ``target_kl`` (None: never stop early). Other arguments as
    :class:`~agents.RecurrentA2C`.
    """

    config_class: ClassVar[type[PPOConfig]] = PPOConfig
    n_epochs: int
    clip_range: float
    target_kl: float | None

    def _update(self, window: Window, seq: tuple) -> Pass:
        """``n_epochs`` clipped-surrogate passes; the critic learns in the first."""
        for epoch in range(self.n_epochs):
            first = epoch == 0
            p = self._forward(window, seq, jacobian=first)
            if first:
                tg = self._targets(window, p)
            elif self.target_kl is not None:
                approx_kl = self._approx_kl(p.log_prob.detach(), tg.old_log_prob)
                if approx_kl > 1.5 * self.target_kl:
                    self.logger.record_mean("train/approx_kl", approx_kl)
                    break  # early stop: the policy moved too far from the one that acted
            policy_loss = self._policy_loss(tg.advantages, p.log_prob, tg.old_log_prob)
            self._gradient_step(window, p, tg, policy_loss, learn_credit=first)
            self._log_pass(p.log_prob.detach(), tg.old_log_prob)
        return p

    def _policy_loss(
        self, adv: torch.Tensor, log_prob: torch.Tensor, old_log_prob: torch.Tensor
    ) -> torch.Tensor:
        """PPO's clipped surrogate −mean min(ρ Â, clip(ρ, 1 − ε, 1 + ε) Â)."""
        ratio = torch.exp(log_prob - old_log_prob)
        clipped = torch.clamp(ratio, 1.0 - self.clip_range, 1.0 + self.clip_range)
        return -torch.min(ratio * adv, clipped * adv).mean()

    @staticmethod
    def _approx_kl(log_prob: torch.Tensor, old_log_prob: torch.Tensor) -> float:
        """SB3 PPO's estimator of KL(old ‖ new)."""
        log_ratio = log_prob - old_log_prob
        return ((log_ratio.exp() - 1) - log_ratio).mean().item()

    def _log_pass(self, log_prob: torch.Tensor, old_log_prob: torch.Tensor) -> None:
        ratio = (log_prob - old_log_prob).exp()
        log = self.logger.record_mean
        log("train/clip_fraction", ((ratio - 1).abs() > self.clip_range).float().mean().item())
        log("train/approx_kl", self._approx_kl(log_prob, old_log_prob))
        self.logger.record("train/clip_range", self.clip_range)


__all__ = ["RecurrentPPO"]
