"""resolve_env_id and idempotent registration."""

from __future__ import annotations

import importlib
import sys
import textwrap
import warnings
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.envs.registration import EnvSpec

from envs import BPL_ENV_IDS, UnknownEnvError, register_envs, resolve_env_id


def test_registered_ids_resolve_to_themselves() -> None:
    for env_id in (*BPL_ENV_IDS, "CartPole-v1"):
        assert resolve_env_id(env_id) == env_id


def test_module_prefix_and_missing_version() -> None:
    assert resolve_env_id("envs:bpl/TMaze-v0") == "bpl/TMaze-v0"
    assert resolve_env_id("bpl/TMaze") == "bpl/TMaze-v0"
    assert gym.make("envs:bpl/MemoryChain-v0").spec.id == "bpl/MemoryChain-v0"


@pytest.mark.parametrize(
    ("env_id", "suggestion"),
    [
        ("bpl/TMaze-v1", "'bpl/TMaze-v0'"),
        ("bpl/tmaze-v0", "'bpl/TMaze-v0'"),
        ("bpl/CartPoleNoVel-v0", "'bpl/CartPoleNoVel-v1'"),
        ("envs:bpl/RepeatPrevios-v0", "'bpl/RepeatPrevious-v0'"),
    ],
)
def test_unknown_id_names_it_and_close_matches(env_id: str, suggestion: str) -> None:
    with pytest.raises(UnknownEnvError) as excinfo:
        resolve_env_id(env_id)
    message = str(excinfo.value)
    assert repr(env_id.rpartition(":")[2]) in message
    assert suggestion in message


def test_error_class_is_both_gymnasium_error_and_value_error() -> None:
    assert issubclass(UnknownEnvError, gym.error.UnregisteredEnv)
    assert issubclass(UnknownEnvError, ValueError)
    with pytest.raises(UnknownEnvError, match="'zzzz'; did you import"):
        resolve_env_id("zzzz")


@pytest.mark.parametrize("env_id", [":bpl/TMaze-v0", "envs:", 3])
def test_malformed_ids(env_id: object) -> None:
    with pytest.raises(UnknownEnvError):
        resolve_env_id(env_id)  # type: ignore[arg-type]


def test_module_that_cannot_be_imported_is_named() -> None:
    with pytest.raises(UnknownEnvError, match="could not import module 'no_such_module_x'"):
        resolve_env_id("no_such_module_x:Foo-v0")


@pytest.fixture
def tmpmodule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A module ``tmpmodule`` on sys.path that registers ``MyEnv-v0`` when imported."""
    (tmp_path / "tmpmodule.py").write_text(
        textwrap.dedent(
            """
            import gymnasium as gym
            from envs import MemoryChainEnv

            gym.register(
                id="MyEnv-v0", entry_point=MemoryChainEnv, kwargs={"memory_length": 2}
            )
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    assert "tmpmodule" not in sys.modules and "MyEnv-v0" not in gym.registry
    yield "tmpmodule"
    sys.modules.pop("tmpmodule", None)
    gym.registry.pop("MyEnv-v0", None)


def test_module_prefix_imports_the_module_first(tmpmodule: str) -> None:
    assert resolve_env_id(f"{tmpmodule}:MyEnv-v0") == "MyEnv-v0"
    assert tmpmodule in sys.modules
    assert gym.make("MyEnv-v0").unwrapped.memory_length == 2
    with pytest.raises(UnknownEnvError, match="'MyEnv-v1'.*'MyEnv-v0'"):
        resolve_env_id(f"{tmpmodule}:MyEnv-v1")


def test_register_envs_is_idempotent_and_repairs_stale_specs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stale = EnvSpec(id="bpl/TMaze-v0", entry_point="envs.tmaze:TMazeEnv", kwargs={"x": 1})
    monkeypatch.setitem(gym.registry, "bpl/TMaze-v0", stale)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register_envs()
        register_envs()
    assert gym.registry["bpl/TMaze-v0"].kwargs == {}
    assert gym.make("bpl/TMaze-v0").unwrapped.corridor_length == 10
