"""bpl.experiments.harness: named methods, the paper's RNN, the training loop."""

from __future__ import annotations

import pytest
import torch

import bpl
from bpl.experiments import (
    DelayedTarget,
    SequenceLearner,
    make_rnn,
    method_kwargs,
    parse_method,
    train,
)


@pytest.mark.parametrize(
    "method, name, kwargs",
    [
        ("tbptt", ("tbptt", False), {"credit": "tbptt"}),
        ("dni+std", ("dni", True), {"credit": "dni", "sg_normalize_input": True}),
        ("bp_lambda(0.5)", ("bp_lambda(0.5)", False), {"credit": "bp_lambda", "sg_lambda": 0.5}),
        (
            "bp_lambda(1)+std",
            ("bp_lambda(1)", True),
            {"credit": "bp_lambda", "sg_lambda": 1.0, "sg_normalize_input": True},
        ),
    ],
)
def test_methods_name_learner_arguments(method, name, kwargs):
    assert parse_method(method) == name
    assert method_kwargs(method) == kwargs
    cell = bpl.make_cell("rnn", 2, 3)
    assert SequenceLearner(cell, 1, **kwargs).credit == kwargs["credit"]


@pytest.mark.parametrize(
    "method, words",
    [
        ("rtrl", "method must be one of"),
        ("bp_lambda(2)", "method must be one of"),
        ("bp_lambda(x)", "method must be one of"),
        ("bptt+std", "+std needs a synthetic-gradient method"),
    ],
)
def test_bad_methods_raise(method, words):
    with pytest.raises(ValueError, match=words.replace("+", r"\+")):
        parse_method(method)


def test_make_rnn_is_scaled_orthogonal():
    cell = make_rnn(3, 6, seed=0, radius=0.9)
    w = cell.weight_hh.detach()
    torch.testing.assert_close(w @ w.T, 0.81 * torch.eye(6), atol=1e-5, rtol=0)
    assert not cell.bias_hh.any() and not cell.bias_ih.any()


def test_train_reports_divergence():
    task = DelayedTarget(4, seed=0)
    learner = SequenceLearner(make_rnn(task.input_size, 5, 0), 2, credit="bp_lambda", k=2)
    assert train(learner, lambda: task.sample(2, 0), 2)
    with torch.no_grad():
        learner.cell.weight_hh.fill_(float("nan"))
    assert not train(learner, lambda: task.sample(2, 0), 2)
