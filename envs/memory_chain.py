"""Memory chain: a context shown once, a question about it after ``memory_length`` steps."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ._checks import check_int
from ._render import lit_cells_to_rgb

MAX_MEMORY_LENGTH = 100_000
MAX_BITS = 8


class MemoryChainEnv(gym.Env[int, int]):
    """Recall one bit of a context after a delay (bsuite's memory_len / memory_size).

    ## Description

    At the first step the agent observes a context of ``num_bits`` (B) random bits. It
    then observes a blank for ``memory_length - 1`` (M - 1) steps, after which a query
    names one of the B bits; the agent must answer with that bit's value. Actions before
    the query are ignored. With B = 1 this is bsuite's ``memory_len`` (Osband et al.
    2020); B > 1 adds its ``memory_size`` axis: the agent must keep all bits, not one.
    The observation is a single integer (a ``Discrete`` space), to exercise agents'
    handling of discrete observations.

    ## Action Space

    ``Discrete(2)``: the claimed value of the queried bit.

    ## Observation Space

    ``Discrete(2**B + 1 + B)``:

    | Value              | Meaning                                           | Seen at step |
    |--------------------|---------------------------------------------------|--------------|
    | 0 .. 2**B - 1      | the context c; bit i of c is ``(c >> i) & 1``     | 0            |
    | 2**B               | blank (also the observation after the answer)     | 1 .. M - 1   |
    | 2**B + 1 + i       | query: "what is bit i?", i in 0 .. B - 1          | M            |

    ## Rewards

    0 on every step but the answer (the action taken on seeing the query), which gives
    +1 if right and -1 if wrong. The optimal return is ``optimal_return = 1.0``; a
    policy without memory gets 0 in expectation.

    ## Starting State

    The context is uniform over the 2**B values and the queried bit uniform over the B
    bits, both drawn at ``reset`` with the env's ``np_random``. They are exposed for
    diagnostics as the attributes ``context`` and ``query`` and as ``info["context"]``,
    ``info["query"]``.

    ## Episode End

    - Terminated: on the answer, after M + 1 steps.
      ``info["is_success"]`` is True if the answer was right.
    - Truncated: never.

    ## Arguments

    | Parameter       | Type        | Default | Description                                |
    |-----------------|-------------|---------|--------------------------------------------|
    | `memory_length` | int         | 10      | M, steps from context to query, 1..100000  |
    | `num_bits`      | int         | 1       | B, bits of context, 1..8                   |
    | `render_mode`   | str or None | None    | None, "ansi" or "rgb_array"                |

    Presets registered as ids: ``bpl/MemoryChainEasy-v0`` (M=10),
    ``bpl/MemoryChainMedium-v0`` (M=100), ``bpl/MemoryChainHard-v0`` (M=1000), all B=1.

    ## Version History

    * v0: Initial version.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self, memory_length: int = 10, num_bits: int = 1, render_mode: str | None = None
    ) -> None:
        self.memory_length = check_int("memory_length", memory_length, 1, MAX_MEMORY_LENGTH)
        self.num_bits = check_int("num_bits", num_bits, 1, MAX_BITS)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.render_mode = render_mode

        self.blank = 2**self.num_bits
        """Observation value of a blank step; contexts lie below it, queries above it."""
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Discrete(self.blank + 1 + self.num_bits)

        self.context = 0
        self.query = 0
        self.t = 0
        self._done = True

    @property
    def optimal_return(self) -> float:
        """Return of the optimal policy: 1.0 (the answer is right)."""
        return 1.0

    @property
    def answer(self) -> int:
        """The right answer: bit ``query`` of ``context``."""
        return (self.context >> self.query) & 1

    def _info(self) -> dict[str, Any]:
        return {"context": self.context, "query": self.query}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Draw a new context and query; show the context."""
        super().reset(seed=seed)
        self.context = int(self.np_random.integers(self.blank))
        self.query = int(self.np_random.integers(self.num_bits))
        self.t = 0
        self._done = False
        return self.context, self._info()

    def step(self, action: int) -> tuple[int, SupportsFloat, bool, bool, dict[str, Any]]:
        """Wait for the query, then score the answer; see the class docstring."""
        if self._done:
            raise RuntimeError("step() called before reset() or after the episode ended")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be in {self.action_space}, got {action!r}")
        info = self._info()
        answering = self.t == self.memory_length
        self.t += 1
        if answering:
            success = int(action) == self.answer
            self._done = True
            info["is_success"] = success
            return self.blank, 1.0 if success else -1.0, True, False, info
        obs = self.blank + 1 + self.query if self.t == self.memory_length else self.blank
        return obs, 0.0, False, False, info

    def render(self) -> str | np.ndarray | None:
        """``"ansi"``: the step, the context bits and the queried bit; ``"rgb_array"``:
        a strip of ``num_bits`` cells with the context's 1-bits lit, and below it a strip
        with the queried bit lit."""
        if self.render_mode is None:
            return None
        if self.render_mode == "rgb_array":
            ones = [i for i in range(self.num_bits) if (self.context >> i) & 1]
            return lit_cells_to_rgb([ones, [self.query]], self.num_bits)
        bits = format(self.context, f"0{self.num_bits}b")
        return f"t={self.t} context={bits} query=bit {self.query} answer={self.answer}\n"
