"""Pendulum-v1 without the angular velocity: the agent sees the angle only."""

from __future__ import annotations

from typing import Any, SupportsFloat

import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.pendulum import PendulumEnv

from ._checks import check_float, check_render_mode


class PendulumNoVelEnv(PendulumEnv):
    """Pendulum swing-up where the agent observes the angle but not the angular velocity.

    ## Description

    Gymnasium's ``Pendulum-v1`` with the angular velocity removed from the observation.
    The task is to swing a frictionless pendulum up and hold it upright with a bounded
    torque; without the velocity a policy must infer it from successive angles.
    Dynamics, rewards and episode ends are those of ``Pendulum-v1``.

    ## Action Space

    ``Box(-2, 2, (1,), float32)``: the torque applied at the free end.

    ## Observation Space

    ``Box(-1, 1, (2,), float32)``: ``[cos θ, sin θ]`` with θ the angle from upright
    (components 0 and 1 of ``Pendulum-v1``'s observation).

    ## Rewards

    As ``Pendulum-v1``: ``-(θ² + 0.1 θ̇² + 0.001 u²)`` with θ normalised to [-π, π],
    between about -16.27 and 0 per step.

    ## Starting State

    θ uniform in [-π, π], θ̇ uniform in [-1, 1]; ``reset`` accepts Pendulum's
    ``options={"x_init": ..., "y_init": ...}``. The full state ``[θ, θ̇]`` (float64) is
    the attribute ``state`` for diagnostics.

    ## Episode End

    - Terminated: never.
    - Truncated: 200 steps, by the ``TimeLimit`` wrapper that ``gymnasium.make`` adds.

    No ``is_success`` is reported.

    ## Arguments

    | Parameter     | Type        | Default | Description                     |
    |---------------|-------------|---------|---------------------------------|
    | `g`           | float       | 10.0    | gravitational acceleration      |
    | `render_mode` | str or None | None    | "human" or "rgb_array" (pygame) |

    ## Version History

    * v1: Initial version; numbered after ``Pendulum-v1`` whose dynamics and 200-step
      limit it keeps.
    """

    def __init__(self, render_mode: str | None = None, g: float = 10.0) -> None:
        g = check_float("g", g, 0.0)
        check_render_mode(render_mode, self.metadata["render_modes"])
        super().__init__(render_mode=render_mode, g=g)
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.state = None

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step as Pendulum-v1 (the torque clipped to [-2, 2]); the action must be one
        finite number, shape (1,) (a scalar is taken as one)."""
        if self.state is None:
            raise RuntimeError("step() called before reset()")
        u = np.asarray(action)
        if u.dtype.kind not in "fiu" or u.size != 1 or u.ndim > 1 or not np.isfinite(u).all():
            raise ValueError(
                f"action must be one finite torque, shape (1,) in {self.action_space}, "
                f"got {action!r}"
            )
        return super().step(u.reshape(1))

    def _get_obs(self) -> np.ndarray:
        theta = self.state[0]
        return np.array([np.cos(theta), np.sin(theta)], dtype=np.float32)
