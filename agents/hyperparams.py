"""Per-environment hyperparameters as data: one YAML file per algorithm (as rl-zoo3).

``agents/hyperparams/a2c.yml`` (RecurrentA2C) and ``agents/hyperparams/ppo.yml``
(RecurrentPPO) hold, per environment, the options that a documented result used.
``scripts/train.py`` takes the entry for its ``--env`` (``--hyperparams none``: the bare
defaults; ``--hyperparams FILE``: a file of the same format); flags given on the
command line override the entry. The format::

    # docs/results/tmaze.md: L = 100
    bpl/TMaze-v0 corridor_length=100:     # the env id, then the env kwargs matched
      env_kwargs: {corridor_length: 100}  # matched against --env-kwargs (a subset)
      n_envs: 8
      total_timesteps: 300000
      ent_coef: 0.003                     # AgentConfig / PPOConfig field names
      learning_rate_schedule: linear      # constant or linear (as the flag)
      policy_kwargs: {chrono_max: 200}    # as the flags: chrono_max, gate_bias,
                                          # encoder_size, head_size, normalize_obs,
                                          # value_trains_core, value_core

An entry applies to an environment of its id whose env kwargs hold all of the entry's
``env_kwargs``; the most specific one (most env kwargs matched) is taken. Write floats
with a dot (``1.0e-3``): YAML reads ``1e-3`` as a string.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import yaml

from .config import AgentConfig, PPOConfig

#: The package's files, per ``--algo``.
FOLDER = Path(__file__).resolve().parent / "hyperparams"
#: Keys an entry may hold besides the options of its algorithm's dataclass.
RUN_KEYS = ("n_envs", "total_timesteps", "learning_rate_schedule", "policy_kwargs", "env_kwargs")
#: Keys of an entry's ``policy_kwargs`` (the flags ``--chrono-max``, ``--gate-bias``,
#: ``--encoder-size``, ``--head-size``, ``--[no-]normalize-obs``,
#: ``--[no-]value-trains-core`` and ``--[no-]value-core``).
POLICY_KEYS = (
    "chrono_max",
    "gate_bias",
    "encoder_size",
    "head_size",
    "normalize_obs",
    "value_trains_core",
    "value_core",
)
#: ``policy_kwargs`` keys that hold a bool / an integer >= 0.
_BOOL_KEYS = ("normalize_obs", "value_trains_core", "value_core")
_SIZE_KEYS = ("encoder_size", "head_size")
#: ``--hyperparams`` value that takes no entry.
NONE = "none"


def package_file(algo: str) -> Path:
    """The package's file for ``algo`` (``a2c`` or ``ppo``)."""
    return FOLDER / f"{algo}.yml"


def display_path(path: Path) -> str:
    """``agents/hyperparams/<algo>.yml`` for a package file, else the path as given."""
    if path.resolve().parent == FOLDER:
        return f"agents/hyperparams/{path.name}"
    return str(path)


def entry_name(env_id: str, env_kwargs: dict[str, Any] | None = None) -> str:
    """An entry's name: the env id, then ``key=value`` for each matched env kwarg."""
    kw = env_kwargs or {}
    return " ".join([env_id] + [f"{k}={json.dumps(kw[k])}" for k in sorted(kw)])


def _config_class(algo: str) -> type[AgentConfig]:
    if algo not in ("a2c", "ppo"):
        raise ValueError(f"algo must be 'a2c' or 'ppo', got {algo!r}")
    return PPOConfig if algo == "ppo" else AgentConfig


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read the hyperparameters file {path}: {err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must map entry names to options, got {type(data).__name__}")
    return data


def _check_policy_kwargs(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"policy_kwargs must be a mapping, got {value!r}")
    out: dict[str, Any] = {}
    for key, v in value.items():
        if key not in POLICY_KEYS:
            raise ValueError(f"unknown key policy_kwargs.{key} (allowed: {', '.join(POLICY_KEYS)})")
        if key == "chrono_max":
            v = 0 if v is None else v
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"policy_kwargs.chrono_max must be an integer >= 0, got {v!r}")
        elif key in _BOOL_KEYS:
            if not isinstance(v, bool):
                raise ValueError(f"policy_kwargs.{key} must be a bool, got {v!r}")
        elif key in _SIZE_KEYS:
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"policy_kwargs.{key} must be an integer >= 0, got {v!r}")
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"policy_kwargs.gate_bias must be a finite number, got {v!r}")
        out[key] = float(v) if key == "gate_bias" else v
    return out


def _check_run_key(key: str, value: Any) -> Any:
    if key == "policy_kwargs":
        return _check_policy_kwargs(value)
    if key == "learning_rate_schedule":
        if value not in ("constant", "linear"):
            raise ValueError(f"learning_rate_schedule must be constant or linear, got {value!r}")
        return value
    minimum = 0 if key == "total_timesteps" else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_entry(cls: type[AgentConfig], name: Any, entry: Any) -> tuple[str, dict, dict]:
    """(env id, env kwargs matched, options) of one entry, every value checked."""
    if not isinstance(name, str) or not name.split():
        raise ValueError(f"entry names must be env ids, got {name!r}")
    if entry is None:
        entry = {}
    if not isinstance(entry, dict):
        raise ValueError(f"entry {name!r} must be a mapping of options, got {entry!r}")
    allowed = set(cls.names()) | set(RUN_KEYS)
    for key in entry:
        if key not in allowed:
            ppo_only = key in PPOConfig.names()
            hint = " (an option of RecurrentPPO: put it in ppo.yml)" if ppo_only else ""
            raise ValueError(f"entry {name!r} has an unknown key {key!r}{hint}")
    env_kwargs = entry.get("env_kwargs") or {}
    if not isinstance(env_kwargs, dict) or not all(isinstance(k, str) for k in env_kwargs):
        raise ValueError(f"entry {name!r}: env_kwargs must be a mapping, got {env_kwargs!r}")
    env_id = name.split()[0]
    if name != entry_name(env_id, env_kwargs):
        raise ValueError(
            f"entry {name!r} must be named {entry_name(env_id, env_kwargs)!r} "
            "(its env id, then key=value for each of its env_kwargs)"
        )
    values = {k: v for k, v in entry.items() if k != "env_kwargs"}
    try:
        for key in RUN_KEYS[:-1]:
            if key in values:
                values[key] = _check_run_key(key, values[key])
        options = {k: v for k, v in values.items() if k not in RUN_KEYS}
        if isinstance(options.get("learning_rate"), dict):
            raise ValueError("learning_rate must be a number (use learning_rate_schedule: linear)")
        config = cls(**options)
    except (TypeError, ValueError) as err:
        raise ValueError(f"entry {name!r}: {err}") from None
    for key in options:
        value = getattr(config, key)
        values[key] = list(value) if isinstance(value, tuple) else value
    return env_id, env_kwargs, values


