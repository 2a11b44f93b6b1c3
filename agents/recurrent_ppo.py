"""Recurrent PPO on the same rollouts, windows and credit modes: several clipped-surrogate
epochs over each rollout instead of one A2C step.

Per rollout (T steps × B envs, cut into windows of k steps, :mod:`agents.update`):

1. pass 0 gives GAE advantages and returns, and the gradient critic learns from its
   loss gradient (ρ = 1 there, so its immediate gradients are A2C's); the β ĝ injected
   at every window's end is fixed from then on;
2. ``n_epochs`` epochs of clipped-surrogate steps −mean min(ρ Â, clip(ρ, 1 ± ε) Â),
   ρ = π(a|z) / π_old(a|z): with ``batch_size`` None, one step per epoch on the whole
   rollout (pass 0 is the first); else one step per minibatch of ``batch_size`` samples,
   whole windows drawn at random, each re-run from its start state in pass 0 (as
   sb3-contrib's RecurrentPPO re-runs stored sequences from their stored states);
   with ``target_kl``, the epochs stop once the KL estimate exceeds 1.5 × ``target_kl``
   (SB3's rule). ``bptt`` always steps on the whole rollout.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from .config import PPOConfig
from .on_policy import RecurrentOnPolicyAlgorithm
from .window import Pass, Targets, Window


class RecurrentPPO(RecurrentOnPolicyAlgorithm):
    """Recurrent PPO (clipped surrogate, several passes per window) on the recurrent core
    and credit modes of :class:`~agents.RecurrentA2C`.

    Not sb3-contrib's ``RecurrentPPO`` (an LSTM trained by BPTT over stored sequences):
    this one keeps the online windows and the gradient critic.

    Options: :class:`agents.config.PPOConfig` — RecurrentA2C's (same defaults, except
    ``normalize_advantage=True``) plus ``n_epochs`` (passes per window, ≥ 1),
    ``clip_range`` (ε > 0), ``target_kl`` (None: never stop early) and ``batch_size``
    (samples per minibatch, whole windows; None: the whole rollout). Other arguments as
    :class:`~agents.RecurrentA2C`, except that the value head has its own core by
    default (``policy_kwargs["value_core"]``, as sb3-contrib's critic LSTM; not with
    ``value_trains_core=False``).
    """

    config_class: ClassVar[type[PPOConfig]] = PPOConfig
    default_value_core: ClassVar[bool] = True  # sb3-contrib's critic LSTM (docs/agents.md)
    n_epochs: int
    clip_range: float
    target_kl: float | None
    batch_size: int | None

    def _update(self, window: Window, seq: tuple) -> Pass:
        """``n_epochs`` clipped-surrogate epochs; the critic learns from pass 0."""
        w, k = window, self._window_len(window)
        whole = self.batch_size is None or self.credit_engine.spans_episode
        p0 = self._forward(w, seq, jacobian=True, graph=whole)
        tg = self._targets(w, p0)
        if not whole:
            self._learn_credit_only(w, p0, tg)
        for epoch in range(self.n_epochs):
            if whole:
                p = p0 if epoch == 0 else self._forward(w, seq, jacobian=False)
                if not self._step(p, tg, self._inject, k, learn_credit=w if epoch == 0 else None):
                    break
                continue
            for rows in self._minibatches(w, self.batch_size):
                p = self._window_pass(w, p0, rows)
                inject = None
                if self._inject is not None:
                    inject = self._inject.reshape(-1, self._inject.shape[-1])[rows][None]
                tgr = Targets(*(self._rows(x, k, rows) for x in tg))
                if not self._step(p, tgr, inject, k):
                    return p0
        return p0

    def _step(
        self,
        p: Pass,
        tg: Targets,
        inject: torch.Tensor | None,
        k: int,
        learn_credit: Window | None = None,
    ) -> bool:
        """One clipped-surrogate step on pass ``p``; False (and no step) once the KL
        estimate exceeds 1.5 × ``target_kl``."""
        log_prob = p.log_prob.detach()
        if self.target_kl is not None and learn_credit is None:
            approx_kl = self._approx_kl(log_prob, tg.old_log_prob)
            if approx_kl > 1.5 * self.target_kl:
                self.logger.record_mean("train/approx_kl", approx_kl)
                return False  # early stop: the policy moved too far from the one that acted
        loss = self._policy_loss(tg.advantages, p.log_prob, tg.old_log_prob)
        self._gradient_step(p, tg, loss, inject, k, learn_credit=learn_credit)
        self._log_pass(log_prob, tg.old_log_prob)
        return True

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
