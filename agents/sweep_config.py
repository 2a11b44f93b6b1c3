"""A sweep's configuration (YAML), checked whole before anything runs, and its settings.

``scripts/sweep.py --config FILE`` reads a file such as::

    env: bpl/TMaze-v0                # any Gymnasium id, module:id included
    env_kwargs: {corridor_length: 50}
    algo: a2c                        # or ppo
    total_timesteps: 150000
    n_envs: 8
    seeds: [0, 1, 2]
    search:                          # lists are grid axes; {dist: ...} entries are sampled
      credit: [bp_lambda, tbptt, bptt]
      learning_rate: {dist: loguniform, low: 1.0e-4, high: 3.0e-3}
    num_samples: 1                   # samples per grid point of the sampled axes
    hyperparams: default             # the env's entry in agents/hyperparams/<algo>.yml,
                                     # none, or a FILE

:func:`load_config` checks every key and value (refusing with :class:`SweepConfigError`,
which names the key and what is allowed) and :func:`settings` lists the settings: every
grid point of the search's lists, with ``num_samples`` draws of its distributions per
grid point; :func:`agents.sweep.expand` runs each setting with every seed. This module
does not import Ray: a configuration is refused before Ray starts.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bpl.credit import CREDIT_MODES

from .config import AgentConfig, PPOConfig
from .hyperparams import NONE, load_hyperparams, package_file

#: Every key of a sweep's file and its default (``...``: required).
DEFAULTS: dict[str, Any] = {
    "env": ...,
    "env_kwargs": {},
    "algo": "a2c",
    "total_timesteps": None,
    "n_envs": None,
    "seeds": [0],
    "search": {},
    "num_samples": 1,
    "sample_seed": 0,
    "hyperparams": "default",
    "eval_episodes": 100,
}
#: Distributions of sampled search axes (as Ray Tune's) and their parameters. ``randint``
#: and ``lograndint`` draw integers in [low, high).
DISTS = {
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "randint": ("low", "high"),
    "lograndint": ("low", "high"),
    "choice": ("values",),
}
ALGOS = ("a2c", "ppo")
#: ``hyperparams`` value that takes the package's file (as train.py without the flag).
DEFAULT = "default"


class SweepConfigError(ValueError):
    """A sweep's configuration is invalid; the message names the key and what is allowed."""


@dataclasses.dataclass
class SweepConfig:
    """A checked sweep configuration (see the module's documentation for each key)."""

    env: str
    env_kwargs: dict[str, Any]
    algo: str
    total_timesteps: int | None
    n_envs: int | None
    seeds: list[int]
    search: dict[str, Any]
    num_samples: int
    sample_seed: int
    hyperparams: str
    eval_episodes: int

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready data."""
        return dataclasses.asdict(self)

    @property
    def options_class(self) -> type[AgentConfig]:
        """The agent's options dataclass: AgentConfig (a2c) or PPOConfig (ppo)."""
        return PPOConfig if self.algo == "ppo" else AgentConfig


def _int(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SweepConfigError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _field_kind(cls: type[AgentConfig], key: str) -> str:
    """int, float, bool, str or list: what a search value of ``key`` must be."""
    kind = str({f.name: f.type for f in dataclasses.fields(cls)}[key])
    for name in ("bool", "int", "float", "str", "tuple"):
        if kind.startswith(name):
            return "list" if name == "tuple" else name
    return "float"  # learning_rate (a number or, in Python, a schedule)


def _optional(cls: type[AgentConfig], key: str) -> bool:
    return {f.name: f.default for f in dataclasses.fields(cls)}[key] is None


def check_value(cls: type[AgentConfig], key: str, value: Any) -> Any:
    """A search value of option ``key``, checked by the options dataclass on its own
    (options it depends on set to fit it); ``None`` (the option left out) only where
    the option's default is None.

    :raises SweepConfigError: naming ``search.<key>``, the value and what is allowed."""
    where = f"search.{key}"
    if value is None:
        if _optional(cls, key):
            return None
        raise SweepConfigError(f"{where}: null is only allowed for options whose default is null")
    kind = _field_kind(cls, key)
    if key == "credit" and value not in CREDIT_MODES:
        raise SweepConfigError(f"{where}: unknown credit mode {value!r} (allowed: {CREDIT_MODES})")
    if kind == "list":
        if not isinstance(value, list):
            raise SweepConfigError(f"{where}: each value must be a list of integers, got {value!r}")
        value = tuple(value)
    elif kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise SweepConfigError(f"{where}: each value must be a number, got {value!r}")
    companions = {"window": {"n_steps": value}, "max_bptt_steps": {"n_steps": 1}}.get(key, {})
    if key == "n_steps" and isinstance(value, int):
        companions = {"max_bptt_steps": max(value, AgentConfig.max_bptt_steps)}
    try:
        cls(**{**companions, key: value})
    except (TypeError, ValueError) as err:
        raise SweepConfigError(f"{where}: {err}") from None
    return list(value) if kind == "list" else value


def _check_number(where: str, name: str, value: Any, integer: bool) -> float:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value):
        kind = "an integer" if integer else "a finite number"
        raise SweepConfigError(f"{where}.{name} must be {kind}, got {value!r}")
    return value


