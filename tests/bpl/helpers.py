"""Sequence fixtures shared by the bpl tests (float64, time-first)."""

from __future__ import annotations

import torch

import bpl


def rollout(cell: bpl.RecurrentCell, xs: torch.Tensor, z0: torch.Tensor | None = None):
    """Run ``cell`` over xs (T, B, I); return states (T, B, |z|) and Jacobians (T, B, |z|, |z|).

    jacs[0] = ∂z_0/∂z_{-1} with z_{-1} = z0 (zeros by default).
    """
    T, B, _ = xs.shape
    z = cell.initial_state(B) if z0 is None else z0
    zs, jacs = [], []
    with torch.no_grad():
        for t in range(T):
            z, jac = cell.jacobian(xs[t], z)
            zs.append(z)
            jacs.append(jac)
    return torch.stack(zs), torch.stack(jacs)


def random_critic(H: int, hidden_sizes=(), seed: int = 0, **kw) -> bpl.SyntheticGradient:
    """A critic with every parameter random (the default zero output would make ĝ ≡ 0)."""
    torch.manual_seed(seed)
    critic = bpl.SyntheticGradient(H, hidden_sizes=hidden_sizes, dtype=torch.float64, **kw)
    with torch.no_grad():
        for p in critic.parameters():
            p.copy_(0.3 * torch.randn_like(p))
    return critic


def reference_gradient(critic, zs, imm_grads, jacs, gamma, lam, ends=None):
    """−(1/B) Σ_rows Σ_t (∂ĝ_t/∂θ)^T (G^λ_t − ĝ_t), by autograd over the forward view.

    ``ends`` (T, B) bool splits each row into episodes; G^λ is computed per episode.
    """
    T, B, H = zs.shape
    if ends is None:
        ends = torch.zeros(T, B, dtype=torch.bool)
        ends[-1] = True
    params = critic.trainable_parameters()
    total = [torch.zeros_like(p) for p in params]
    for b in range(B):
        start = 0
        for t in range(T):
            if not ends[t, b]:
                continue
            seg = slice(start, t + 1)
            sg = critic(zs[seg, b : b + 1])  # (T_e, 1, H)
            targets = bpl.lambda_targets(
                imm_grads[seg, b : b + 1], jacs[seg, b : b + 1], sg.detach(), gamma, lam
            )
            loss = (sg * (targets - sg.detach())).sum()
            for acc, g in zip(total, torch.autograd.grad(loss, params)):
                acc -= g / B
            start = t + 1
    return total


def run_online(critic, zs, imm_grads, jacs, gamma, lam, ends=None):
    """Drive BPLambda over the sequence with θ fixed; return the accumulated grads."""
    T, B, H = zs.shape
    if ends is None:
        ends = torch.zeros(T, B, dtype=torch.bool)
        ends[-1] = True
    critic.zero_grad(set_to_none=True)
    learner = bpl.BPLambda(critic, gamma=gamma, lam=lam)
    learner.reset(batch_size=B)
    for t in range(T):
        learner.step(zs[t], jacs[t], imm_grads[t], ends[t])
    return [p.grad.clone() for p in critic.trainable_parameters()]
