"""Input validation shared by the ``bpl`` modules and the agents built on them.

Every check raises ``ValueError`` naming the argument, the value received and what is
allowed, so that bad input never surfaces as a shape error deep inside torch.
"""

from __future__ import annotations

import math

import torch


def check_unit_interval(name: str, value: float) -> float:
    """Return ``value`` as a float if it lies in [0, 1], else raise ``ValueError``
    (bools are refused: ``gamma=True`` is a mistake, not 1.0)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not (0.0 <= v <= 1.0) or math.isnan(v):
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return v


def check_positive_int(name: str, value: int, minimum: int = 1) -> int:
    """Return ``value`` if it is an int ``>= minimum``, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_non_negative(name: str, value: float) -> float:
    """Return ``value`` as a float if it is finite and >= 0, else raise ``ValueError``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def check_tensor(name: str, x: object, shape: tuple[int | None, ...]) -> torch.Tensor:
    """Check that ``x`` is a floating tensor of ``shape`` (``None`` = any size there)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
    if x.dim() != len(shape) or any(s is not None and s != d for s, d in zip(shape, x.shape)):
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def check_same_dtype(names: tuple[str, ...], *tensors: torch.Tensor) -> None:
    """Raise ``ValueError`` unless every tensor has the dtype of the first."""
    dtypes = [t.dtype for t in tensors]
    if any(d != dtypes[0] for d in dtypes):
        listed = ", ".join(f"{n} {d}" for n, d in zip(names, dtypes))
        raise ValueError(f"{', '.join(names)} must share one dtype, got {listed}")


def check_mask(name: str, x: object, size: int) -> torch.Tensor:
    """Return ``x`` as a (size,) bool tensor; it must be bool or hold only 0 and 1
    (a 0.5 or NaN is a mistake, not True)."""
    if isinstance(x, (bool, int, float)) or (
        isinstance(x, (list, tuple)) and all(isinstance(v, (bool, int, float)) for v in x)
    ):
        x = torch.as_tensor(x)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a bool tensor of shape ({size},), got {x!r}")
    if tuple(x.shape) != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {tuple(x.shape)}")
    if x.dtype != torch.bool:
        if x.is_complex() or not bool(((x == 0) | (x == 1)).all()):
            raise ValueError(f"{name} must be bool or hold only 0 and 1, got {x.tolist()!r}")
        x = x != 0
    return x


def check_finite(name: str, x: torch.Tensor) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or inf."""
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf")
