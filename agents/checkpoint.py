"""The agents' checkpoint format: a zip of JSON and tensors, written atomically, read
without executing anything from the file.

``meta.json`` holds the format tag and version, the agent's class, its options
(``get_config``), the spaces and the counters; ``tensors.pt`` holds state dicts only
(policy, its optimizer, the credit engine's gradient critic, optimizer, normaliser and
gradient scale, the reward statistics), read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm, maybe_make_env

from .config import STRUCTURAL_KEYS
from .env_util import resolve_env_id
from .spaces_json import space_from_json, space_to_json

if TYPE_CHECKING:
    from .on_policy import RecurrentOnPolicyAlgorithm

#: Checkpoint format tag; files without it are refused.
CHECKPOINT_FORMAT = "bplambda.RecurrentA2C"
CHECKPOINT_VERSION = 1
#: Agent classes by the name their checkpoints carry (filled as the classes are defined).
AGENTS: dict[str, type[RecurrentOnPolicyAlgorithm]] = {}


def _write_zip(f: Any, meta: dict[str, Any], tensor_bytes: bytes) -> None:
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("meta.json", json.dumps(meta, indent=2, sort_keys=True))
        zf.writestr("tensors.pt", tensor_bytes)


def write_checkpoint(path: Any, meta: dict[str, Any], tensors: dict[str, Any]) -> None:
    """Write (metadata, tensors) to ``path`` atomically (a temporary file, then a rename),
    or into a buffer.

    :param path: file path (``.zip`` is appended when it has no suffix) or a buffer.
    """
    buf = io.BytesIO()
    torch.save(tensors, buf)
    if isinstance(path, io.BufferedIOBase):
        _write_zip(path, meta, buf.getvalue())
        return
    path = os.fspath(path)
    if not os.path.splitext(path)[1]:
        path += ".zip"
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".zip", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_zip(f, meta, buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_checkpoint(path: Any) -> tuple[dict, dict]:
    """Read (metadata, tensors) from a checkpoint without executing anything from it.

    :param path: checkpoint path (``.zip`` may be left out) or a buffer.
    :raises ValueError: the file is missing, corrupt or not an agent checkpoint.
    """
    if not isinstance(path, io.BufferedIOBase):
        path = os.fspath(path)
        if not os.path.exists(path) and os.path.exists(path + ".zip"):
            path += ".zip"
        if not os.path.exists(path):
            raise ValueError(f"checkpoint {path} does not exist")
    try:
        with zipfile.ZipFile(path, "r") as zf:
            meta = json.loads(zf.read("meta.json").decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
                raise ValueError("no agent format tag")
            if meta.get("version") != CHECKPOINT_VERSION:
                raise ValueError(f"version {meta.get('version')!r}, expected {CHECKPOINT_VERSION}")
            raw = zf.read("tensors.pt")
        tensors = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except (ValueError, KeyError, OSError, EOFError, RuntimeError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"cannot read checkpoint {path}: corrupt or not an agent checkpoint ({err})"
        ) from err
    except Exception as err:  # e.g. pickle.UnpicklingError from weights_only
        raise ValueError(f"cannot read checkpoint {path}: refused or corrupt ({err})") from err
    return meta, tensors


def save_agent(model: RecurrentOnPolicyAlgorithm, path: Any) -> None:
    """Write ``model``'s checkpoint (see the module docstring) atomically."""
    meta = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "algorithm": type(model).__name__,
        "config": model.get_config(),
        "observation_space": space_to_json(model.observation_space),
        "action_space": space_to_json(model.action_space),
        "num_timesteps": int(model.num_timesteps),
        "n_updates": int(model._n_updates),
        "episode_num": int(model._episode_num),
    }
    tensors: dict[str, Any] = {
        "policy": model.policy.state_dict(),
        "policy_optimizer": model.policy.optimizer.state_dict(),
        **model.credit_engine.state_dict(),
    }
    if model.normalize_reward:
        rms = model.reward_rms
        stats = [float(rms.mean), float(rms.var), float(rms.count)]
        tensors["reward_rms"] = torch.tensor(stats, dtype=torch.float64)
    write_checkpoint(path, meta, tensors)


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value


