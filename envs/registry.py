"""Registration of the ``bpl/`` environment ids, and resolution of user-given ids.

:func:`register_envs` runs when ``envs`` is imported. Gymnasium >= 1.0 has no plugin
entry points, so ``gymnasium.make("bpl/TMaze-v0")`` needs ``import envs`` first, or the
module-qualified id ``gymnasium.make("envs:bpl/TMaze-v0")``.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

import gymnasium
from gymnasium.envs.registration import EnvSpec, find_highest_version, get_env_id, parse_env_id

_PKG = __name__.rpartition(".")[0] or "envs"

_TMAZE = f"{_PKG}.tmaze:TMazeEnv"
_REPEAT = f"{_PKG}.repeat_previous:RepeatPreviousEnv"
_CHAIN = f"{_PKG}.memory_chain:MemoryChainEnv"

# Keyword arguments of gymnasium.register, one dict per id.
_SPECS: tuple[dict[str, Any], ...] = (
    {"id": "bpl/TMaze-v0", "entry_point": _TMAZE},
    {"id": "bpl/TMazeEasy-v0", "entry_point": _TMAZE, "kwargs": {"corridor_length": 10}},
    {"id": "bpl/TMazeMedium-v0", "entry_point": _TMAZE, "kwargs": {"corridor_length": 100}},
    {"id": "bpl/TMazeHard-v0", "entry_point": _TMAZE, "kwargs": {"corridor_length": 1000}},
    {"id": "bpl/TMazeStream-v0", "entry_point": f"{_PKG}.tmaze_stream:TMazeStreamEnv"},
    {
        "id": "bpl/CartPoleNoVel-v1",
        "entry_point": f"{_PKG}.cartpole_novel:CartPoleNoVelEnv",
        "max_episode_steps": 500,
        "reward_threshold": 475.0,
    },
    {
        "id": "bpl/PendulumNoVel-v1",
        "entry_point": f"{_PKG}.pendulum_novel:PendulumNoVelEnv",
        "max_episode_steps": 200,
    },
    {"id": "bpl/RepeatPrevious-v0", "entry_point": _REPEAT},
    {
        "id": "bpl/RepeatPreviousEasy-v0",
        "entry_point": _REPEAT,
        "kwargs": {"num_symbols": 4, "delay": 4, "episode_length": 52},
    },
    {
        "id": "bpl/RepeatPreviousMedium-v0",
        "entry_point": _REPEAT,
        "kwargs": {"num_symbols": 4, "delay": 32, "episode_length": 104},
    },
    {
        "id": "bpl/RepeatPreviousHard-v0",
        "entry_point": _REPEAT,
        "kwargs": {"num_symbols": 4, "delay": 64, "episode_length": 156},
    },
    # v1: POPGym's own counting (its k counts the shown card: k = 4 is 3 steps back) and
    # length (52 · decks cards, the last never answered), so POPGym's numbers compare
    {
        "id": "bpl/RepeatPreviousEasy-v1",
        "entry_point": _REPEAT,
        "kwargs": {"num_symbols": 4, "delay": 3, "episode_length": 51},
    },
    {
        "id": "bpl/RepeatPreviousMedium-v1",
        "entry_point": _REPEAT,
        "kwargs": {"num_symbols": 4, "delay": 31, "episode_length": 103},
    },
    {
        "id": "bpl/RepeatPreviousHard-v1",
        "entry_point": _REPEAT,
        "kwargs": {"num_symbols": 4, "delay": 63, "episode_length": 155},
    },
    {"id": "bpl/MemoryChain-v0", "entry_point": _CHAIN},
    {"id": "bpl/MemoryChainEasy-v0", "entry_point": _CHAIN, "kwargs": {"memory_length": 10}},
    {"id": "bpl/MemoryChainMedium-v0", "entry_point": _CHAIN, "kwargs": {"memory_length": 100}},
    {"id": "bpl/MemoryChainHard-v0", "entry_point": _CHAIN, "kwargs": {"memory_length": 1000}},
)

BPL_ENV_IDS: tuple[str, ...] = tuple(spec["id"] for spec in _SPECS)
"""Every id this package registers, in registration order."""


class UnknownEnvError(gymnasium.error.UnregisteredEnv, ValueError):
    """An environment id that is not registered, or whose ``module:`` prefix cannot be imported.

    Subclasses both ``gymnasium.error.UnregisteredEnv`` (what ``gymnasium.make`` raises
    for unknown ids) and ``ValueError``, so either ``except`` clause catches it.
    """


def register_envs() -> None:
    """Register every id of :data:`BPL_ENV_IDS` with Gymnasium; safe to call repeatedly.

    An id already registered with the same spec is left alone, so importing or
    reloading ``envs`` neither warns nor raises. An id registered with a different spec
    (e.g. after editing this file and reloading it) is replaced without Gymnasium's
    "Overriding environment" warning: the ``bpl/`` namespace belongs to this package.
    """
    for kwargs in _SPECS:
        env_id = kwargs["id"]
        if gymnasium.registry.get(env_id) == EnvSpec(**kwargs):
            continue
        gymnasium.registry.pop(env_id, None)
        gymnasium.register(**kwargs)


def resolve_env_id(env_id: str) -> str:
    """Return the registered id that ``env_id`` names, importing its module if it has one.

    Accepts what ``gymnasium.make`` accepts:

    - ``"bpl/TMaze-v0"``: a registered id, returned as is;
    - ``"module:bpl/TMaze-v0"``: ``module`` is imported first (so that it can register
      its environments), then the id after the colon is resolved and returned;
    - an id without version (``"bpl/TMaze"``): the highest registered version is
      returned (``gymnasium.make`` does the same, with a warning).

    :param env_id: the id, optionally prefixed by ``"module:"``.
    :return: the registered id, without any module prefix.
    :raises UnknownEnvError: if the module cannot be imported (the message names the
        module), or if the id is not registered (the message names the id and the
        closest registered ids).
    """
    if not isinstance(env_id, str):
        raise UnknownEnvError(f"env_id must be a str, got {env_id!r}")
    module, sep, name = env_id.partition(":")
    if not sep:
        module, name = "", env_id
    elif not module or not name:
        raise UnknownEnvError(f"env id {env_id!r} must be 'id' or 'module:id'")
    if module:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise UnknownEnvError(
                f"could not import module {module!r} named in env id {env_id!r}: {e}"
            ) from e

    if name in gymnasium.registry:
        return name
    try:
        ns, base, version = parse_env_id(name)
    except gymnasium.error.Error:
        ns, base, version = None, "", 0
    if version is None:
        latest = find_highest_version(ns, base)
        if latest is not None:
            return get_env_id(ns, base, latest)
    raise UnknownEnvError(_unknown_message(name))


def _unknown_message(name: str) -> str:
    """Name the unknown id and up to five registered ids that look like it (case-blind)."""
    by_lower: dict[str, str] = {}
    for registered in gymnasium.registry:
        by_lower.setdefault(registered.lower(), registered)
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=5, cutoff=0.6)
    message = f"no registered environment with id {name!r}"
    if close:
        return f"{message}; did you mean {', '.join(repr(by_lower[c]) for c in close)}?"
    return f"{message}; did you import the module that registers it (ids as 'module:id')?"
