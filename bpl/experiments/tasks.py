"""The paper's sequence tasks, generated in memory and batched (nothing is downloaded).

Layout: time-first. Every task's :meth:`sample` returns a :class:`Batch` with
``inputs`` (T, B, I), ``targets`` (T, B, O) and ``mask`` (T, B) — the mask is 1 at the
steps that carry a loss, 0 elsewhere. Every row of a batch has the same length T.

* :class:`DelayedTarget` — the toy "line drawing" task of Pemberton & Costa (2024): a
  binary cue at step 0, zeros after, a 2-d point on the unit circle to output at the
  last step.
* :class:`CopyRepeat` — Graves et al. (2014) copy-repeat, as used by Jaderberg et al.
  (2017), with :class:`CopyRepeatCurriculum`.
* :class:`SequentialDigits` — scikit-learn's 8×8 digits pixel by pixel or row by row,
  or a local MNIST ``.npz`` file row by row (28 steps of 28 pixels).
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path
from typing import NamedTuple

import torch

from ..checks import check_non_negative, check_positive_int

#: loss name expected by :class:`bpl.experiments.SequenceLearner` for each task
TASK_LOSSES = ("mse", "bce", "ce")


class Batch(NamedTuple):
    """One batch of sequences, time-first.

    :param inputs: x, (T, B, I).
    :param targets: y, (T, B, O) (one-hot for classification).
    :param mask: (T, B), 1.0 where step t of row b carries a loss.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor


def _generator(seed: int | torch.Generator | None) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    g = torch.Generator()
    g.manual_seed(0 if seed is None else int(seed))
    return g


