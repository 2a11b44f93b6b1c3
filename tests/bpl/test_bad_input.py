"""Bad input raises a ValueError that names the problem."""

from __future__ import annotations

import pytest
import torch

import bpl


def _learner(B=2, H=3, **kw):
    learner = bpl.BPLambda(bpl.SyntheticGradient(H), **kw)
    learner.reset(B)
    return learner


def _inputs(B=2, H=3):
    return torch.randn(B, H), torch.randn(B, H, H), torch.randn(B, H), torch.zeros(B, dtype=bool)


@pytest.mark.parametrize("name", ["gamma", "lam"])
@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), "x"])
def test_gamma_lambda_outside_unit_interval(name, value):
    with pytest.raises(ValueError, match=name):
        bpl.BPLambda(bpl.SyntheticGradient(3), **{name: value})
    with pytest.raises(ValueError, match=name):
        bpl.lambda_targets(
            torch.zeros(2, 1, 3),
            torch.zeros(2, 1, 3, 3),
            torch.zeros(2, 1, 3),
            **{"gamma": 0.5, "lam": 0.5, name: value},
        )


@pytest.mark.parametrize(
    "index, bad, message",
    [
        (0, torch.randn(2, 4), "z must have shape"),
        (1, torch.randn(2, 3, 4), "jac must have shape"),
        (2, torch.randn(3), "imm_grad must have shape"),
        (3, torch.zeros(3, dtype=bool), "episode_end must have shape"),
        (0, torch.randn(5, 3), "reset"),
        (0, torch.ones(2, 3, dtype=torch.long), "floating-point"),
    ],
)
def test_wrong_shapes(index, bad, message):
    learner = _learner()
    args = list(_inputs())
    args[index] = bad
    with pytest.raises(ValueError, match=message):
        learner.step(*args)


@pytest.mark.parametrize("index, name", [(0, "z"), (1, "jac"), (2, "imm_grad")])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_inputs(index, name, value):
    learner = _learner()
    learner.step(*_inputs())  # rows now continue, so J is used at the next step
    args = list(_inputs())
    args[index][0, 0] = value
    with pytest.raises(ValueError, match=f"{name}.*NaN or inf"):
        learner.step(*args)


def test_non_finite_jacobian_of_starting_row_is_ignored():
    learner = _learner()
    z, jac, imm, end = _inputs()
    jac[:] = float("nan")  # first step: every row starts, J is ignored
    g = learner.step(z, jac, imm, end)
    assert torch.isfinite(g).all()


def test_step_before_reset():
    learner = bpl.BPLambda(bpl.SyntheticGradient(3))
    with pytest.raises(RuntimeError, match="reset"):
        learner.step(*_inputs())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"state_size": 0}, "state_size"),
        ({"state_size": 3, "hidden_sizes": (4, -1)}, "hidden_sizes"),
        ({"state_size": 3, "activation": "gelu"}, "activation"),
        ({"state_size": 3, "dtype": torch.float16}, "dtype"),
    ],
)
def test_gradient_critic_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bpl.SyntheticGradient(**kwargs)


def test_reset_batch_size_and_cell_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        bpl.BPLambda(bpl.SyntheticGradient(3)).reset(0)
    with pytest.raises(ValueError, match="cell kind"):
        bpl.make_cell("transformer", 2, 3)
    with pytest.raises(ValueError, match="nonlinearity"):
        bpl.RNNCell(2, 3, nonlinearity="relu")
    cell = bpl.GRUCell(2, 3)
    with pytest.raises(ValueError, match="x must have shape"):
        cell(torch.randn(4, 5), cell.initial_state(4))
    with pytest.raises(ValueError, match="z must have shape"):
        cell(torch.randn(4, 2), torch.zeros(4, 7))


