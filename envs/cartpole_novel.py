"""CartPole-v1 without velocities: the agent sees positions only."""

from __future__ import annotations

from typing import Any, SupportsFloat

import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from ._checks import check_render_mode

OBSERVED = (0, 2)
"""Indices of the full CartPole state kept in the observation: cart position, pole angle."""


class CartPoleNoVelEnv(CartPoleEnv):
    """Cart-pole balancing where the agent observes positions but not velocities.

    ## Description

    Gymnasium's ``CartPole-v1`` (Barto, Sutton & Anderson, 1983) with the cart velocity
    and the pole angular velocity removed from the observation, a standard partially
    observable check of recurrent agents (sb3-contrib tests its recurrent PPO on the same
    task). Dynamics, rewards and episode ends are those of ``CartPole-v1``; a policy must
    estimate the velocities from successive observations.

    ## Action Space

    ``Discrete(2)``: 0 pushes the cart left, 1 pushes it right.

    ## Observation Space

    ``Box(-high, high, (2,), float32)``, the components 0 and 2 of CartPole's state:

    | Num | Observation   | Min                 | Max               |
    |-----|---------------|---------------------|-------------------|
    | 0   | Cart Position | -4.8                | 4.8               |
    | 1   | Pole Angle    | ~ -0.418 rad (-24°) | ~ 0.418 rad (24°) |

    ## Rewards

    As ``CartPole-v1``: +1 per step including the terminating one (500 at most under the
    time limit), or with ``sutton_barto_reward=True`` 0 per step and -1 on termination.

    ## Starting State

    All four state variables uniform in (-0.05, 0.05); ``reset`` accepts CartPole's
    ``options={"low": ..., "high": ...}``. The full state, velocities included, is the
    attribute ``state`` (float64, ``[x, x_dot, theta, theta_dot]``) for diagnostics.

    ## Episode End

    - Terminated: pole angle beyond ±12° or cart position beyond ±2.4.
    - Truncated: 500 steps, by the ``TimeLimit`` wrapper that ``gymnasium.make`` adds.

    No ``is_success`` is reported; the reward threshold of the registered id is 475.

    ## Arguments

    | Parameter             | Type        | Default | Description                        |
    |-----------------------|-------------|---------|------------------------------------|
    | `sutton_barto_reward` | bool        | False   | CartPole's alternative reward      |
    | `render_mode`         | str or None | None    | "human" or "rgb_array" (pygame)    |

    ## Version History

    * v1: Initial version; numbered after ``CartPole-v1`` whose dynamics and 500-step
      limit it keeps.
    """

    def __init__(self, sutton_barto_reward: bool = False, render_mode: str | None = None) -> None:
        if not isinstance(sutton_barto_reward, (bool, np.bool_)):
            raise ValueError(f"sutton_barto_reward must be a bool, got {sutton_barto_reward!r}")
        check_render_mode(render_mode, self.metadata["render_modes"])
        super().__init__(sutton_barto_reward=bool(sutton_barto_reward), render_mode=render_mode)
        full: spaces.Box = self.observation_space  # type: ignore[assignment]
        self.observation_space = spaces.Box(
            full.low[list(OBSERVED)], full.high[list(OBSERVED)], dtype=np.float32
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset as CartPole-v1 and drop the velocities from the observation."""
        obs, info = super().reset(seed=seed, options=options)
        return obs[list(OBSERVED)], info

    def step(self, action: int) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step as CartPole-v1 and drop the velocities from the observation."""
        if self.state is None:
            raise RuntimeError("step() called before reset()")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be in {self.action_space}, got {action!r}")
        obs, reward, terminated, truncated, info = super().step(action)
        return obs[list(OBSERVED)], reward, terminated, truncated, info