def check_distribution(cls: type[AgentConfig], key: str, dist: dict[str, Any]) -> dict:
    """A ``{dist: ...}`` search entry, checked: its kind, its parameters, its bounds, and
    that every value it can draw suits option ``key``.

    :raises SweepConfigError: naming ``search.<key>`` and what is allowed."""
    where = f"search.{key}"
    kind = dist.get("dist")
    if kind not in DISTS:
        raise SweepConfigError(
            f"{where}: unknown dist {kind!r} (allowed: {', '.join(DISTS)}; a list is a grid axis)"
        )
    params = set(dist) - {"dist"}
    if params != set(DISTS[kind]):
        raise SweepConfigError(
            f"{where}: dist {kind} takes exactly {', '.join(DISTS[kind])}, got "
            f"{', '.join(sorted(params)) or 'none'}"
        )
    if kind == "choice":
        values = dist["values"]
        if not isinstance(values, list) or not values:
            raise SweepConfigError(f"{where}.values must be a non-empty list, got {values!r}")
        return {"dist": kind, "values": [check_value(cls, key, v) for v in values]}
    integer = kind in ("randint", "lograndint")
    field_kind = _field_kind(cls, key)
    if field_kind not in ("int", "float") or (field_kind == "int" and not integer):
        allowed = "randint, lograndint or choice" if field_kind == "int" else "choice"
        raise SweepConfigError(f"{where}: option {key} ({field_kind}) takes dist {allowed}")
    low = _check_number(where, "low", dist["low"], integer)
    high = _check_number(where, "high", dist["high"], integer)
    if low > high or (integer and low == high):
        rel = "<" if integer else "<="
        raise SweepConfigError(f"{where}: low must be {rel} high, got low={low}, high={high}")
    if kind.startswith("log") and low <= 0:
        raise SweepConfigError(f"{where}: dist {kind} needs low > 0, got low={low}")
    for bound in (low, high - 1 if integer else high):
        check_value(cls, key, bound)
    return {"dist": kind, "low": low, "high": high}


def _check_search(cls: type[AgentConfig], algo: str, search: Any) -> dict[str, Any]:
    if search is None:
        return {}
    if not isinstance(search, dict):
        raise SweepConfigError(
            f"search must map option names to lists or {{dist: ...}}, got {search!r}"
        )
    out: dict[str, Any] = {}
    for key, axis in search.items():
        if key not in cls.names():
            hint = " (an option of --algo ppo)" if key in PPOConfig.names() else ""
            hint += " (seeds are the top-level key seeds)" if key == "seed" else ""
            raise SweepConfigError(
                f"search: unknown option {key!r}{hint}; allowed: the {cls.__name__} fields "
                f"{', '.join(cls.names())}"
            )
        if isinstance(axis, dict):
            out[key] = check_distribution(cls, key, axis)
        elif isinstance(axis, list):
            if not axis:
                raise SweepConfigError(f"search.{key}: empty grid axis (give at least one value)")
            out[key] = [check_value(cls, key, v) for v in axis]
        else:
            raise SweepConfigError(
                f"search.{key} must be a list (a grid axis) or {{dist: ...}}, got {axis!r}"
            )
    return out


def _check_hyperparams(value: Any, algo: str, env: str, env_kwargs: dict) -> str:
    if value in (DEFAULT, NONE):
        path = package_file(algo) if value == DEFAULT else None
    elif isinstance(value, str) and value:
        path = Path(value).absolute()
        if not path.is_file():
            raise SweepConfigError(
                f"hyperparams: no such file {value!r} (allowed: default, none or a FILE)"
            )
    else:
        raise SweepConfigError(f"hyperparams must be default, none or a FILE, got {value!r}")
    if path is not None:
        try:
            name, _ = load_hyperparams(algo, env, env_kwargs, path)
        except ValueError as err:
            raise SweepConfigError(f"hyperparams: {err}") from None
        if name is None and value != DEFAULT:
            raise SweepConfigError(f"hyperparams: {value} has no entry for env {env}")
    return value if value in (DEFAULT, NONE) else str(path)


def _check_env(env: str, env_kwargs: dict[str, Any]) -> None:
    from .env_util import make_env

    try:
        make_env(env, 1, env_kwargs=env_kwargs).close()
    except Exception as err:  # the id is unknown or the environment refuses its kwargs
        raise SweepConfigError(
            f"env {env!r} with env_kwargs {env_kwargs}: {type(err).__name__}: {err}"
        ) from None


