"""Passive T-maze: remember a cue seen once, act on it at the end of a long corridor."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ._checks import check_float, check_int
from ._render import char_grid_to_rgb

MAX_CORRIDOR_LENGTH = 10_000


def check_maze(
    corridor_length: object, goal_reward: object, wrong_penalty: object, step_cost: object
) -> tuple[int, float, float, float]:
    """(L, goal reward, wrong-arm penalty, step cost) checked, step cost None -> −1/L.

    :raises ValueError: naming the argument and its allowed range.
    """
    length = check_int("corridor_length", corridor_length, 1, MAX_CORRIDOR_LENGTH)
    goal = check_float("goal_reward", goal_reward)
    wrong = check_float("wrong_penalty", wrong_penalty)
    # Strict: with equal rewards the cue would not matter.
    if wrong >= goal:
        raise ValueError(f"wrong_penalty must be < goal_reward = {goal}, got {wrong}")
    cost = check_float("step_cost", -1.0 / length if step_cost is None else step_cost, high=0.0)
    return length, goal, wrong, cost


def check_render_mode(render_mode: object, allowed: list[str]) -> str | None:
    """``render_mode`` if it is None or one of ``allowed``, else a ValueError naming both."""
    if render_mode is not None and render_mode not in allowed:
        raise ValueError(f"render_mode must be None or one of {allowed}, got {render_mode!r}")
    return render_mode  # type: ignore[return-value]


class TMazeEnv(gym.Env[np.ndarray, int]):
    """Passive T-maze (Bakker, NIPS 2002; the "passive" variant of Ni et al., NeurIPS 2023).

    ## Description

    The agent stands at the foot of a corridor of ``corridor_length`` (L) cells that ends
    in a junction, the top of a T. At the start it is shown a cue that says whether the
    goal is in the arm going *up* or *down* from the junction. The cue is shown once, in
    the observation returned by ``reset``; afterwards every corridor cell looks the same,
    so the agent must carry one bit of memory for L steps. The cue is given for free at
    the start (nothing has to be explored to find it), which is what makes the maze
    "passive": the difficulty is the memory length alone.

    Positions are 0 (start) .. L (junction). Moving forward L times from the start
    reaches the junction; choosing up or down there ends the episode.

    ## Action Space

    ``Discrete(3)``:

    | Num | Action  | In the corridor (position < L)     | At the junction (position L)     |
    |-----|---------|------------------------------------|----------------------------------|
    | 0   | forward | move one cell towards the junction | stay                             |
    | 1   | up      | stay                               | enter the up arm, episode ends   |
    | 2   | down    | stay                               | enter the down arm, episode ends |

    ## Observation Space

    ``Box(0, 1, (4,), float32)``, a one-hot vector:

    | Index | Meaning                 | Seen when                                          |
    |-------|-------------------------|----------------------------------------------------|
    | 0     | cue: the goal is up     | the first observation (from ``reset``) only        |
    | 1     | cue: the goal is down   | the first observation (from ``reset``) only        |
    | 2     | in the corridor         | every later step at positions 0 .. L-1             |
    | 3     | at the junction         | every step at position L                           |

    Staying at the start does not show the cue again.

    ## Rewards

    - ``goal_reward`` for choosing the cued arm at the junction,
      ``wrong_penalty`` for choosing the other one (no step cost on that step);
    - ``step_cost`` (<= 0) for every step that does not move forward (staying in the
      corridor, or waiting at the junction), the truncated one too; moving forward is
      free. As in Ni et al. (2023)'s passive T-maze, this teaches walking to the junction
      from an immediate signal, so the task tests memory rather than exploration.

    The optimal policy walks forward L times and turns to the cued side, so its return is
    exactly ``optimal_return = goal_reward`` (1 with the defaults, for every L). A
    memoryless policy can at best guess at the junction: ``(goal_reward +
    wrong_penalty) / 2`` (0 with the defaults).

    ## Starting State

    Position 0; the goal side is drawn uniformly from {up, down} with the env's
    ``np_random``. It is exposed for diagnostics as the attribute ``goal`` and as
    ``info["goal"]`` (0 = up, 1 = down); the position as ``info["position"]``.

    ## Episode End

    - Terminated: the agent chooses up or down at the junction.
      ``info["is_success"]`` is True if it chose the cued arm, False otherwise.
    - Truncated: ``max_steps`` steps have passed without a choice at the junction;
      ``info["is_success"]`` is False. (``gymnasium.make``'s own ``max_episode_steps``
      adds a ``TimeLimit`` wrapper on top of this; that wrapper does not set
      ``is_success``.)

    ## Arguments

    | Parameter         | Type          | Default | Description                                  |
    |-------------------|---------------|---------|----------------------------------------------|
    | `corridor_length` | int           | 10      | L, forward moves to the junction, 1..10000   |
    | `goal_reward`     | float         | 1.0     | reward for the cued arm                      |
    | `wrong_penalty`   | float         | -1.0    | reward for the other arm, < `goal_reward`    |
    | `step_cost`       | float or None | None    | per step not moving forward, <= 0; None: -1/L|
    | `max_steps`       | int or None   | None    | truncation, >= L + 1; None: 2 * (L + 1)      |
    | `render_mode`     | str or None   | None    | None, "ansi" or "rgb_array"                  |

    ```python
    >>> import gymnasium as gym, envs
    >>> env = gym.make("bpl/TMaze-v0", corridor_length=50)
    >>> env.unwrapped.optimal_return
    1.0

    ```

    ## Version History

    * v0: Initial version (step cost only for not moving forward, as Ni et al. 2023).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    FORWARD = 0
    UP = 1
    DOWN = 2
    OBS_CUE_UP = 0
    OBS_CUE_DOWN = 1
    OBS_CORRIDOR = 2
    OBS_JUNCTION = 3

    def __init__(
        self,
        corridor_length: int = 10,
        goal_reward: float = 1.0,
        wrong_penalty: float = -1.0,
        step_cost: float | None = None,
        max_steps: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.corridor_length, self.goal_reward, self.wrong_penalty, self.step_cost = check_maze(
            corridor_length, goal_reward, wrong_penalty, step_cost
        )
        min_steps = self.corridor_length + 1
        if max_steps is None:
            max_steps = 2 * min_steps
        self.max_steps = check_int("max_steps", max_steps, min_steps)
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])

        self.action_space = spaces.Discrete(3)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(4,), dtype=np.float32)

        self.goal: int = 0
        self.position: int = 0
        self._steps: int = 0
        self._done: bool = True

    @property
    def optimal_return(self) -> float:
        """Return of the optimal policy: ``goal_reward`` (moving forward is free)."""
        return self.goal_reward

    def _obs(self, index: int) -> np.ndarray:
        obs = np.zeros(4, dtype=np.float32)
        obs[index] = 1.0
        return obs

    def _info(self) -> dict[str, Any]:
        return {"goal": self.goal, "position": self.position}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start at the foot of the corridor with a new random goal; the cue is in the obs."""
        super().reset(seed=seed)
        self.goal = int(self.np_random.integers(2))
        self.position = 0
        self._steps = 0
        self._done = False
        return self._obs(self.OBS_CUE_UP + self.goal), self._info()

    def step(self, action: int) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Move, stay, or choose an arm; see the class docstring for the rules."""
        if self._done:
            raise RuntimeError("step() called before reset() or after the episode ended")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be in {self.action_space}, got {action!r}")
        action = int(action)
        self._steps += 1
        info = self._info()
        at_junction = self.position == self.corridor_length
        if at_junction and action != self.FORWARD:
            success = action == self.UP + self.goal
            self._done = True
            info["is_success"] = success
            reward = self.goal_reward if success else self.wrong_penalty
            return self._obs(self.OBS_JUNCTION), reward, True, False, info

        moved = action == self.FORWARD and not at_junction
        if moved:
            self.position += 1
        info["position"] = self.position
        truncated = self._steps >= self.max_steps
        if truncated:
            self._done = True
            info["is_success"] = False
        at_junction = self.position == self.corridor_length
        obs = self._obs(self.OBS_JUNCTION if at_junction else self.OBS_CORRIDOR)
        return obs, 0.0 if moved else self.step_cost, False, truncated, info

    def render(self) -> str | np.ndarray | None:
        """``"ansi"``: the corridor as text, agent ``A``, goal arm ``G``, other arm ``x``;
        ``"rgb_array"``: the same picture as an RGB image, one 8×8 block per cell."""
        if self.render_mode is None:
            return None
        up, down = ("G", "x") if self.goal == 0 else ("x", "G")
        cells = ["A" if i == self.position else "." for i in range(self.corridor_length + 1)]
        pad = " " * self.corridor_length
        text = f"{pad}{up}\n{''.join(cells)}\n{pad}{down}\n"
        return text if self.render_mode == "ansi" else char_grid_to_rgb(text)
