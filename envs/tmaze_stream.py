"""T-maze stream: T-maze trials back to back with no reset, for as long as the episode runs."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ._checks import check_int
from ._render import char_grid_to_rgb
from .tmaze import TMazeEnv, check_maze, check_render_mode


class TMazeStreamEnv(gym.Env[np.ndarray, int]):
    """Passive T-maze trials, one after another, without an episode reset in between.

    ## Description

    Each *trial* is one passive T-maze (:class:`envs.TMazeEnv`): a cue saying whether the
    goal is up or down, a corridor of ``corridor_length`` (L) cells in which every cell
    looks the same, and a junction where the agent turns. Turning ends the trial and the
    next observation is the next trial's cue: there is no ``reset`` between trials, so a
    learner sees one long stream of cue, corridor, junction, cue, … and must keep the
    current cue for L steps while everything before it is irrelevant. A stream of many
    trials is the regime in which backpropagation through the whole episode cannot run
    (its memory grows with the stream), while an online learner's does not.

    ## Action Space

    ``Discrete(3)``, as :class:`envs.TMazeEnv`: 0 forward, 1 up, 2 down (up/down only
    act at the junction; elsewhere they stay).

    ## Observation Space

    ``Box(0, 1, (4,), float32)``, one-hot, as :class:`envs.TMazeEnv`: index 0/1 the cue
    (up/down) on a trial's first step only, 2 in the corridor, 3 at the junction.

    ## Rewards

    ``goal_reward`` for turning to the cued arm, ``wrong_penalty`` for the other one,
    ``step_cost`` (<= 0) for every step that does not move forward. The optimal policy
    earns ``goal_reward`` per trial of L + 1 steps.

    ## Starting State

    Trial 1 at position 0 with a goal drawn uniformly from {up, down} by the env's
    ``np_random``; every later trial draws its goal the same way. ``info["goal"]``,
    ``info["position"]`` and ``info["trial"]`` (1-based) expose the hidden state.

    ## Episode End

    - Never terminated: the stream has no terminal state.
    - Truncated after ``max_steps`` steps (default: time for ``trials`` optimal trials,
      ``trials · (L + 1)``).
    - A trial that has not turned after ``trial_max_steps`` steps ends as a failure and
      the next cue is shown.
    - ``info["trial_success"]`` (bool) is present on every step that ends a trial;
      ``info["is_success"]`` on the last step of the episode is the fraction of the
      episode's trials that turned to the cued arm (0.0 if none ended).

    ## Arguments

    | Parameter         | Type          | Default | Description                                  |
    |-------------------|---------------|---------|----------------------------------------------|
    | `corridor_length` | int           | 10      | L, forward moves to the junction, 1..10000   |
    | `trials`          | int           | 100     | optimal trials that fit in the time limit    |
    | `goal_reward`     | float         | 1.0     | reward for the cued arm                      |
    | `wrong_penalty`   | float         | -1.0    | reward for the other arm, < `goal_reward`    |
    | `step_cost`       | float or None | None    | per step not moving forward, <= 0; None: -1/L|
    | `trial_max_steps` | int or None   | None    | a trial's limit, >= L + 1; None: 2 (L + 1)   |
    | `max_steps`       | int or None   | None    | episode limit, >= L + 1; None: trials (L + 1)|
    | `render_mode`     | str or None   | None    | None, "ansi" or "rgb_array"                  |

    ```python
    >>> import gymnasium as gym, envs
    >>> env = gym.make("bpl/TMazeStream-v0", corridor_length=100, trials=50)
    >>> env.unwrapped.max_steps
    5050

    ```

    ## Version History

    * v0: Initial version.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        corridor_length: int = 10,
        trials: int = 100,
        goal_reward: float = 1.0,
        wrong_penalty: float = -1.0,
        step_cost: float | None = None,
        trial_max_steps: int | None = None,
        max_steps: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.corridor_length, self.goal_reward, self.wrong_penalty, self.step_cost = check_maze(
            corridor_length, goal_reward, wrong_penalty, step_cost
        )
        self.trials = check_int("trials", trials, 1)
        trial_len = self.corridor_length + 1
        if trial_max_steps is None:
            trial_max_steps = 2 * trial_len
        self.trial_max_steps = check_int("trial_max_steps", trial_max_steps, trial_len)
        if max_steps is None:
            max_steps = self.trials * trial_len
        self.max_steps = check_int("max_steps", max_steps, trial_len)
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self.action_space = spaces.Discrete(3)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(4,), dtype=np.float32)
        self.goal = 0
        self.position = 0
        self.trial = 0
        self.trials_done = 0
        self.trials_right = 0
        self._trial_steps = 0
        self._steps = 0
        self._done = True

    @property
    def optimal_return(self) -> float:
        """Return of the optimal policy over one episode with the default time limit."""
        return self.goal_reward * (self.max_steps // (self.corridor_length + 1))

    def _obs(self, index: int) -> np.ndarray:
        obs = np.zeros(4, dtype=np.float32)
        obs[index] = 1.0
        return obs

    def _info(self) -> dict[str, Any]:
        return {"goal": self.goal, "position": self.position, "trial": self.trial}

    def _new_trial(self) -> np.ndarray:
        """Draw the next goal, go back to the foot of the corridor, show the cue."""
        self.goal = int(self.np_random.integers(2))
        self.position = 0
        self.trial += 1
        self._trial_steps = 0
        return self._obs(TMazeEnv.OBS_CUE_UP + self.goal)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start the stream with trial 1; the cue is in the observation."""
        super().reset(seed=seed)
        self.trial = self.trials_done = self.trials_right = self._steps = 0
        self._done = False
        obs = self._new_trial()
        return obs, self._info()

    def step(self, action: int) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Move, stay or turn; a turn (or a trial's time limit) starts the next trial."""
        if self._done:
            raise RuntimeError("step() called before reset() or after the episode ended")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be in {self.action_space}, got {action!r}")
        action = int(action)
        self._steps += 1
        self._trial_steps += 1
        at_junction = self.position == self.corridor_length
        trial_success: bool | None = None
        if at_junction and action != TMazeEnv.FORWARD:
            trial_success = action == TMazeEnv.UP + self.goal
            reward = self.goal_reward if trial_success else self.wrong_penalty
        else:
            moved = action == TMazeEnv.FORWARD and not at_junction
            self.position += int(moved)
            reward = 0.0 if moved else self.step_cost
            if self._trial_steps >= self.trial_max_steps:
                trial_success = False
        info: dict[str, Any] = {}
        if trial_success is not None:
            self.trials_done += 1
            self.trials_right += int(trial_success)
            info["trial_success"] = trial_success
            obs = self._new_trial()
        else:
            at_junction = self.position == self.corridor_length
            obs = self._obs(TMazeEnv.OBS_JUNCTION if at_junction else TMazeEnv.OBS_CORRIDOR)
        truncated = self._steps >= self.max_steps
        if truncated:
            self._done = True
            info["is_success"] = self.trials_right / self.trials_done if self.trials_done else 0.0
        info.update(self._info())
        return obs, reward, False, truncated, info

    def render(self) -> str | np.ndarray | None:
        """``"ansi"``: the current trial's corridor as text (agent ``A``, goal arm ``G``,
        other arm ``x``) under a line counting trials; ``"rgb_array"``: the same picture."""
        if self.render_mode is None:
            return None
        up, down = ("G", "x") if self.goal == 0 else ("x", "G")
        cells = ["A" if i == self.position else "." for i in range(self.corridor_length + 1)]
        pad = " " * self.corridor_length
        text = f"{pad}{up}\n{''.join(cells)}\n{pad}{down}\n"
        if self.render_mode == "ansi":
            return f"trial {self.trial}: {self.trials_right}/{self.trials_done} right\n{text}"
        return char_grid_to_rgb(text)
