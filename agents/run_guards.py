"""What guards a training run (:mod:`agents.runs`): environment errors, divergence,
interrupts and periodic checkpoints.

An environment that raises is re-raised as :class:`EnvironmentFailed` naming the copy,
its step and the action. :class:`Health` refuses NaN/inf parameters, or a parameter norm
grown more than :data:`DIVERGENCE_FACTOR` times since training started
(:class:`TrainingDiverged`). Ctrl-C only asks training to stop at the next environment
step (:class:`StopOnInterrupt`), so a checkpoint is never cut short.
"""

from __future__ import annotations

import math
import os
import signal
import threading
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.callbacks import BaseCallback

from bpl.credit import NonFiniteError

#: Training stops as diverged when the policy's parameter norm exceeds this many times its
#: norm when training started (normal runs stay within ~1.1x; --learning-rate 1 reached
#: ~20x, 1e6 ~1e7x).
DIVERGENCE_FACTOR = 100.0


class TrainingDiverged(NonFiniteError):
    """The policy's parameters became NaN/inf or grew by orders of magnitude."""


class EnvironmentFailed(RuntimeError):
    """The environment raised in ``reset`` or ``step`` (the message names which copy,
    its step and the action)."""


class _GuardedEnv(gym.Wrapper):
    """Re-raise an environment's exception as :class:`EnvironmentFailed` naming the copy,
    its step count and the action."""

    def __init__(self, env: gym.Env, index: int) -> None:
        super().__init__(env)
        self.index, self.steps = index, 0

    def reset(self, **kwargs: Any) -> Any:
        try:
            return self.env.reset(**kwargs)
        except Exception as err:
            raise EnvironmentFailed(
                f"environment {self.index} raised in reset() after its step {self.steps}: "
                f"{type(err).__name__}: {err}"
            ) from err

    def step(self, action: Any) -> Any:
        self.steps += 1
        try:
            return self.env.step(action)
        except Exception as err:
            raise EnvironmentFailed(
                f"environment {self.index} raised at its step {self.steps} (action "
                f"{action!r:.60}): {type(err).__name__}: {err}"
            ) from err


def guard_env(venv: Any) -> Any:
    """Wrap each copy of a ``DummyVecEnv`` so that its exceptions name the copy and step."""
    envs = getattr(venv, "envs", None)
    if isinstance(envs, list):
        venv.envs = [_GuardedEnv(e, i) for i, e in enumerate(envs)]
    return venv


def _policy_norm(model: Any) -> float:
    with torch.no_grad():
        total = sum(float(p.detach().double().pow(2).sum()) for p in model.policy.parameters())
    return math.sqrt(total)


class Health:
    """Whether a model may be saved as good: finite parameters and statistics, and a
    policy parameter norm within :data:`DIVERGENCE_FACTOR` times its norm at the start."""

    def __init__(self, model: Any) -> None:
        self.reference = _policy_norm(model)

    def check(self, model: Any) -> None:
        """:raises TrainingDiverged: naming the step, the norms or the part that is NaN."""
        step = model.num_timesteps
        parts = [("policy", model.policy)]
        if model.gradient_critic is not None:
            parts.append(("gradient critic", model.gradient_critic))
        for name, module in parts:
            for key, value in module.state_dict().items():
                if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                    raise TrainingDiverged(
                        f"non-finite {name} parameter {key} at step {step}; the update "
                        "that produced it is not saved"
                    )
        norm, limit = _policy_norm(model), DIVERGENCE_FACTOR * max(self.reference, 1.0)
        if not norm <= limit:
            raise TrainingDiverged(
                f"training diverged at step {step}: the policy's parameter norm grew from "
                f"{self.reference:.3g} to {norm:.3g}, more than {DIVERGENCE_FACTOR:g}x "
                "(try a smaller --learning-rate); the diverged parameters are not saved"
            )


class DivergenceGuard(BaseCallback):
    """Check :class:`Health` after every update (at the start of each rollout)."""

    def __init__(self, health: Health) -> None:
        super().__init__()
        self.health = health

    def _on_rollout_start(self) -> None:
        self.health.check(self.model)

    def _on_step(self) -> bool:
        return True


class _Interrupts:
    """SIGINT handling of a run: while training, saving and closing, an interrupt only
    asks training to stop at the next environment step (:class:`StopOnInterrupt`), so a
    checkpoint is never cut short; while setting up or evaluating the first one raises
    ``KeyboardInterrupt``; every later one is counted and reported, nothing more."""

    def __init__(self) -> None:
        self.count = 0
        self.raising = True
        self._previous: Any = None

    @property
    def requested(self) -> bool:
        return self.count > 0

    def _handler(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count == 1 and self.raising:
            raise KeyboardInterrupt
        note = "stopping after the current step; a checkpoint will be saved"
        if self.count > 1:
            note = "already stopping; the checkpoint is being saved, please wait"
        os.write(2, f"\ninterrupt: {note}\n".encode())  # not print: safe in a handler

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


class StopOnInterrupt(BaseCallback):
    """End ``learn`` at the next environment step once an interrupt was requested."""

    def __init__(self, interrupts: _Interrupts) -> None:
        super().__init__()
        self.interrupts = interrupts

    def _on_step(self) -> bool:
        return not self.interrupts.requested


class PeriodicCheckpoint(BaseCallback):
    """Save ``step_XXXXXXXXX.zip`` and ``latest.zip`` every ``every`` steps, each only
    after the model passed ``health`` (else :class:`TrainingDiverged`)."""

    def __init__(self, folder: Path, every: int, health: Health | None = None) -> None:
        super().__init__()
        self.folder, self.every, self.health = folder, every, health
        self._next = 0

    def _on_training_start(self) -> None:
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            if self.health is not None:
                self.health.check(self.model)
            self.model.save(self.folder / f"step_{self.num_timesteps:09d}.zip")
            self.model.save(self.folder / "latest.zip")
            self._next += self.every
        return True


__all__ = [
    "DIVERGENCE_FACTOR",
    "DivergenceGuard",
    "EnvironmentFailed",
    "Health",
    "PeriodicCheckpoint",
    "StopOnInterrupt",
    "TrainingDiverged",
    "guard_env",
]