def test_targets_shapes_and_values():
    with pytest.raises(ValueError, match="jacs must have shape"):
        bpl.future_gradients(torch.zeros(4, 2, 3), torch.zeros(4, 2, 3, 2), 1.0)
    imm = torch.zeros(4, 2, 3)
    imm[1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="imm_grads contains NaN"):
        bpl.future_gradients(imm, torch.zeros(4, 2, 3, 3), 1.0)


def test_float64_and_device_checks():
    learner = bpl.BPLambda(bpl.SyntheticGradient(3, dtype=torch.float64))
    learner.reset(2)
    g = learner.step(*_inputs())  # float32 inputs are converted to the critic's dtype
    assert g.dtype == torch.float64
    if torch.cuda.is_available():
        z, jac, imm, end = _inputs()
        with pytest.raises(ValueError, match="device"):
            learner.step(z.cuda(), jac, imm, end)


@pytest.mark.parametrize(
    "episode_end, message",
    [
        ("no", "episode_end must be a bool tensor"),
        (torch.tensor([0.5, 0.0]), "only 0 and 1"),
        (torch.tensor([float("nan"), 0.0]), "only 0 and 1"),
        (torch.zeros(1, dtype=bool), r"episode_end must have shape \(2,\)"),
        (torch.zeros(2, 1, dtype=bool), r"episode_end must have shape \(2,\)"),
    ],
)
def test_episode_end_must_be_a_mask_of_the_batch(episode_end, message):
    learner = _learner()
    z, jac, imm, _ = _inputs()
    with pytest.raises(ValueError, match=message):
        learner.step(z, jac, imm, episode_end)


def test_episode_end_of_zeros_and_ones_is_a_mask():
    learner = _learner()
    z, jac, imm, _ = _inputs()
    learner.step(z, jac, imm, torch.tensor([1.0, 0.0]))
    assert learner._pending.tolist() == [False, True]


@pytest.mark.parametrize(
    "rows, message",
    [(torch.ones(1, dtype=bool), r"rows must have shape \(3,\)"), ([0.5, 0, 1], "only 0 and 1")],
)
def test_reset_rows_needs_one_flag_per_row(rows, message):
    learner = _learner(B=3)
    learner.step(*_inputs(B=3))
    before = learner.trace.clone()
    with pytest.raises(ValueError, match=message):
        learner.reset_rows(rows)
    assert torch.equal(learner.trace, before)


def test_reset_with_an_impossible_batch_says_how_much_memory():
    learner = bpl.BPLambda(bpl.SyntheticGradient(16))
    with pytest.raises(MemoryError, match=r"needs .* GiB"):
        learner.reset(10**12)


@pytest.mark.parametrize(
    "key, bad, message",
    [
        ("pending", torch.zeros(3, dtype=bool), r"state\['pending'\] must have shape \(2,\)"),
        ("sg_prev", torch.zeros(2, 4), r"state\['sg_prev'\] must have shape"),
        ("trace", torch.zeros(2, 3, 3, 3), r"state\['trace'\] must have shape"),
        (None, None, "state must be a dict with batch_size"),
    ],
)
def test_load_state_dict_checks_every_part(key, bad, message):
    learner = _learner()
    learner.step(*_inputs())
    state = learner.state_dict()
    if key is None:
        del state["pending"]
    else:
        state[key] = bad
    with pytest.raises(ValueError, match=message):
        learner.load_state_dict(state)


def test_cell_refuses_mixed_dtypes():
    cell = bpl.GRUCell(2, 3)  # float32
    x64 = torch.randn(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="share one dtype"):
        cell.jacobian(x64, cell.initial_state(4))
    with pytest.raises(ValueError, match="share one dtype"):
        cell(x64.float(), cell.initial_state(4).double())


@pytest.mark.parametrize("name", ["gamma", "lam"])
def test_bools_are_not_numbers(name):
    with pytest.raises(ValueError, match=f"{name} must be a number"):
        bpl.BPLambda(bpl.SyntheticGradient(3), **{name: True})
