"""Truncation windows of a time-first sequence: (T, B, ·) <-> (k, K·B, ·).

A sequence of T steps of B rows is cut into K = T / k windows of k steps; in the
windowed layout row r = c·B + b holds window c of row b, so that every window can be
re-run, regressed or measured as a batch of its own.
"""

from __future__ import annotations

import torch


def to_windows(x: torch.Tensor, k: int) -> torch.Tensor:
    """(T, B, ...) -> (k, K·B, ...), row r = c·B + b holding window c of row b."""
    T, B = x.shape[:2]
    if k < 1 or T % k:
        raise ValueError(f"k must be a divisor of T = {T}, got {k!r}")
    K = T // k
    rest = x.shape[2:]
    return x.reshape(K, k, B, *rest).transpose(0, 1).reshape(k, K * B, *rest)


def from_windows(x: torch.Tensor, B: int) -> torch.Tensor:
    """Inverse of :func:`to_windows`: (k, K·B, ...) -> (K·k, B, ...)."""
    k, R = x.shape[:2]
    if B < 1 or R % B:
        raise ValueError(f"B must divide the {R} rows, got {B!r}")
    K = R // B
    rest = x.shape[2:]
    return x.reshape(k, K, B, *rest).transpose(0, 1).reshape(K * k, B, *rest)


__all__ = ["from_windows", "to_windows"]
