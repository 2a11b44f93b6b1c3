"""Learning the gradient critic of a frozen RNN: the cleanest test of BP(λ).

With the RNN fixed, the exact future gradient G_t of every state is known (from
:func:`bpl.future_gradients`), so how well ĝ learns it is directly measurable — the
paper's first experiment (bp_lambda.md §5). Layout: time-first, (T, B, ·).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..alignment import alignment
from ..bp_lambda import BPLambda
from ..cells import RecurrentCell, RNNCell
from ..checks import check_positive_int, check_unit_interval
from ..targets import future_gradients


@dataclass
class FrozenRollout:
    """One batch of sequences through a fixed cell, with everything BP(λ) needs.

    :param states: z_t, (T, B, H).
    :param jacobians: J_t = ∂z_t/∂z_{t−1}, (T, B, H, H).
    :param imm_grads: l_t = ∂L_t/∂z_t, (T, B, H).
    :param future: the true discounted future gradient G_t, (T, B, H).
    :param gamma: the discount G was computed with.
    """

    states: torch.Tensor
    jacobians: torch.Tensor
    imm_grads: torch.Tensor
    future: torch.Tensor
    gamma: float


def rollout_frozen(
    cell: RecurrentCell,
    inputs: torch.Tensor,
    loss_grad: Callable[[int, torch.Tensor], torch.Tensor],
    gamma: float = 1.0,
) -> FrozenRollout:
    """Run ``cell`` over ``inputs`` (T, B, I) from the zero state.

    :param cell: the fixed recurrent cell.
    :param inputs: x, (T, B, I).
    :param loss_grad: ``loss_grad(t, z_t)`` returns l_t = ∂L_t/∂z_t, (B, H).
    :param gamma: discount of distant losses.
    """
    gamma = check_unit_interval("gamma", gamma)
    T, B, _ = inputs.shape
    z = cell.initial_state(B)
    states, jacs, imm = [], [], []
    with torch.no_grad():
        for t in range(T):
            z, jac = cell.jacobian(inputs[t], z)
            states.append(z)
            jacs.append(jac)
            imm.append(loss_grad(t, z))
    states_t, jacs_t, imm_t = torch.stack(states), torch.stack(jacs), torch.stack(imm)
    return FrozenRollout(states_t, jacs_t, imm_t, future_gradients(imm_t, jacs_t, gamma), gamma)


def delayed_loss_problem(
    hidden_size: int = 16,
    delay: int = 20,
    input_size: int = 10,
    gain: float = 1.0,
    nonlinearity: str = "tanh",
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> FrozenRollout:
    """A random fixed RNN that sees a binary cue at step 0 and zeros after, with a loss
    ½‖C z_{T−1} − y‖² (y a point on the unit circle) only at the last of ``delay`` steps.

    Every gradient reaching z_t for t < T−1 must come through the recurrence, from up to
    ``delay`` steps later: what a synthetic gradient has to predict.

    :param hidden_size: H.
    :param delay: T, the number of steps (the loss is at step T−1).
    :param input_size: size of the binary cue.
    :param gain: spectral scale of W_hh (W_hh ~ gain·N(0, 1/H)).
    :param nonlinearity: ``"tanh"`` or ``"linear"``.
    :param seed: seeds the RNN, cue, readout and target.
    :param dtype: float32 or float64.
    """
    check_positive_int("hidden_size", hidden_size)
    check_positive_int("delay", delay, minimum=2)
    g = torch.Generator().manual_seed(seed)
    H, T, I = hidden_size, delay, input_size
    cell = RNNCell(I, H, nonlinearity=nonlinearity, dtype=dtype)
    with torch.no_grad():
        cell.weight_hh.copy_(gain * torch.randn(H, H, generator=g, dtype=dtype) / H**0.5)
        cell.weight_ih.copy_(torch.randn(H, I, generator=g, dtype=dtype) / I**0.5)
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
    readout = torch.randn(2, H, generator=g, dtype=dtype) / H**0.5  # C, (2, H)
    angle = 2 * torch.pi * torch.rand((), generator=g, dtype=dtype)
    target = torch.stack([angle.cos(), angle.sin()])  # y, (2,)
    inputs = torch.zeros(T, 1, I, dtype=dtype)
    inputs[0, 0] = (torch.rand(I, generator=g) < 0.5).to(dtype)

    def loss_grad(t: int, z: torch.Tensor) -> torch.Tensor:
        if t < T - 1:
            return torch.zeros_like(z)
        return (z @ readout.T - target) @ readout  # (B, 2) @ (2, H) -> (B, H)

    return rollout_frozen(cell, inputs, loss_grad, gamma=1.0)


def fit_critic(
    learner: BPLambda,
    optimizer: torch.optim.Optimizer,
    rollout: FrozenRollout,
    iterations: int,
    update: str = "sequence",
    on_iteration: Callable[[int, float], None] | None = None,
) -> torch.Tensor:
    """Replay ``rollout`` ``iterations`` times through BP(λ) and record alignment.

    :param learner: BP(λ) for the critic (its γ should match ``rollout.gamma``).
    :param optimizer: optimizer over the critic's parameters.
    :param rollout: the sequences (each ends at its last step).
    :param iterations: number of passes.
    :param update: ``"sequence"`` (one optimizer step per pass, θ fixed within it) or
        ``"step"`` (one per time step: fully online).
    :param on_iteration: called as ``on_iteration(i, alignment)`` after each pass.
    :return: mean cosine between ĝ_t and G_t over steps t < T−1, per pass, (iterations,).
    """
    check_positive_int("iterations", iterations)
    if update not in ("sequence", "step"):
        raise ValueError(f"update must be 'sequence' or 'step', got {update!r}")
    T, B, _ = rollout.states.shape
    not_end = torch.zeros(B, dtype=torch.bool)
    history = torch.empty(iterations)
    for i in range(iterations):
        learner.reset(B)
        preds = []
        optimizer.zero_grad()
        for t in range(T):
            end = not_end if t < T - 1 else ~not_end
            preds.append(
                learner.step(rollout.states[t], rollout.jacobians[t], rollout.imm_grads[t], end)
            )
            if update == "step":
                optimizer.step()
                optimizer.zero_grad()
        if update == "sequence":
            optimizer.step()
        _, mean_cos = alignment(torch.stack(preds)[:-1], rollout.future[:-1])
        history[i] = mean_cos
        if on_iteration is not None:
            on_iteration(i, float(mean_cos))
    return history