def read_file(algo: str, path: str | Path | None = None) -> dict[str, tuple[str, dict, dict]]:
    """Every entry of a file (None: the package's), checked: name -> (env id, env
    kwargs matched, options).

    :raises ValueError: naming the file and the entry: an unknown key, a bad value."""
    cls = _config_class(algo)
    path = package_file(algo) if path is None else Path(path)
    entries = {}
    for name, entry in _read(path).items():
        try:
            entries[name] = _check_entry(cls, name, entry)
        except ValueError as err:
            raise ValueError(f"{display_path(path)}: {err}") from None
    return entries


def load_hyperparams(
    algo: str,
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    path: str | Path | None = None,
) -> tuple[str | None, dict[str, Any]]:
    """The entry for ``env_id`` with ``env_kwargs`` in the file for ``algo`` (None: the
    package's ``agents/hyperparams/<algo>.yml``): its name and options, or (None, {}).

    The entry must hold the env id, and its ``env_kwargs`` must be a subset of
    ``env_kwargs``; of those the one matching most env kwargs is taken.

    :raises ValueError: the file is invalid (naming the file, entry and key), or two
        entries match equally.
    """
    given = env_kwargs or {}
    matches = []
    for name, (entry_id, matched, values) in read_file(algo, path).items():
        if entry_id == env_id and all(k in given and given[k] == v for k, v in matched.items()):
            matches.append((len(matched), name, values))
    if not matches:
        return None, {}
    matches.sort(key=lambda m: -m[0])
    if len(matches) > 1 and matches[0][0] == matches[1][0]:
        raise ValueError(
            f"{display_path(Path(path) if path else package_file(algo))}: entries "
            f"{matches[0][1]!r} and {matches[1][1]!r} both match {entry_name(env_id, given)!r}"
        )
    return matches[0][1], dict(matches[0][2])


def apply_hyperparams(
    args: argparse.Namespace, given: dict[str, Any], env_kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Set the flags of ``args`` that were not given (``given``) from the entry that
    ``--hyperparams`` selects; returns the record kept in the run's config.json."""
    choice = getattr(args, "hyperparams", None)
    if choice == NONE:
        return {"file": None, "entry": None, "values": {}, "overridden": []}
    path = package_file(args.algo) if choice is None else Path(choice)
    if choice is not None and not path.is_file():
        raise ValueError(f"--hyperparams {choice}: no such file (or 'none' for the defaults)")
    name, values = load_hyperparams(args.algo, args.env, env_kwargs, path)
    if name is None and choice is not None:
        raise ValueError(
            f"--hyperparams {choice} has no entry for {entry_name(args.env, env_kwargs)} "
            f"(entries: {', '.join(read_file(args.algo, path)) or 'none'})"
        )
    overridden = []
    flat = {k: v for k, v in values.items() if k != "policy_kwargs"}
    flat.update(values.get("policy_kwargs", {}))
    for key, value in flat.items():
        if key in given:
            overridden.append(key)
        else:
            setattr(args, key, value)
    return {
        "file": display_path(path),
        "entry": name,
        "values": values,
        "overridden": sorted(overridden),
    }


def describe(record: dict[str, Any] | None, env: str, resuming: bool = False) -> str:
    """The line train.py prints about the hyperparameters it used."""
    if resuming:
        used = record is not None and record.get("entry") is not None
        first = f", first from {record['file']} [{record['entry']}]" if used else ""
        return f"hyperparameters: the resumed run's saved configuration{first}"
    if record is None:
        return "hyperparameters: the agent's defaults"
    if record["file"] is None:
        return "hyperparameters: none (--hyperparams none: the agent's defaults)"
    if record["entry"] is None:
        return f"hyperparameters: {record['file']} has no entry for {env} (the agent's defaults)"
    line = f"hyperparameters: {record['file']} [{record['entry']}]"
    if record["overridden"]:
        flags = " ".join(f"--{k.replace('_', '-')}" for k in record["overridden"])
        line += f", overridden by {flags}"
    return line


def saved_record(config_path: Path) -> dict[str, Any] | None:
    """The hyperparameters record of a run's config.json (None: none saved)."""
    try:
        record = json.loads(config_path.read_text()).get("hyperparams")
    except (OSError, ValueError, AttributeError):
        return None
    return record if isinstance(record, dict) else None


__all__ = [
    "FOLDER",
    "NONE",
    "POLICY_KEYS",
    "apply_hyperparams",
    "describe",
    "entry_name",
    "load_hyperparams",
    "package_file",
    "read_file",
    "saved_record",
]
