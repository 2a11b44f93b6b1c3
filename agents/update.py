"""The update of the recurrent on-policy agents: a rollout cut into truncation windows.

Layout: time-first. A rollout holds T = ``n_steps`` steps of B environments; it is cut
into K = T / k windows of k = ``window`` steps (k = T, one window per environment, is
RecurrentA2C's default). In the windowed layout the rows are r = c·B + b (window c of
environment b): (T, B, ·) -> (k, K·B, ·), see :func:`bpl.windows.to_windows`.

Per rollout (bp_lambda.md §5 and §7):

1. pass 0: the core re-runs over the rollout from the state before it, its graph cut at
   every window boundary (``immediate``: at every step; ``bptt``: never, over the episode
   history), with the Jacobians J_t in the gradient-critic modes; its values give the
   GAE advantages and returns;
2. l_t = ∂L_t/∂z_t of pass 0's loss (the policy ratio is 1 there, so it is A2C's loss
   gradient): the credit engine learns from (z_t, J_t, l_t) over the whole rollout and
   fixes β ĝ at every window's last state (:meth:`UpdateMixin._learn_credit`);
3. the subclass's update (:meth:`UpdateMixin._update`): RecurrentA2C steps on pass 0;
   RecurrentPPO runs its epochs, over minibatches of windows each re-run from its stored
   start state (:meth:`UpdateMixin._window_pass`), or over the whole rollout.

Every step's loss gradient reaches back at most to its window's start, plus β ĝ at the
window's end: TBPTT(k) with the gradient critic's estimate of what lies beyond.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from stable_baselines3.common.utils import explained_variance

from bpl.credit import NonFiniteError
from bpl.windows import from_windows, to_windows

from .policy import RecurrentState
from .window import Pass, Targets, Window, gae_advantages


class UpdateMixin:
    """The update steps of :class:`agents.on_policy.RecurrentOnPolicyAlgorithm` (see the
    module docstring); the subclass defines :meth:`_update`."""

    # ------------------------------------------------------------------ layout
    def _window_len(self, w: Window) -> int:
        """k: steps per truncation window (the whole rollout for ``bptt``)."""
        T = w.shape[0]
        if self.credit_engine.spans_episode or self.window is None:
            return T
        return self.window

    def train(self) -> None:
        """One update from the rollout collected last (see the module docstring)."""
        w = self._window
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        self._inject = None
        seq = self._history.extend(w) if self._history is not None else (w.z0, w.obs, w.starts)
        last = self._update(w, seq)
        if self._history is not None:
            self._history.trim(last.zs)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record(
            "train/learning_rate", self.lr_schedule(self._current_progress_remaining)
        )

    def _update(self, window: Window, seq: tuple) -> Pass:
        """The subclass's update from one rollout; returns its last sequential pass.

        :param window: the rollout collected last.
        :param seq: (state before, observations, starts) of the sequence to unroll: the
            rollout, or for ``bptt`` the episode history ending with it.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must define _update (RecurrentA2C: one step on pass 0; "
            "RecurrentPPO: its epochs)"
        )

    # ------------------------------------------------------------------ passes
    def _unroll(
        self,
        z0: torch.Tensor,
        obs: list[torch.Tensor],
        starts: torch.Tensor,
        jacobian: bool,
        k: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Core states over a sequence, with graph: (L, B, |z|) and J (L, B, |z|, |z|).

        The graph is cut every ``k`` steps (None: never) and, for ``immediate``, at
        every step: z_{t−1} then enters step t as a constant."""
        cut = self.credit_engine.cuts_every_step
        state = RecurrentState(z0.detach())
        zs, jacs = [], []
        for t in range(len(obs)):
            if cut or (k is not None and t > 0 and t % k == 0):
                state = RecurrentState(state.z.detach())
            state, jac = self.policy.step_core(obs[t], state, starts[t], jacobian=jacobian)
            zs.append(state.z)
            jacs.append(jac)
        return torch.stack(zs), (torch.stack(jacs) if jacobian else None)

    def _heads(self, zs: torch.Tensor, actions: torch.Tensor) -> Pass:
        """Policy and value heads over states (T, R, |z|) taken as a leaf ``z_in``."""
        T, R = zs.shape[:2]
        z_in = zs.detach().requires_grad_(True)
        flat = z_in.reshape(T * R, -1)  # (T, R, |z|) -> (T*R, |z|)
        dist = self.policy.distribution(flat)
        log_prob = dist.log_prob(actions.reshape(T * R, *actions.shape[2:])).view(T, R)
        values = self.policy.value(flat).view(T, R)
        entropy = dist.entropy()
        entropy = -log_prob if entropy is None else entropy.view(T, R)
        return Pass(zs, None, z_in, log_prob, values, entropy)

    def _forward(self, w: Window, seq: tuple, jacobian: bool, graph: bool = True) -> Pass:
        """A sequential pass: the core over ``seq`` (graph cut at window boundaries; none
        with ``graph`` False), the heads over the rollout's states."""
        T = w.shape[0]
        k = None if self.credit_engine.spans_episode else self._window_len(w)
        jacobian = jacobian and self.credit_engine.needs_jacobian
        with torch.set_grad_enabled(graph):
            zs, jacs = self._unroll(*seq, jacobian=jacobian, k=k)
        return self._heads(zs[-T:], w.actions)._replace(zs=zs, jacs=jacs)

    def _window_pass(self, w: Window, p0: Pass, rows: torch.Tensor) -> Pass:
        """The core re-run over windows ``rows`` of the windowed layout, each from its
        start state in pass 0 ``p0``; heads over their states, (k, len(rows), ·)."""
        k = self._window_len(w)
        T, B = w.shape
        z_before = torch.cat([w.z0[None], p0.zs[-T:].detach()[k - 1 : T - 1 : k]])  # (K, B, |z|)
        z0 = z_before.reshape(-1, z_before.shape[-1])[rows]  # (K*B, |z|) -> (R, |z|)
        obs = to_windows(torch.stack(w.obs), k)[:, rows]  # (T, B, ·) -> (k, R, ·)
        starts = to_windows(w.starts, k)[:, rows]
        zs, _ = self._unroll(z0, list(obs), starts, jacobian=False)
        return self._heads(zs, to_windows(w.actions, k)[:, rows])

    @torch.no_grad()
    def _targets(self, w: Window, p: Pass) -> Targets:
        """GAE advantages (standardised over the rollout with ``normalize_advantage``),
        returns, and the acting policy's log-probabilities, from pass 0."""
        adv, returns = gae_advantages(
            w.rewards, p.values, w.next_value, w.ends, self.gamma, self.gae_lambda
        )
        if self.normalize_advantage and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        self.logger.record_mean(
            "train/explained_variance",
            explained_variance(p.values.flatten().cpu().numpy(), returns.flatten().cpu().numpy()),
        )
        return Targets(adv, returns, p.log_prob.detach())

    # ------------------------------------------------------------------ steps
    def _loss(self, p: Pass, tg: Targets, policy_loss: torch.Tensor) -> torch.Tensor:
        """policy loss + c_H · entropy loss + c_V · value loss, refusing NaN/inf."""
        value_loss = F.mse_loss(tg.returns, p.values)
        entropy_loss = -p.entropy.mean()
        loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
        if not torch.isfinite(loss):
            raise NonFiniteError(
                f"non-finite loss at step {self.num_timesteps}: policy "
                f"{policy_loss.item()}, value {value_loss.item()}, entropy "
                f"{entropy_loss.item()}; update not applied"
            )
        log = self.logger.record_mean
        log("train/policy_loss", policy_loss.item())
        log("train/value_loss", value_loss.item())
        log("train/entropy_loss", entropy_loss.item())
        return loss

    def _gradient_step(
        self,
        p: Pass,
        tg: Targets,
        policy_loss: torch.Tensor,
        inject: torch.Tensor | None,
        k: int,
        learn_credit: Window | None = None,
    ) -> None:
        """One optimizer step of the policy on ``policy_loss`` + value and entropy terms.

        The core gets Σ_t l_t back-propagated within each window plus ``inject`` (β ĝ per
        window, (K, R', |z|) for the K windows of k steps in ``p``) at each window's last
        state. With ``learn_credit`` (the rollout of pass 0) the critic first learns from
        this pass's l_t and fixes ``self._inject`` for every later pass.
        """
        loss = self._loss(p, tg, policy_loss)
        policy = self.policy
        policy.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # head gradients, and z_in.grad = l_t / N
        T, R = p.z_in.shape[:2]
        n = T * R
        if learn_credit is not None and self.credit_engine.uses_critic:
            self._inject = self._learn_credit(learn_credit, p, p.z_in.grad * n)
            inject = self._inject
        grad_z = p.z_in.grad.clone()  # (T, R, |z|)
        if inject is not None:  # at each window's last state, on the actor core's part
            grad_z.view(T // k, k, R, -1)[:, -1, :, : inject.shape[-1]] += inject / n
        if p.zs.requires_grad:
            full = torch.zeros_like(p.zs)
            full[-T:] = grad_z
            torch.autograd.backward(p.zs, full)  # within each window (or over the episode)
        grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), self.max_grad_norm)
        if not torch.isfinite(grad_norm):
            policy.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteError(
                f"non-finite policy gradient at step {self.num_timesteps}; update not applied"
            )
        policy.optimizer.step()
        self._n_updates += 1
        self.logger.record_mean("train/grad_norm", grad_norm.item())

    def _learn_credit_only(self, w: Window, p: Pass, tg: Targets) -> None:
        """The critic learns from pass 0's loss gradient (A2C's: the policy ratio is 1
        there) without a policy step; fixes ``self._inject``."""
        if not self.credit_engine.uses_critic:
            return
        loss = self._loss(p, tg, -(tg.advantages * p.log_prob).mean())
        loss.backward(inputs=[p.z_in])  # z_in.grad = l_t / N; no parameter's .grad
        n = p.z_in.shape[0] * p.z_in.shape[1]
        self._inject = self._learn_credit(w, p, p.z_in.grad * n)

    def _learn_credit(self, w: Window, p: Pass, l_unit: torch.Tensor) -> torch.Tensor:
        """The gradient critic learns from the rollout (per-sample immediate gradients
        ``l_unit`` (T, B, |z|) of pass 0 ``p``); return β ĝ at every window's last state
        where the episode goes on, (K, B, S): the critic covers the actor core's part of z,
        its first S = ``policy.actor_state_size`` entries."""
        T, B = w.shape
        k = self._window_len(w)
        engine = self.credit_engine
        log = self.logger.record_mean
        S = self.policy.actor_state_size
        zs, jw = p.zs[-T:, :, :S].detach(), p.jacs[-T:]
        z0, l_unit = w.z0[:, :S], l_unit[..., :S]
        ends, starts = w.ends > 0, w.starts > 0
        if engine.bp_lambda is not None:  # traces run through the rollout, row = env
            credit = engine.learn_window(z0, zs, jw, l_unit, ends, starts)
            predictions = credit.predictions
            if engine.meter is not None:
                log("bpl/sg_reliability", engine.meter.value)
        else:  # DNI regresses at every window's start on that window's target
            z_before = torch.cat([z0[None], zs[k - 1 : T - 1 : k]]).reshape(-1, S)
            credit = engine.learn_window(
                z_before,
                to_windows(zs, k),
                to_windows(jw, k),
                to_windows(l_unit, k),
                to_windows(ends, k),
                to_windows(starts, k),
            )
            predictions = from_windows(credit.predictions, B)
        engine.step()
        if credit.error is not None:
            log("bpl/td_error", credit.error)
        if engine.meter is not None:  # the engine measures ĝ against G itself
            if engine.meter.alignment is not None:
                log("bpl/sg_cosine", engine.meter.alignment)
        elif self.log_sg_cosine:
            res = self._probe.add(predictions, jw, l_unit, w.starts)
            if res is not None:
                log("bpl/sg_cosine", res.cosine)
        last = predictions[k - 1 :: k]  # (K, B, |z|), ĝ at each window's last state
        log("bpl/sg_norm", last.norm(dim=-1).mean().item())
        # size of the injected β ĝ relative to the rollout's immediate gradients
        ratio = engine.beta * last.norm() / (l_unit.norm() * (k / T) ** 0.5 + 1e-12)
        log("bpl/sg_injection_ratio", ratio.item())
        log("bpl/sg_beta", engine.beta)
        K = T // k
        inject = engine.injection(last.reshape(K * B, -1), ends[k - 1 :: k].reshape(-1))
        return inject.view(K, B, -1)

    def _minibatches(self, w: Window, batch_size: int | None) -> list[torch.Tensor]:
        """Row indices of the windowed layout in random minibatches of ``batch_size``
        samples (a multiple of k; None: one batch of every row)."""
        T, B = w.shape
        k = self._window_len(w)
        R = (T // k) * B
        if batch_size is None or batch_size >= T * B:
            return [torch.arange(R, device=w.starts.device)]
        per = max(1, batch_size // k)
        perm = torch.randperm(R, device=w.starts.device)
        return list(perm.split(per))

    @staticmethod
    def _rows(x: Any, k: int, rows: torch.Tensor) -> torch.Tensor:
        """(T, B, ...) in the windowed layout, rows ``rows``: (k, len(rows), ...)."""
        return to_windows(x, k)[:, rows]


__all__ = ["UpdateMixin"]
