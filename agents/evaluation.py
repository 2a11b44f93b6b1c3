"""Evaluation summary of a trained agent: mean ± std return, length, success rate."""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv


def evaluate(
    model: Any,
    env: VecEnv,
    n_episodes: int = 20,
    deterministic: bool = True,
) -> dict[str, Any]:
    """Run ``n_episodes`` episodes and summarise them.

    Success is read from ``info["is_success"]`` at episode ends, as a number: a bool counts
    0 or 1, a fraction (``bpl/TMazeStream-v0``: the share of the episode's trials won) counts
    as itself; the rate is their mean, None when the environment never reports it.

    :param model: anything with SB3's ``predict(obs, state, episode_start, deterministic)``.
    :param env: a Monitor-wrapped VecEnv (``agents.make_env`` builds one).
    :param n_episodes: episodes to run, >= 1.
    :param deterministic: take the mode of the policy instead of sampling.
    :return: dict with ``n_episodes``, ``mean_return``, ``std_return``, ``mean_length``,
        ``success_rate`` and ``returns``.
    """
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 1:
        raise ValueError(f"n_episodes must be an integer >= 1, got {n_episodes!r}")
    successes: list[float] = []

    def on_step(local: dict[str, Any], _: dict[str, Any]) -> None:
        info = local["info"]
        if local["done"] and "is_success" in info:
            successes.append(float(info["is_success"]))

    returns, lengths = evaluate_policy(
        model,
        env,
        n_eval_episodes=n_episodes,
        deterministic=deterministic,
        callback=on_step,
        return_episode_rewards=True,
    )
    return {
        "n_episodes": len(returns),
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "mean_length": float(np.mean(lengths)),
        "success_rate": float(np.mean(successes)) if successes else None,
        "deterministic": deterministic,
        "returns": [float(r) for r in returns],
    }


def format_summary(summary: dict[str, Any]) -> str:
    """One line: ``return 0.50 ± 0.00 over 20 episodes, success 100.0%``.

    :param summary: the output of :func:`evaluate`.
    """
    text = (
        f"return {summary['mean_return']:.2f} ± {summary['std_return']:.2f} over "
        f"{summary['n_episodes']} episodes (mean length {summary['mean_length']:.1f})"
    )
    if summary.get("success_rate") is not None:
        text += f", success {100 * summary['success_rate']:.1f}%"
    return text
