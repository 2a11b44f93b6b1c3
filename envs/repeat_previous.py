"""Repeat previous: output, at every step, the symbol seen ``delay`` steps earlier."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ._checks import check_int
from ._render import lit_cells_to_rgb

MAX_SYMBOLS = 1024
MAX_EPISODE_LENGTH = 100_000


class RepeatPreviousEnv(gym.Env[np.ndarray, int]):
    """Repeat the symbol observed ``delay`` steps ago (POPGym's RepeatPrevious, Morad et al. 2023).

    ## Description

    At every step t = 0 .. N-1 (N = ``episode_length``) the agent observes a symbol
    s_t drawn uniformly from ``num_symbols`` symbols, independently of everything else.
    From step t = ``delay`` (k) on, it is scored on whether its action equals s_{t-k}. The
    agent must hold a sliding window of the last k symbols, updated every step, with a
    dense reward: a different kind of memory from the one bit held for a long time of the
    T-maze. (POPGym draws cards from decks; here the symbols are i.i.d.)

    ## Action Space

    ``Discrete(num_symbols)``: the symbol the agent claims it saw k steps ago.

    ## Observation Space

    ``Box(0, 1, (num_symbols,), float32)``: the one-hot encoding of s_t. The observation
    returned with the last step (after which nothing is scored) is all zeros.

    ## Rewards

    Steps t < k: 0. Steps t >= k: ``+1 / (N - k)`` if the action equals s_{t-k}, else
    ``-1 / (N - k)``. The returns thus lie in [-1, 1]; the optimal policy gets
    ``optimal_return = 1.0`` (up to float rounding of the sum), a policy without
    memory ``2 / num_symbols - 1`` in expectation.

    ## Starting State

    The whole sequence s_0 .. s_{N-1} is drawn at ``reset`` with the env's
    ``np_random``. For diagnostics, ``info["target"]`` gives s_{t-k} for the step just
    scored (-1 for t < k).

    ## Episode End

    - Terminated: after N steps (the task has a fixed length).
      ``info["is_success"]`` is True if every scored action was right;
      ``info["accuracy"]`` is the fraction of scored actions that were right.
    - Truncated: never.

    ## Arguments

    | Parameter        | Type        | Default | Description                                |
    |------------------|-------------|---------|--------------------------------------------|
    | `num_symbols`    | int         | 4       | symbols and actions, 2..1024               |
    | `delay`          | int         | 4       | k, how many steps back to repeat, >= 1     |
    | `episode_length` | int         | 52      | N, steps per episode, k+1..100000          |
    | `render_mode`    | str or None | None    | None, "ansi" or "rgb_array"                |

    Presets registered as ids, all with 4 symbols:

    - ``bpl/RepeatPreviousEasy-v1`` (k=3, N=51), ``bpl/RepeatPreviousMedium-v1`` (k=31,
      N=103), ``bpl/RepeatPreviousHard-v1`` (k=63, N=155): POPGym's RepeatPreviousEasy,
      Medium and Hard. POPGym's ``k`` counts the card being shown (its k = 4 scores the
      card shown 3 steps earlier), and an episode deals 52 · decks cards, the last one
      never answered; its rewards are ±1 / (N - k), as here.
    - ``bpl/RepeatPreviousEasy-v0`` (k=4, N=52), ``bpl/RepeatPreviousMedium-v0`` (k=32,
      N=104), ``bpl/RepeatPreviousHard-v0`` (k=64, N=156): POPGym's k read as steps
      back, one step more memory than POPGym's task (sb3-contrib's RecurrentPPO, its
      defaults, 150k steps: 0.41 here against 0.99 on v1).

    ## Version History

    * v1 (presets): delay and length as POPGym counts them.
    * v0: Initial version.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        num_symbols: int = 4,
        delay: int = 4,
        episode_length: int = 52,
        render_mode: str | None = None,
    ) -> None:
        self.num_symbols = check_int("num_symbols", num_symbols, 2, MAX_SYMBOLS)
        self.delay = check_int("delay", delay, 1, MAX_EPISODE_LENGTH - 1)
        self.episode_length = check_int(
            "episode_length", episode_length, self.delay + 1, MAX_EPISODE_LENGTH
        )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.render_mode = render_mode

        self.action_space = spaces.Discrete(self.num_symbols)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.num_symbols,), dtype=np.float32)

        self.symbols = np.zeros(self.episode_length, dtype=np.int64)
        self.t = 0
        self._num_correct = 0
        self._done = True

    @property
    def optimal_return(self) -> float:
        """Return of the optimal policy: 1.0 (every one of the N - k scored actions right)."""
        return 1.0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.num_symbols, dtype=np.float32)
        if self.t < self.episode_length:
            obs[self.symbols[self.t]] = 1.0
        return obs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw a new symbol sequence and show its first symbol."""
        super().reset(seed=seed)
        self.symbols = self.np_random.integers(self.num_symbols, size=self.episode_length)
        self.t = 0
        self._num_correct = 0
        self._done = False
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Score the action against the symbol seen ``delay`` steps ago, show the next one."""
        if self._done:
            raise RuntimeError("step() called before reset() or after the episode ended")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be in {self.action_space}, got {action!r}")
        scored = self.episode_length - self.delay
        reward, target = 0.0, -1
        if self.t >= self.delay:
            target = int(self.symbols[self.t - self.delay])
            correct = int(action) == target
            self._num_correct += correct
            reward = (1.0 if correct else -1.0) / scored
        self.t += 1
        info: dict[str, Any] = {"target": target}
        terminated = self.t == self.episode_length
        if terminated:
            self._done = True
            info["is_success"] = self._num_correct == scored
            info["accuracy"] = self._num_correct / scored
        return self._obs(), reward, terminated, False, info

    def render(self) -> str | np.ndarray | None:
        """``"ansi"``: the step, the current symbol and the target; ``"rgb_array"``: two
        strips of ``num_symbols`` cells, the current symbol lit above, the target below."""
        if self.render_mode is None:
            return None
        current = int(self.symbols[self.t]) if self.t < self.episode_length else None
        target = int(self.symbols[self.t - self.delay]) if self.t >= self.delay else None
        if self.render_mode == "rgb_array":
            rows = [[] if v is None else [v] for v in (current, target)]
            return lit_cells_to_rgb(rows, self.num_symbols)
        return f"t={self.t} symbol={current} answer={target}\n"
