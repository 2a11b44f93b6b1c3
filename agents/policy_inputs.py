"""Checks of what a policy is given: finite observations and states, supported spaces."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from bpl.credit import NonFiniteError


class NonFiniteInputError(NonFiniteError, ValueError):
    """An observation, reward or recurrent state holds NaN or inf; it was refused before
    it reached any running statistic or parameter (both a :class:`NonFiniteError` and a
    ``ValueError``)."""


def check_finite(name: str, value: Any) -> None:
    """Raise :class:`NonFiniteInputError` naming ``name`` and the rows holding NaN or inf.

    :param value: a tensor or array, (B, ·) or (B,); non-float values pass.
    """
    if isinstance(value, torch.Tensor):
        if not (value.is_floating_point() or value.is_complex()):
            return
        bad = ~torch.isfinite(value)
        if not bool(bad.any()):
            return
        rows = bad.reshape(bad.shape[0], -1).any(1).nonzero().flatten().tolist() if bad.ndim else []
    else:
        arr = np.asarray(value)
        if arr.dtype.kind not in "fc":
            return
        bad = ~np.isfinite(arr)
        if not bad.any():
            return
        rows = np.flatnonzero(bad.reshape(bad.shape[0], -1).any(1)).tolist() if bad.ndim else []
    raise NonFiniteInputError(
        f"non-finite {name}: NaN or inf in rows {rows[:10]} (of shape {tuple(value.shape)}); "
        f"a {name} must be finite, and it was refused before reaching any statistic"
    )


#: Observation spaces the policy accepts (flattened by SB3's preprocessing).
SUPPORTED_OBSERVATION_SPACES = (
    spaces.Box,
    spaces.Discrete,
    spaces.MultiDiscrete,
    spaces.MultiBinary,
)
#: Action spaces the policy accepts.
SUPPORTED_ACTION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


def check_spaces(observation_space: spaces.Space, action_space: spaces.Space) -> None:
    """Raise ValueError for spaces the policy does not support (or unbounded Box actions)."""
    if not isinstance(observation_space, SUPPORTED_OBSERVATION_SPACES):
        raise ValueError(
            f"observation space {observation_space} is not supported; allowed: "
            + ", ".join(s.__name__ for s in SUPPORTED_OBSERVATION_SPACES)
        )
    if not isinstance(action_space, SUPPORTED_ACTION_SPACES):
        raise ValueError(
            f"action space {action_space} is not supported; allowed: "
            + ", ".join(s.__name__ for s in SUPPORTED_ACTION_SPACES)
        )
    if isinstance(action_space, spaces.Box) and not np.all(
        np.isfinite(action_space.low) & np.isfinite(action_space.high)
    ):
        raise ValueError(f"Box action space must have finite bounds, got {action_space}")
