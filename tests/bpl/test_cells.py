"""Cells: forward against torch's cells, Jacobians against autograd, one-step oracle."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import bpl

from .helpers import rollout

CELL_KINDS = ["rnn", "gru", "lstm"]


def _cell(kind, I=3, H=5, seed=0):
    torch.manual_seed(seed)
    return bpl.make_cell(kind, I, H, dtype=torch.float64)


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_forward_matches_torch_cell(kind):
    cell = _cell(kind)
    ref = {"rnn": nn.RNNCell, "gru": nn.GRUCell, "lstm": nn.LSTMCell}[kind](
        3, 5, dtype=torch.float64
    )
    ref.load_state_dict(cell.state_dict())
    x = torch.randn(4, 3, dtype=torch.float64)
    z = torch.randn(4, cell.state_size, dtype=torch.float64)
    out = cell(x, z)
    if kind == "lstm":
        h, c = ref(x, (z[:, :5], z[:, 5:]))
        torch.testing.assert_close(out, torch.cat([h, c], 1))
    else:
        torch.testing.assert_close(out, ref(x, z))


@pytest.mark.parametrize("kind", CELL_KINDS + ["linear"])
def test_jacobian_matches_autograd(kind):
    cell = (
        bpl.RNNCell(3, 5, nonlinearity="linear", dtype=torch.float64)
        if kind == "linear"
        else _cell(kind)
    )
    x = torch.randn(6, 3, dtype=torch.float64)
    z = torch.randn(6, cell.state_size, dtype=torch.float64)
    out, jac = cell.jacobian(x, z)
    assert jac.shape == (6, cell.state_size, cell.state_size)
    torch.testing.assert_close(out, cell(x, z))

    def single(x1, z1):
        return cell(x1.unsqueeze(0), z1.unsqueeze(0)).squeeze(0)

    want = torch.func.vmap(torch.func.jacrev(single, argnums=1))(x, z)
    assert (jac - want).abs().max() < 1e-6
    torch.testing.assert_close(jac, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_perfect_critic_one_step_updates_sum_to_bptt(kind):
    """γ = 1, ĝ_t = G_t: Σ_t (∂z_t/∂Ψ|one step)^T (l_t + G_t) = dL/dΨ (bp_lambda.md §4)."""
    cell = _cell(kind)
    T, B = 8, 3
    xs = torch.randn(T, B, 3, dtype=torch.float64)
    C = torch.randn(cell.state_size, 2, dtype=torch.float64)
    y = torch.randn(T, B, 2, dtype=torch.float64)

    def step_loss(t, z):  # L_t = ½‖z_t C − y_t‖², only at some steps
        return 0.5 * ((z @ C - y[t]) ** 2).sum() if t % 3 != 1 else z.sum() * 0

    # exact BPTT gradient of Σ_t L_t with respect to the cell's parameters
    z, loss = cell.initial_state(B), 0
    for t in range(T):
        z = cell(xs[t], z)
        loss = loss + step_loss(t, z)
    bptt = torch.autograd.grad(loss, tuple(cell.parameters()))

    zs, jacs = rollout(cell, xs)
    imm = torch.stack([torch.func.grad(lambda zz, t=t: step_loss(t, zz))(zs[t]) for t in range(T)])
    G = bpl.future_gradients(imm, jacs, gamma=1.0)
    z_prev = torch.cat([cell.initial_state(B).unsqueeze(0), zs[:-1]])
    total = [torch.zeros_like(p) for p in cell.parameters()]
    for t in range(T):
        for acc, g in zip(total, bpl.one_step_gradients(cell, xs[t], z_prev[t], imm[t] + G[t])):
            acc += g
    for got, want in zip(total, bptt):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_lstm_state_layout():
    cell = bpl.LSTMCell(2, 4)
    assert cell.state_size == 8
    z = torch.randn(3, 8)
    assert torch.equal(cell.hidden(z), z[:, :4]) and torch.equal(cell.cell_state(z), z[:, 4:])


def test_float32_cells_work():
    cell = bpl.GRUCell(2, 4)
    out, jac = cell.jacobian(torch.randn(3, 2), cell.initial_state(3))
    assert out.dtype == jac.dtype == torch.float32