def check_config(data: Any, check_env: bool = True) -> SweepConfig:
    """A sweep's configuration from its parsed YAML, every key and value checked (and,
    with ``check_env``, the environment made once).

    :raises SweepConfigError: naming the key and what is allowed."""
    if not isinstance(data, dict):
        raise SweepConfigError(f"a sweep config must be a mapping of keys, got {data!r:.80}")
    for key in data:
        if key not in DEFAULTS:
            raise SweepConfigError(f"unknown key {key!r} (allowed: {', '.join(DEFAULTS)})")
    if not isinstance(data.get("env"), str) or not data["env"]:
        raise SweepConfigError(f"env is required: a Gymnasium id, got {data.get('env')!r}")
    values = {k: DEFAULTS[k] if data.get(k) is None else data[k] for k in DEFAULTS}
    if values["algo"] not in ALGOS:
        raise SweepConfigError(f"algo must be one of {ALGOS}, got {values['algo']!r}")
    for key, minimum in (("total_timesteps", 1), ("n_envs", 1), ("num_samples", 1),
                         ("sample_seed", 0), ("eval_episodes", 1)):  # fmt: skip
        if values[key] is not None:
            _int(key, values[key], minimum)
    seeds = values["seeds"]
    if not isinstance(seeds, list) or not seeds:
        raise SweepConfigError(f"seeds must be a non-empty list of integers, got {seeds!r}")
    for seed in seeds:
        _int("seeds[i]", seed, 0)
    if len(set(seeds)) != len(seeds):
        raise SweepConfigError(f"seeds must not repeat, got {seeds!r}")
    cls = PPOConfig if values["algo"] == "ppo" else AgentConfig
    values["search"] = _check_search(cls, values["algo"], values["search"])
    sampled = any(isinstance(a, dict) for a in values["search"].values())
    if values["num_samples"] > 1 and not sampled:
        raise SweepConfigError(
            f"num_samples {values['num_samples']} needs a {{dist: ...}} axis in search "
            "(without one every sample is the same setting; add seeds instead)"
        )
    env_kwargs = values["env_kwargs"]
    if not isinstance(env_kwargs, dict) or not all(isinstance(k, str) for k in env_kwargs):
        raise SweepConfigError(
            f"env_kwargs must be a mapping of keyword arguments, got {env_kwargs!r}"
        )
    if check_env:
        _check_env(values["env"], env_kwargs)
    values["hyperparams"] = _check_hyperparams(
        values["hyperparams"], values["algo"], values["env"], values["env_kwargs"]
    )
    config = SweepConfig(**values)
    check_settings(config)
    return config


def load_config(path: str | Path) -> SweepConfig:
    """Read and check a sweep's YAML file (:func:`check_config`).

    :raises SweepConfigError: an unreadable file, invalid YAML or an invalid key."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise SweepConfigError(f"cannot read the sweep config {path}: {err}") from None
    except yaml.YAMLError as err:
        raise SweepConfigError(f"{path} is not valid YAML: {err}") from None
    return check_config(data)


def _sample(dist: dict[str, Any], rng: np.random.Generator) -> Any:
    kind = dist["dist"]
    if kind == "choice":
        return dist["values"][int(rng.integers(len(dist["values"])))]
    low, high = dist["low"], dist["high"]
    if kind == "randint":
        return int(rng.integers(low, high))
    if kind == "uniform":
        return float(rng.uniform(low, high))
    u = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    return min(int(np.floor(u)), high - 1) if kind == "lograndint" else u


def settings(config: SweepConfig) -> list[dict[str, Any]]:
    """Every setting of the search: the grid of its lists (in the file's order), with
    ``num_samples`` draws of its distributions per grid point (seeded by
    ``sample_seed``, so a sweep expands the same way every time)."""
    rng = np.random.default_rng(config.sample_seed)
    grid_keys = [k for k, a in config.search.items() if isinstance(a, list)]
    out = []
    for point in itertools.product(*(config.search[k] for k in grid_keys)):
        fixed = dict(zip(grid_keys, point))
        for _ in range(config.num_samples):
            out.append(
                {k: fixed[k] if k in fixed else _sample(a, rng) for k, a in config.search.items()}
            )
    return out


def _entry_options(config: SweepConfig) -> dict[str, Any]:
    if config.hyperparams == NONE:
        return {}
    path = None if config.hyperparams == DEFAULT else config.hyperparams
    _, values = load_hyperparams(config.algo, config.env, config.env_kwargs, path)
    return {k: v for k, v in values.items() if k in config.options_class.names()}


def check_settings(config: SweepConfig) -> list[dict[str, Any]]:
    """Every setting (:func:`settings`), each checked as a whole by the agent's options
    dataclass together with the hyperparameters entry it starts from.

    :raises SweepConfigError: a setting refused (e.g. a ``window`` that does not divide
        ``n_steps``), naming the setting."""
    found = settings(config)
    entry = _entry_options(config)
    for setting in found:
        try:
            config.options_class(**{**entry, **{k: v for k, v in setting.items() if v is not None}})
        except (TypeError, ValueError) as err:
            raise SweepConfigError(f"search: the setting {setting} is refused: {err}") from None
    return found


__all__ = [
    "ALGOS",
    "DEFAULT",
    "DEFAULTS",
    "DISTS",
    "SweepConfig",
    "SweepConfigError",
    "check_config",
    "check_distribution",
    "check_settings",
    "check_value",
    "load_config",
    "settings",
]
