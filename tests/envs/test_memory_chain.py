"""Memory chain: the optimal policy gets 1.0; Discrete observations, ends and arguments."""

from __future__ import annotations

import gymnasium as gym
import pytest
from gymnasium import spaces

from envs import MemoryChainEnv


def _play(env: gym.Env, seed: int, correct: bool = True) -> tuple[float, int, list[int], dict]:
    """Keep the first observation (the context), answer the queried bit at the query."""
    base = env.unwrapped
    blank = 2**base.num_bits
    obs, info = env.reset(seed=seed)
    context = int(obs)
    assert 0 <= context < blank and context == info["context"]
    observations = [int(obs)]
    total, steps = 0.0, 0
    while True:
        answer = 0
        if obs > blank:  # a query: "what is bit obs - blank - 1?"
            answer = (context >> (int(obs) - blank - 1)) & 1
            answer = answer if correct else 1 - answer
        obs, reward, terminated, truncated, info = env.step(answer)
        assert not truncated
        observations.append(int(obs))
        total += float(reward)
        steps += 1
        if terminated:
            return total, steps, observations, info


@pytest.mark.parametrize(("memory_length", "num_bits"), [(1, 1), (10, 1), (1000, 1), (7, 3)])
def test_optimal_policy_gets_optimal_return(memory_length: int, num_bits: int) -> None:
    env = MemoryChainEnv(memory_length=memory_length, num_bits=num_bits)
    blank = 2**num_bits
    assert env.observation_space == spaces.Discrete(blank + 1 + num_bits)
    for seed in range(4):
        total, steps, observations, info = _play(env, seed)
        assert total == env.optimal_return == 1.0
        assert steps == memory_length + 1
        assert info["is_success"] is True
        # context, M - 1 blanks, the query, a blank after the answer
        assert observations[1:memory_length] == [blank] * (memory_length - 1)
        assert observations[memory_length] == blank + 1 + env.query
        assert observations[-1] == blank


@pytest.mark.parametrize("num_bits", [1, 2])
def test_wrong_answer_gets_minus_one(num_bits: int) -> None:
    env = MemoryChainEnv(memory_length=5, num_bits=num_bits)
    for seed in range(4):
        total, _, _, info = _play(env, seed, correct=False)
        assert total == -1.0 and info["is_success"] is False


def test_actions_before_the_query_are_ignored() -> None:
    env = MemoryChainEnv(memory_length=3)
    env.reset(seed=0)
    for action in (1, 0):
        _, reward, terminated, _, _ = env.step(action)
        assert reward == 0.0 and not terminated
    _, reward, terminated, _, info = env.step(1)
    assert reward == 0.0 and not terminated  # this step shows the query
    _, reward, terminated, _, info = env.step(env.answer)
    assert reward == 1.0 and terminated and info["is_success"] is True


def test_every_context_and_query_occurs() -> None:
    env = MemoryChainEnv(num_bits=2)
    seen = set()
    for seed in range(64):
        env.reset(seed=seed)
        seen.add((env.context, env.query))
    assert seen == {(c, q) for c in range(4) for q in range(2)}


def test_presets() -> None:
    for env_id, length in [
        ("bpl/MemoryChainEasy-v0", 10),
        ("bpl/MemoryChainMedium-v0", 100),
        ("bpl/MemoryChainHard-v0", 1000),
    ]:
        env = gym.make(env_id)
        assert env.unwrapped.memory_length == length
        total, steps, _, _ = _play(env, seed=0)
        assert (total, steps) == (1.0, length + 1)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"memory_length": 0}, ["memory_length", "[1, 100000]", "0"]),
        ({"num_bits": 9}, ["num_bits", "[1, 8]", "9"]),
        ({"num_bits": 1.0}, ["num_bits", "1.0"]),
        ({"render_mode": "human"}, ["render_mode", "human"]),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs: dict, words: list[str]) -> None:
    with pytest.raises(ValueError) as excinfo:
        MemoryChainEnv(**kwargs)
    for word in words:
        assert word in str(excinfo.value)
