"""Argument checks shared by the environments' constructors.

Each check returns the value converted to a plain Python type, or raises a ValueError
whose message names the argument, the value received and the allowed range (the style
of Gymnasium's ``DelayObservation``).
"""

from __future__ import annotations

import math
import numbers


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int after checking ``low <= value <= high``.

    :param name: argument name used in the error message.
    :param value: the value to check; bools are rejected, numpy integers accepted.
    :param low: smallest allowed value.
    :param high: largest allowed value, or None for no upper bound.
    :raises ValueError: if ``value`` is not an integer in the allowed range.
    """
    allowed = f"[{low}, {high}]" if high is not None else f"[{low}, inf)"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer in {allowed}, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer in {allowed}, got {value}")
    return value


def check_float(name: str, value: object, low: float = -math.inf, high: float = math.inf) -> float:
    """Return ``value`` as a float after checking it is finite and ``low <= value <= high``.

    :param name: argument name used in the error message.
    :param value: the value to check; bools are rejected.
    :param low: smallest allowed value.
    :param high: largest allowed value.
    :raises ValueError: if ``value`` is not a finite real number in the allowed range.
    """
    allowed = f"a finite number in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < low or value > high:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value


def check_render_mode(render_mode: object, allowed: list[str]) -> None:
    """Raise a ValueError unless ``render_mode`` is None or one of ``allowed``."""
    if render_mode is not None and render_mode not in allowed:
        raise ValueError(f"render_mode must be None or one of {allowed}, got {render_mode!r}")
