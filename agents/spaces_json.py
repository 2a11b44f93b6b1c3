"""Gymnasium spaces to and from JSON, so that checkpoints need no pickling."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


def space_to_json(space: spaces.Space) -> dict[str, Any]:
    """A JSON-serialisable description of a Box, Discrete, MultiDiscrete or MultiBinary space.

    :param space: the space.
    :raises ValueError: another kind of space.
    """
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "low": space.low.tolist(),
            "high": space.high.tolist(),
            "shape": list(space.shape),
            "dtype": str(space.dtype),
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist()}
    if isinstance(space, spaces.MultiBinary):
        n = space.n
        return {"type": "MultiBinary", "n": n.tolist() if isinstance(n, np.ndarray) else n}
    raise ValueError(f"cannot describe space {space} as JSON")


def space_from_json(data: dict[str, Any]) -> spaces.Space:
    """Rebuild a space from :func:`space_to_json`'s output.

    :param data: the description.
    :raises ValueError: an unknown or malformed description.
    """
    try:
        kind = data["type"]
        if kind == "Box":
            dtype = np.dtype(data["dtype"])
            low = np.asarray(data["low"], dtype=dtype).reshape(data["shape"])
            high = np.asarray(data["high"], dtype=dtype).reshape(data["shape"])
            return spaces.Box(low, high, dtype=dtype)
        if kind == "Discrete":
            return spaces.Discrete(int(data["n"]), start=int(data["start"]))
        if kind == "MultiDiscrete":
            return spaces.MultiDiscrete(np.asarray(data["nvec"], dtype=np.int64))
        if kind == "MultiBinary":
            return spaces.MultiBinary(data["n"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"malformed space description {data!r}: {err}") from err
    raise ValueError(f"unknown space type {data.get('type')!r}")
