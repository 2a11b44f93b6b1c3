"""Repeat previous: the optimal policy gets 1.0; scoring, ends and arguments."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from envs import RepeatPreviousEnv


def _play(env: gym.Env, seed: int, mistakes: set[int] = frozenset()) -> tuple[float, int, dict]:
    """Answer from a buffer of the observed symbols, wrong on purpose at steps ``mistakes``."""
    base = env.unwrapped
    obs, _ = env.reset(seed=seed)
    seen: list[int] = []
    total, t = 0.0, 0
    while True:
        assert obs.sum() == 1.0
        seen.append(int(np.argmax(obs)))
        answer = seen[t - base.delay] if t >= base.delay else 0
        if t in mistakes:
            answer = (answer + 1) % base.num_symbols
        obs, reward, terminated, truncated, info = env.step(answer)
        assert not truncated
        if t < base.delay:
            assert reward == 0.0 and info["target"] == -1
        else:
            assert info["target"] == seen[t - base.delay]
        total += float(reward)
        t += 1
        if terminated:
            np.testing.assert_array_equal(obs, np.zeros(base.num_symbols))
            return total, t, info


@pytest.mark.parametrize(
    "env_id",
    [
        "bpl/RepeatPrevious-v0",
        "bpl/RepeatPreviousEasy-v0",
        "bpl/RepeatPreviousMedium-v0",
        "bpl/RepeatPreviousHard-v0",
        "bpl/RepeatPreviousEasy-v1",
        "bpl/RepeatPreviousMedium-v1",
        "bpl/RepeatPreviousHard-v1",
    ],
)
def test_optimal_policy_gets_optimal_return(env_id: str) -> None:
    env = gym.make(env_id)
    for seed in range(3):
        total, steps, info = _play(env, seed)
        assert steps == env.unwrapped.episode_length
        assert total == pytest.approx(env.unwrapped.optimal_return, abs=1e-9)
        assert env.unwrapped.optimal_return == 1.0
        assert info["is_success"] is True and info["accuracy"] == 1.0


def test_smallest_episode() -> None:
    env = RepeatPreviousEnv(num_symbols=7, delay=1, episode_length=2)
    total, steps, info = _play(env, seed=0)
    assert (total, steps, info["is_success"]) == (1.0, 2, True)


def test_one_mistake_costs_two_units_and_the_success() -> None:
    env = RepeatPreviousEnv(num_symbols=3, delay=2, episode_length=12)  # 10 scored steps
    total, _, info = _play(env, seed=1, mistakes={5})
    assert total == pytest.approx(0.8)
    assert info["is_success"] is False and info["accuracy"] == pytest.approx(0.9)
    # Mistakes before the delay are not scored.
    total, _, info = _play(env, seed=1, mistakes={0, 1})
    assert total == pytest.approx(1.0) and info["is_success"] is True


def test_always_wrong_gets_minus_one() -> None:
    env = RepeatPreviousEnv(num_symbols=4, delay=3, episode_length=20)
    total, _, info = _play(env, seed=2, mistakes=set(range(20)))
    assert total == pytest.approx(-1.0)
    assert info["is_success"] is False and info["accuracy"] == 0.0


def test_symbols_are_roughly_uniform() -> None:
    env = RepeatPreviousEnv(num_symbols=4, delay=1, episode_length=4000)
    env.reset(seed=0)
    counts = np.bincount(env.symbols, minlength=4)
    assert counts.min() > 900 and counts.max() < 1100


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"num_symbols": 1}, ["num_symbols", "[2, 1024]", "1"]),
        ({"delay": 0}, ["delay", "0"]),
        ({"delay": 4, "episode_length": 4}, ["episode_length", "[5, 100000]", "4"]),
        ({"episode_length": "52"}, ["episode_length", "'52'"]),
        ({"render_mode": "human"}, ["render_mode", "human"]),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs: dict, words: list[str]) -> None:
    with pytest.raises(ValueError) as excinfo:
        RepeatPreviousEnv(**kwargs)
    for word in words:
        assert word in str(excinfo.value)


def test_step_after_end_raises() -> None:
    env = RepeatPreviousEnv(delay=1, episode_length=2)
    env.reset(seed=0)
    env.step(0)
    env.step(0)
    with pytest.raises(RuntimeError):
        env.step(0)


@pytest.mark.parametrize(
    ("env_id", "popgym_k", "decks"),
    [
        ("bpl/RepeatPreviousEasy-v1", 4, 1),
        ("bpl/RepeatPreviousMedium-v1", 32, 2),
        ("bpl/RepeatPreviousHard-v1", 64, 3),
    ],
)
def test_v1_counts_as_popgym(env_id: str, popgym_k: int, decks: int) -> None:
    """POPGym's rule, written out: the hand holds every card shown so far (the last is
    the one on show); a step is scored when the hand holds >= k cards, against hand[-k];
    the episode ends when one card of 52 * decks is left undealt, rewards ±1 / (52 * decks - k)."""
    env = gym.make(env_id)
    obs, _ = env.reset(seed=3)
    hand = [int(np.argmax(obs))]
    undealt = 52 * decks - 1
    scale = 1.0 / (52 * decks - popgym_k)
    rewards = []
    while True:
        scored = len(hand) >= popgym_k
        terminated_popgym = undealt == 1
        action = hand[-popgym_k] if scored else 0
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(float(reward))
        assert reward == pytest.approx(scale if scored else 0.0)
        assert terminated == terminated_popgym and not truncated
        if terminated:
            break
        hand.append(int(np.argmax(obs)))
        undealt -= 1
    assert len(rewards) == 52 * decks - 1
    assert sum(rewards) == pytest.approx(1.0)
