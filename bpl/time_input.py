"""A critic input that tells steps apart: the step's phase, appended to the state.

The gradient critic ĝ(z_t) sees only z_t; where the same state recurs at different
distances from a loss (a delayed target: G_t grows as t nears the target), one function
of z_t cannot fit every step. With ``sg_time_input = n`` the critic sees
z̃_t = [z_t; u_t], u_t the phase of the step index t (steps since the episode started,
known online) at n periods P_k = 8·4^k:

    u_t = [sin(2π t / P_k), cos(2π t / P_k)]_{k < n}              (2n features)

u_t does not depend on z_{t−1}, so the augmented Jacobian is J̃_t = [[J_t, 0], [0, 0]] and
the immediate gradient l̃_t = [l_t; 0]: BP(λ) on z̃ is BP(λ) on z with a critic that also
reads u_t (the u-part of its target is 0, and the u-part of its output is dropped).
"""

from __future__ import annotations

import math

import torch

#: shortest period P_0, in steps; P_k = BASE_PERIOD · 4^k
BASE_PERIOD = 8


def phase_features(times: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """u_t for step indices ``times`` (any shape S) -> (S..., 2n)."""
    periods = BASE_PERIOD * 4.0 ** torch.arange(n, dtype=torch.float64, device=times.device)
    angle = 2 * math.pi * times.to(torch.float64).unsqueeze(-1) / periods  # (S..., n)
    return torch.cat([angle.sin(), angle.cos()], -1).to(dtype)


def step_indices(clock: torch.Tensor, ends: torch.Tensor, starts: torch.Tensor | None):
    """Step index t of each state of a window, and the clock after it.

    :param clock: (B,) long, the index the window's first step would have.
    :param ends: (T, B) bool, True where a step ends its row's episode.
    :param starts: (T, B) bool or None, True where a step starts one (index 0).
    :return: (T, B) long indices and the (B,) clock for the next window.
    """
    out = []
    c = clock.clone()
    for t in range(ends.shape[0]):
        if starts is not None:
            c = torch.where(starts[t], torch.zeros_like(c), c)
        out.append(c)
        c = torch.where(ends[t], torch.zeros_like(c), c + 1)
    return torch.stack(out), c


def augment(z, jac, imm, u):
    """(z̃, J̃, l̃) = ([z; u], [[J, 0], [0, 0]], [l; 0]); ``jac`` / ``imm`` may be None.

    :param z: (..., |z|); :param jac: (..., |z|, |z|); :param imm: (..., |z|);
    :param u: (..., 2n).
    """
    n2 = u.shape[-1]
    z_aug = torch.cat([z, u], -1)
    jac_aug = None if jac is None else torch.nn.functional.pad(jac, (0, n2, 0, n2))
    imm_aug = None if imm is None else torch.nn.functional.pad(imm, (0, n2))
    return z_aug, jac_aug, imm_aug


__all__ = ["BASE_PERIOD", "augment", "phase_features", "step_indices"]