class DelayedTarget:
    """Delayed 2-d target ("line drawing"): remember a cue for ``delay`` steps.

    The sequence has T = ``delay`` steps. Step 0 shows one of ``num_patterns`` fixed
    binary cues (size ``cue_size``); the other steps show zeros. The loss
    ½‖y − ŷ‖² is applied only at the last step, whose target is the cue's point on
    the unit circle. With one pattern (the paper's setting) the cue and target are
    fixed; with several, the network must remember which cue it saw.

    :param delay: T, number of steps from the cue to the target (>= 1).
    :param cue_size: size of the binary cue.
    :param num_patterns: number of (cue, target) pairs; each row draws one uniformly.
    :param seed: seed of the cues and targets (the task itself, not the batches).
    :param dtype: dtype of the tensors returned.
    """

    loss = "mse"
    output_size = 2

    def __init__(
        self,
        delay: int = 10,
        cue_size: int = 10,
        num_patterns: int = 1,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.delay = check_positive_int("delay", delay)
        self.cue_size = check_positive_int("cue_size", cue_size)
        self.num_patterns = check_positive_int("num_patterns", num_patterns)
        self.dtype = dtype
        g = _generator(seed)
        cues = torch.randint(0, 2, (num_patterns, cue_size), generator=g).to(dtype)
        empty = cues.sum(1) == 0
        cues[empty, 0] = 1.0  # never an all-zero cue: it would be invisible
        self.cues = cues  # (P, I)
        angles = 2 * math.pi * torch.rand(num_patterns, generator=g, dtype=torch.float64)
        if num_patterns > 1:  # spread the points evenly, in a random order
            angles = angles[:1] + 2 * math.pi * torch.randperm(num_patterns, generator=g) / (
                num_patterns
            )
        self.points = torch.stack([angles.cos(), angles.sin()], 1).to(dtype)  # (P, 2)

    @property
    def input_size(self) -> int:
        """I, the size of x_t."""
        return self.cue_size

    def sample(self, batch_size: int, generator: torch.Generator | int | None = None) -> Batch:
        """A batch of ``batch_size`` sequences: (T, B, I), (T, B, 2), (T, B)."""
        check_positive_int("batch_size", batch_size)
        g = _generator(generator)
        T, B = self.delay, batch_size
        which = torch.randint(0, self.num_patterns, (B,), generator=g)  # (B,)
        inputs = torch.zeros(T, B, self.cue_size, dtype=self.dtype)
        inputs[0] = self.cues[which]
        targets = torch.zeros(T, B, 2, dtype=self.dtype)
        targets[-1] = self.points[which]
        mask = torch.zeros(T, B, dtype=self.dtype)
        mask[-1] = 1.0
        return Batch(inputs, targets, mask)


class CopyRepeat:
    """Copy-repeat (Graves et al. 2014; Jaderberg et al. 2017): see a pattern, repeat it.

    Input channels: ``bits`` data bits, a delimiter flag, a repeat channel. Output
    channels: ``bits`` data bits and an end marker. With pattern length N and repeat
    count R the sequence has T = N + 1 + R·N + 1 steps:

    * steps 0 … N−1 show N random ``bits``-bit vectors;
    * step N raises the delimiter flag and shows R/10 on the repeat channel;
    * steps N+1 … N+R·N must output the pattern R times, then the last step must raise
      the end marker (all other outputs 0).

    The loss is binary cross-entropy on every output channel of the output phase.

    :param length: N, pattern length.
    :param repeats: R, number of repeats.
    :param bits: width of a pattern vector (8 in the papers).
    :param dtype: dtype of the tensors returned.
    """

    loss = "bce"

    def __init__(
        self, length: int = 1, repeats: int = 1, bits: int = 8, dtype: torch.dtype = torch.float32
    ) -> None:
        self.length = check_positive_int("length", length)
        self.repeats = check_positive_int("repeats", repeats)
        self.bits = check_positive_int("bits", bits)
        self.dtype = dtype

    @property
    def input_size(self) -> int:
        """I = bits + 2 (delimiter flag, repeat count)."""
        return self.bits + 2

    @property
    def output_size(self) -> int:
        """O = bits + 1 (end marker)."""
        return self.bits + 1

    @property
    def seq_len(self) -> int:
        """T = N + 1 + R·N + 1."""
        return self.length * (self.repeats + 1) + 2

    def sample(self, batch_size: int, generator: torch.Generator | int | None = None) -> Batch:
        """A batch of ``batch_size`` sequences: (T, B, bits+2), (T, B, bits+1), (T, B)."""
        check_positive_int("batch_size", batch_size)
        g = _generator(generator)
        N, R, K, B = self.length, self.repeats, self.bits, batch_size
        T = self.seq_len
        pattern = torch.randint(0, 2, (N, B, K), generator=g).to(self.dtype)  # (N, B, K)
        inputs = torch.zeros(T, B, K + 2, dtype=self.dtype)
        inputs[:N, :, :K] = pattern
        inputs[N, :, K] = 1.0  # delimiter
        inputs[N, :, K + 1] = R / 10.0  # repeat count
        targets = torch.zeros(T, B, K + 1, dtype=self.dtype)
        targets[N + 1 : N + 1 + R * N, :, :K] = pattern.repeat(R, 1, 1)  # (N, B, K) -> (R*N, B, K)
        targets[-1, :, K] = 1.0  # end marker
        mask = torch.zeros(T, B, dtype=self.dtype)
        mask[N + 1 :] = 1.0
        return Batch(inputs, targets, mask)


class CopyRepeatCurriculum:
    """Curriculum of Jaderberg et al.: start at N = R = 1; whenever the average loss
    falls below ``threshold`` bits per output bit, raise R if R < N, else raise N.

    :param threshold: loss (bits per output bit) below which the level goes up.
    :param window: number of most recent batches averaged (reset at each level).
    :param max_length: N never goes above this (None: no limit).
    """

    def __init__(self, threshold: float = 0.15, window: int = 10, max_length: int | None = None):
        self.threshold = check_non_negative("threshold", threshold)
        self.window = check_positive_int("window", window)
        if max_length is not None:
            check_positive_int("max_length", max_length)
        self.max_length = max_length
        self.length = 1
        self.repeats = 1
        self._recent: deque[float] = deque(maxlen=window)

    @property
    def level(self) -> int:
        """How many times the curriculum has gone up (0 at N = R = 1)."""
        # levels go (1,1) -> (2,1) -> (2,2) -> (3,2) -> (3,3) -> ...
        return 2 * (self.length - 1) - (self.length > self.repeats)

    def task(self, **kwargs) -> CopyRepeat:
        """The :class:`CopyRepeat` task at the current level."""
        return CopyRepeat(self.length, self.repeats, **kwargs)

    def update(self, loss_bits: float) -> bool:
        """Record one batch's loss (bits per output bit); return True if the level rose."""
        self._recent.append(float(loss_bits))
        if len(self._recent) < self.window:
            return False
        if sum(self._recent) / len(self._recent) >= self.threshold:
            return False
        if self.repeats < self.length:
            self.repeats += 1
        elif self.max_length is None or self.length < self.max_length:
            self.length += 1
        else:
            return False
        self._recent.clear()
        return True


class SequentialDigits:
    """Digit classification from a sequence of pixels; the class is due at the last step.

    ``source="sklearn"``: scikit-learn's bundled 8×8 digits (1797 images, values /16),
    shown pixel by pixel (``rows=False``: T = 64, I = 1) or row by row (T = 8, I = 8).
    ``source`` a path: a local MNIST ``.npz`` with ``x_train, y_train, x_test, y_test``
    (the Keras layout), shown row by row (T = 28, I = 28); it is never downloaded.
    Loss: cross-entropy at the last step; targets are one-hot (T, B, 10).

    :param source: ``"sklearn"`` or the path of a local MNIST ``.npz`` file.
    :param rows: row by row (True) or pixel by pixel (False, sklearn digits only).
    :param test_fraction: share of the sklearn digits held out for testing.
    :param seed: seed of the train/test split.
    :param dtype: dtype of the tensors returned.
    """

    loss = "ce"
    output_size = 10

    def __init__(
        self,
        source: str | Path = "sklearn",
        rows: bool = True,
        test_fraction: float = 0.2,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.rows = bool(rows)
        self.dtype = dtype
        if not 0.0 < float(test_fraction) < 1.0:
            raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
        if str(source) == "sklearn":
            try:
                from sklearn.datasets import load_digits
            except ImportError as err:  # pragma: no cover - depends on the environment
                raise ImportError(
                    "SequentialDigits needs scikit-learn: pip install 'bplambda[digits]'"
                ) from err
            data = load_digits()
            images = torch.as_tensor(data.images, dtype=torch.float64) / 16.0  # (N, 8, 8)
            labels = torch.as_tensor(data.target, dtype=torch.long)
            perm = torch.randperm(len(labels), generator=_generator(seed))
            n_test = int(round(len(labels) * float(test_fraction)))
            test, train = perm[:n_test], perm[n_test:]
            self._train = (images[train], labels[train])
            self._test = (images[test], labels[test])
        else:
            path = Path(source)
            if not path.is_file():
                raise ValueError(
                    f"source must be 'sklearn' or an existing MNIST .npz file, got {source!r}"
                )
            if not self.rows:
                raise ValueError("MNIST is shown row by row only (rows=True), got rows=False")
            import numpy as np

            with np.load(path) as f:
                self._train = (
                    torch.as_tensor(f["x_train"], dtype=torch.float64) / 255.0,
                    torch.as_tensor(f["y_train"], dtype=torch.long),
                )
                self._test = (
                    torch.as_tensor(f["x_test"], dtype=torch.float64) / 255.0,
                    torch.as_tensor(f["y_test"], dtype=torch.long),
                )
        self.side = self._train[0].shape[-1]

    @property
    def input_size(self) -> int:
        """I: a row (side pixels) or one pixel."""
        return self.side if self.rows else 1

    @property
    def seq_len(self) -> int:
        """T: side rows, or side² pixels."""
        return self.side if self.rows else self.side * self.side

    @property
    def num_train(self) -> int:
        """Number of training images."""
        return len(self._train[1])

    def _batch(self, images: torch.Tensor, labels: torch.Tensor) -> Batch:
        B = len(labels)
        x = images.reshape(B, self.seq_len, self.input_size)  # (B, S, S) -> (B, T, I)
        inputs = x.transpose(0, 1).to(self.dtype).contiguous()  # (B, T, I) -> (T, B, I)
        targets = torch.zeros(self.seq_len, B, 10, dtype=self.dtype)
        targets[-1] = torch.nn.functional.one_hot(labels, 10).to(self.dtype)
        mask = torch.zeros(self.seq_len, B, dtype=self.dtype)
        mask[-1] = 1.0
        return Batch(inputs, targets, mask)

    def sample(self, batch_size: int, generator: torch.Generator | int | None = None) -> Batch:
        """A batch of training images drawn uniformly: (T, B, I), (T, B, 10), (T, B)."""
        check_positive_int("batch_size", batch_size)
        g = _generator(generator)
        idx = torch.randint(0, self.num_train, (batch_size,), generator=g)
        return self._batch(self._train[0][idx], self._train[1][idx])

    def test_set(self, limit: int | None = None) -> Batch:
        """The held-out images as one batch (the first ``limit`` if given)."""
        images, labels = self._test
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        return self._batch(images, labels)
