"""The gradient critic ĝ(z; θ): a synthetic-gradient predictor over the recurrent state.

Layout: batch-first. ``z`` is (B, H) and ĝ(z) is (B, H), where H = |z| (for an LSTM,
z = [h; c] and H is twice the hidden size).

See docs/bp_lambda.md §2–3: ĝ(z_t; θ) predicts G_t, the discounted gradient
that all future losses send back into z_t.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .checks import check_positive_int

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "linear": nn.Identity,
}


class SyntheticGradient(nn.Module):
    """Gradient critic ĝ(z; θ) = W_out φ(… φ(W_1 z + b_1) …) + b_out.

    Linear by default (ĝ(z) = A z + b). ``hidden_sizes=(r,), activation="linear"`` is the
    rank-r critic ĝ(z) = U (Vᵀ z + c) + b: its exact BP(λ) trace over U, V, c, b holds
    B·H·(2Hr + r + H) floats and costs ≈ 4·B·H³·r flops a step, against B·H²(H+1) and
    ≈ 2·B·H⁴ for A (cheaper for r < H/2). The output layer starts at zero, as in
    Jaderberg et al. (2017), so a fresh critic predicts a zero gradient and injecting it
    changes nothing until it has learned.

    :param state_size: H, the size of the state z (and of the predicted gradient).
    :param hidden_sizes: sizes of hidden layers; ``()`` gives the linear critic.
    :param activation: hidden-layer nonlinearity, one of ``"relu"``, ``"tanh"``, ``"elu"``,
        ``"linear"`` (none: the low-rank critic).
    :param train_output_only: if True, only the output layer (W_out, b_out) learns; hidden
        layers keep their random initialisation (requires_grad=False). BP(λ) then needs a
        trace only over the output layer, which is far cheaper (bp_lambda.md §6).
    :param dtype: parameter dtype (float32 or float64).
    :param device: parameter device.
    """

    def __init__(
        self,
        state_size: int,
        hidden_sizes: Sequence[int] = (),
        activation: str = "relu",
        train_output_only: bool = False,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("state_size", state_size)
        hidden_sizes = tuple(hidden_sizes)
        for i, size in enumerate(hidden_sizes):
            check_positive_int(f"hidden_sizes[{i}]", size)
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        if dtype is not None and dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.state_size = state_size
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.train_output_only = bool(train_output_only)

        layers: list[nn.Module] = []
        width = state_size
        for size in hidden_sizes:
            layers += [
                nn.Linear(width, size, dtype=dtype, device=device),
                _ACTIVATIONS[activation](),
            ]
            width = size
        self.features = nn.Sequential(*layers)  # (B, H) -> (B, F)
        self.output = nn.Linear(width, state_size, dtype=dtype, device=device)  # (B, F) -> (B, H)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)
        if self.train_output_only:
            self.features.requires_grad_(False)

    @property
    def feature_size(self) -> int:
        """F, the width of the layer feeding the output layer (H for the linear critic)."""
        return self.output.in_features

    @property
    def output_layer_only(self) -> bool:
        """True when the only learnable parameters are the output layer's W_out and b_out.

        Then ĝ is linear in θ given the features, and BP(λ) uses its structured trace.
        """
        return not self.hidden_sizes or self.train_output_only

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The parameters θ that BP(λ) learns (those with ``requires_grad``), in order."""
        return [p for p in self.parameters() if p.requires_grad]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """ĝ(z): (B, H) -> (B, H)."""
        return self.output(self.features(z))

    def extra_repr(self) -> str:
        return (
            f"state_size={self.state_size}, hidden_sizes={self.hidden_sizes}, "
            f"train_output_only={self.train_output_only}"
        )