def _config_for(cls: type, path: Any, meta: dict, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's options with ``kwargs`` applied; structural ones must agree."""
    algorithm = meta.get("algorithm", "RecurrentA2C")  # untagged checkpoints are A2C's
    if algorithm != cls.__name__:
        raise ValueError(
            f"checkpoint {path} holds a {algorithm} agent, not a {cls.__name__}: load it "
            f"with agents.{algorithm}.load or agents.load_agent"
        )
    config = dict(meta["config"])
    config.setdefault("sg_normalize_input", False)  # absent: the critic saw raw z
    mismatch = {
        k: (config.get(k), kwargs[k])
        for k in STRUCTURAL_KEYS
        if k in kwargs and _norm(kwargs[k]) != _norm(config.get(k))
    }
    if mismatch:
        diff = ", ".join(
            f"{k}: checkpoint {a!r} vs requested {b!r}" for k, (a, b) in mismatch.items()
        )
        raise ValueError(f"checkpoint {path} has another configuration ({diff})")
    config.update(kwargs)
    pk = dict(config.get("policy_kwargs") or {})
    if isinstance(pk.get("optimizer_class"), str):
        name = pk["optimizer_class"]
        if not hasattr(torch.optim, name):
            raise ValueError(f"checkpoint names an unknown optimizer {name!r}")
        pk["optimizer_class"] = getattr(torch.optim, name)
    config["policy_kwargs"] = pk
    return config


def _env_for(path: Any, meta: dict, env: Any) -> Any:
    """The environment to continue on (None stays None); its spaces must match."""
    if isinstance(env, str):
        env = gym.make(resolve_env_id(env))
    if env is None:
        return None
    env = BaseAlgorithm._wrap_env(maybe_make_env(env, 0), 0)
    for name in ("observation", "action"):
        want, got = space_from_json(meta[f"{name}_space"]), getattr(env, f"{name}_space")
        if want != got:
            raise ValueError(
                f"checkpoint {path} was trained with {name} space {want}, "
                f"but the environment has {got}"
            )
    return env


def load_into(cls: type, path: Any, env: Any = None, device: Any = "auto", **kwargs: Any) -> Any:
    """A ``cls`` agent from the checkpoint at ``path`` (``cls.load``).

    :param kwargs: options to override; structural ones must agree with the checkpoint.
    :raises ValueError: corrupt file, not a checkpoint, or a mismatched configuration.
    """
    meta, tensors = read_checkpoint(path)
    config = _config_for(cls, path, meta, kwargs)
    env = _env_for(path, meta, env)
    try:
        model = cls("MlpRecurrentPolicy", env, device=device, _init_setup_model=False, **config)
    except TypeError as err:
        raise ValueError(f"checkpoint {path} has an unknown hyperparameter: {err}") from err
    if env is None:
        model.observation_space = space_from_json(meta["observation_space"])
        model.action_space = space_from_json(meta["action_space"])
        model.n_envs = 1
    model._setup_model()
    try:
        model.policy.load_state_dict(tensors["policy"])
        model.policy.optimizer.load_state_dict(tensors["policy_optimizer"])
        model.credit_engine.load_state_dict(tensors)
    except (KeyError, RuntimeError, ValueError) as err:
        raise ValueError(f"checkpoint {path} does not match its configuration: {err}") from err
    if model.normalize_reward:
        if "reward_rms" not in tensors:
            raise ValueError(
                f"checkpoint {path} has normalize_reward=True but no reward statistics"
            )
        mean, var, count = tensors["reward_rms"].double().tolist()
        model.reward_rms.mean, model.reward_rms.var = np.float64(mean), np.float64(var)
        model.reward_rms.count = count
    model.num_timesteps = int(meta["num_timesteps"])
    model._n_updates = int(meta["n_updates"])
    model._episode_num = int(meta.get("episode_num", 0))
    return model


def load_agent(path: Any, env: Any = None, device: Any = "auto", **kwargs: Any) -> Any:
    """Load a checkpoint with the class that saved it (RecurrentA2C or RecurrentPPO).

    :param path: checkpoint path (``.zip`` may be left out) or a seekable buffer.
    :param env: environment to continue training on (its spaces must match).
    :param device: torch device.
    :param kwargs: options to override, as the class's ``load``.
    :raises ValueError: corrupt file, not a checkpoint, or an unknown agent class.
    """
    meta, _ = read_checkpoint(path)
    if isinstance(path, io.IOBase):
        path.seek(0)
    name = meta.get("algorithm", "RecurrentA2C")
    if name not in AGENTS:
        raise ValueError(
            f"checkpoint {path} names an unknown agent {name!r}; known: {sorted(AGENTS)}"
        )
    return AGENTS[name].load(path, env=env, device=device, **kwargs)


__all__ = [
    "AGENTS",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "load_agent",
    "load_into",
    "read_checkpoint",
    "save_agent",
    "write_checkpoint",
]
