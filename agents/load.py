"""Load any checkpoint of this package's agents, whichever class wrote it."""

from __future__ import annotations

import io
import os
from typing import Any

from .recurrent_a2c import RecurrentA2C, read_checkpoint
from .recurrent_ppo import RecurrentPPO

#: Agent classes by the name their checkpoints carry.
AGENTS: dict[str, type[RecurrentA2C]] = {"RecurrentA2C": RecurrentA2C, "RecurrentPPO": RecurrentPPO}


def load_agent(
    path: str | os.PathLike | io.BufferedIOBase,
    env: Any = None,
    device: Any = "auto",
    **kwargs: Any,
) -> RecurrentA2C:
    """Load a checkpoint with the class that saved it (RecurrentA2C or RecurrentPPO).

    :param path: checkpoint path (``.zip`` may be left out) or a seekable buffer.
    :param env: environment to continue training on (its spaces must match).
    :param device: torch device.
    :param kwargs: hyperparameters to override, as the class's ``load``.
    :raises ValueError: corrupt file, not a checkpoint, or an unknown agent class.
    """
    meta, _ = read_checkpoint(path)
    if isinstance(path, io.IOBase):
        path.seek(0)
    name = meta.get("algorithm", "RecurrentA2C")
    if name not in AGENTS:
        raise ValueError(
            f"checkpoint {path} names an unknown agent {name!r}; known: {sorted(AGENTS)}"
        )
    return AGENTS[name].load(path, env=env, device=device, **kwargs)


__all__ = ["AGENTS", "load_agent"]
