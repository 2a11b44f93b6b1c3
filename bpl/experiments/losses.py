"""Per-row losses of the sequence learner, by name: (outputs (B, O), targets (B, O)) -> (B,)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def mse_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """½‖y − ŷ‖² per row: (B, O), (B, O) -> (B,)."""
    return 0.5 * (outputs - targets).pow(2).sum(-1)


def bce_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy (nats) summed over output bits, per row; ``outputs`` are
    logits: (B, O), (B, O) -> (B,)."""
    return nn.functional.binary_cross_entropy_with_logits(outputs, targets, reduction="none").sum(
        -1
    )


def ce_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy (nats) per row; ``outputs`` are logits, ``targets`` one-hot (or
    class probabilities): (B, O), (B, O) -> (B,)."""
    return -(targets * torch.log_softmax(outputs, dim=-1)).sum(-1)


#: per-row losses by name
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": mse_loss,
    "bce": bce_loss,
    "ce": ce_loss,
}


def loss_by_name(loss) -> tuple[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """(name, per-row loss) for a loss name of :data:`LOSSES` or a callable."""
    if isinstance(loss, str) and loss in LOSSES:
        return loss, LOSSES[loss]
    if callable(loss) and not isinstance(loss, str):
        return getattr(loss, "__name__", "custom"), loss
    raise ValueError(f"loss must be one of {tuple(LOSSES)} or a callable, got {loss!r}")


__all__ = ["LOSSES", "bce_loss", "ce_loss", "loss_by_name", "mse_loss"]
