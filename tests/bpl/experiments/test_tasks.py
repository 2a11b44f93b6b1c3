"""Task generators: shapes, masks, determinism under a seed, the copy-repeat curriculum."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bpl.experiments import CopyRepeat, CopyRepeatCurriculum, DelayedTarget, SequentialDigits


@pytest.mark.parametrize("delay", [1, 10, 200])
@pytest.mark.parametrize("patterns", [1, 4])
def test_delayed_target_shapes_and_content(delay, patterns):
    task = DelayedTarget(delay, cue_size=10, num_patterns=patterns, seed=3)
    x, y, m = task.sample(5, generator=0)
    assert x.shape == (delay, 5, 10) and y.shape == (delay, 5, 2) and m.shape == (delay, 5)
    assert torch.all(x[1:] == 0) and torch.all(x[0].sum(1) > 0)
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(y[-1].norm(dim=1), torch.ones(5))
    assert torch.all(y[:-1] == 0)
    assert m[-1].sum() == 5 and m[:-1].sum() == 0
    # each row's target is the point of its cue
    for b in range(5):
        (i,) = [p for p in range(patterns) if torch.equal(task.cues[p], x[0, b])]
        assert torch.equal(y[-1, b], task.points[i])


def test_delayed_target_determinism():
    a, b = DelayedTarget(12, num_patterns=3, seed=1), DelayedTarget(12, num_patterns=3, seed=1)
    assert torch.equal(a.cues, b.cues) and torch.equal(a.points, b.points)
    for u, v in zip(a.sample(8, 5), b.sample(8, 5), strict=True):
        assert torch.equal(u, v)
    c = DelayedTarget(12, num_patterns=3, seed=2)
    assert not torch.equal(a.points, c.points)
    assert not torch.equal(a.sample(8, 5).inputs, a.sample(8, 6).inputs)


def test_one_pattern_rows_are_identical():
    x, y, _ = DelayedTarget(5, seed=0).sample(4, 0)
    assert torch.all(x[0] == x[0, :1]) and torch.all(y[-1] == y[-1, :1])


@pytest.mark.parametrize("N, R", [(1, 1), (3, 2), (5, 4)])
def test_copy_repeat_layout(N, R):
    task = CopyRepeat(N, R, bits=8)
    x, y, m = task.sample(6, generator=1)
    T = N + 1 + R * N + 1
    assert task.seq_len == T
    assert x.shape == (T, 6, 10) and y.shape == (T, 6, 9) and m.shape == (T, 6)
    pattern = x[:N, :, :8]
    assert torch.all(x[:N, :, 8:] == 0) and torch.all(x[N + 1 :] == 0)
    assert torch.all(x[N, :, 8] == 1) and torch.allclose(x[N, :, 9], torch.full((6,), R / 10))
    for r in range(R):
        assert torch.equal(y[N + 1 + r * N : N + 1 + (r + 1) * N, :, :8], pattern)
    assert torch.all(y[-1, :, 8] == 1) and torch.all(y[-1, :, :8] == 0)
    assert torch.all(y[:-1, :, 8] == 0) and torch.all(y[: N + 1] == 0)
    assert torch.all(m[: N + 1] == 0) and torch.all(m[N + 1 :] == 1)


def test_copy_repeat_determinism():
    t = CopyRepeat(4, 3)
    assert torch.equal(t.sample(7, 9).inputs, t.sample(7, 9).inputs)
    assert not torch.equal(t.sample(7, 9).inputs, t.sample(7, 10).inputs)


def test_curriculum_rule():
    cur = CopyRepeatCurriculum(threshold=0.15, window=3)
    assert (cur.length, cur.repeats, cur.level) == (1, 1, 0)
    assert not cur.update(0.1) and not cur.update(0.1)  # window not full yet
    assert cur.update(0.1)  # R == N -> raise N
    assert (cur.length, cur.repeats, cur.level) == (2, 1, 1)
    for loss in (0.5, 0.1, 0.1):
        assert not cur.update(loss)  # average 0.233 >= 0.15
    assert cur.update(0.1)  # last three: 0.1 0.1 0.1; R < N -> raise R
    assert (cur.length, cur.repeats, cur.level) == (2, 2, 2)
    for _ in range(2):
        cur.update(0.0)
    assert cur.update(0.0) and (cur.length, cur.repeats, cur.level) == (3, 2, 3)
    assert cur.task().seq_len == 3 * 3 + 2


def test_curriculum_stops_at_max_length():
    cur = CopyRepeatCurriculum(window=1, max_length=1)
    assert not cur.update(0.0)
    assert (cur.length, cur.repeats) == (1, 1)


def test_sklearn_digits():
    pytest.importorskip("sklearn")
    rows = SequentialDigits("sklearn", rows=True, seed=0)
    x, y, m = rows.sample(5, 0)
    assert x.shape == (8, 5, 8) and y.shape == (8, 5, 10) and m.shape == (8, 5)
    assert torch.all(y[-1].sum(1) == 1) and m[-1].sum() == 5 and m[:-1].sum() == 0
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    pix = SequentialDigits("sklearn", rows=False, seed=0)
    xp, _, _ = pix.sample(5, 0)
    assert xp.shape == (64, 5, 1)
    # same images, row by row or pixel by pixel
    assert torch.equal(x.permute(1, 0, 2).reshape(5, 64), xp[:, :, 0].t())
    test = rows.test_set()
    assert test.inputs.shape[1] == 359 and rows.num_train == 1797 - 359
    assert torch.equal(rows.sample(5, 3).inputs, SequentialDigits(seed=0).sample(5, 3).inputs)


def test_local_mnist_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, 20),
        x_test=rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, 6),
    )
    task = SequentialDigits(path)
    x, y, m = task.sample(4, 0)
    assert x.shape == (28, 4, 28) and y.shape == (28, 4, 10)
    assert task.test_set().inputs.shape == (28, 6, 28)
    with pytest.raises(ValueError, match="row by row"):
        SequentialDigits(path, rows=False)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: DelayedTarget(0), "delay must be an integer >= 1"),
        (lambda: DelayedTarget(5, num_patterns=0), "num_patterns"),
        (lambda: CopyRepeat(0, 1), "length"),
        (lambda: CopyRepeat(1, -1), "repeats"),
        (lambda: CopyRepeatCurriculum(threshold=-1), "threshold"),
        (lambda: SequentialDigits("/no/such/file.npz"), "existing MNIST"),
        (lambda: SequentialDigits(test_fraction=1.0), "test_fraction"),
        (lambda: DelayedTarget(5).sample(0), "batch_size"),
    ],
)
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()
