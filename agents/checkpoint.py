"""The agents' checkpoint format: a zip of JSON and tensors, written atomically, read
without executing anything from the file.

``meta.json`` holds the format tag and version, the agent's class, its options
(``get_config``), the spaces and the counters; ``tensors.pt`` holds state dicts only
(policy, its optimizer, the credit engine's gradient critic, optimizer, normaliser and
gradient scale, the reward statistics), read with ``torch.load(weights_only=True)``.

A file is untrusted input. Before anything is built from it, reading checks:

- the zip's end record (at most :data:`MAX_ENTRIES` entries) before its directory is
  parsed, exactly the members :data:`MEMBERS`, and each member's size before it is read
  (:data:`MAX_META_BYTES`, :data:`MAX_TENSOR_BYTES`; a zip bomb is refused unread);
- ``meta.json`` against a schema (:mod:`agents.checkpoint_schema`): known keys only,
  counters integers >= 0, the agent's options through its options dataclass,
  ``policy_kwargs`` from an allow-list (the optimizer one of :data:`OPTIMIZERS`), sizes
  bounded (``MAX_LAYER``, ``MAX_SPACE_SIZE``); no path or other value from the file
  reaches anything but the agent's options;
- ``tensors.pt``: known parts only, every float finite, optimizer hyperparameters equal
  to those the configuration gives, shapes equal to the model's.

Everything refused is ``ValueError("cannot read checkpoint <path>: <what and why>")``.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import zipfile
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm, maybe_make_env

from .checkpoint_schema import (
    AGENTS,
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    OPTIMIZERS,
    _check_file_config,
    _check_optimizer_state,
    _norm,
    _Refused,
    _walk,
    check_meta,
    check_tensors,
)
from .config import STRUCTURAL_KEYS
from .env_util import resolve_env_id
from .spaces_json import space_from_json, space_to_json

if TYPE_CHECKING:
    from .on_policy import RecurrentOnPolicyAlgorithm


#: The members of a checkpoint zip; a file with any other member is refused.
MEMBERS = ("meta.json", "tensors.pt")
#: Largest ``meta.json`` read, in bytes (a real one is a few KiB, Box bounds included).
MAX_META_BYTES = 16 * 2**20
#: Largest ``tensors.pt`` read, in bytes.
MAX_TENSOR_BYTES = 2 * 2**30
#: Most entries the zip's end record may announce, and the largest central directory
#: (bytes): checked before the directory is parsed.
MAX_ENTRIES = 16
MAX_DIRECTORY_BYTES = 64 * 2**10
#: Most records in the nested ``tensors.pt`` archive (one per tensor, plus a few).
MAX_TENSOR_RECORDS = 100_000


# ---------------------------------------------------------------------------- writing
def _write_zip(f: Any, meta: dict[str, Any], tensor_bytes: bytes) -> None:
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("meta.json", json.dumps(meta, indent=2, sort_keys=True))
        zf.writestr("tensors.pt", tensor_bytes)


def write_checkpoint(path: Any, meta: dict[str, Any], tensors: dict[str, Any]) -> None:
    """Write (metadata, tensors) to ``path`` atomically (a temporary file in the same
    folder, flushed to disk, then a rename), or into a buffer. If anything fails (a full
    disk, an interrupt, a kill) the file at ``path`` is the previous one, whole.

    :param path: file path (``.zip`` is appended when it has no suffix) or a buffer.
    :raises OSError: the folder cannot be written (the message names the path).
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
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# ---------------------------------------------------------------------------- reading
def _check_directory(f: Any, max_entries: int, max_bytes: int, what: str) -> None:
    """Refuse a zip whose end record announces more than ``max_entries`` entries or a
    central directory over ``max_bytes``, before ``zipfile`` parses it (zip64 records
    included, which ``zipfile`` would believe)."""
    f.seek(0, os.SEEK_END)
    size = f.tell()
    n = min(size, 22 + 65535)
    f.seek(size - n)
    tail = f.read(n)
    i = tail.rfind(b"PK\x05\x06")
    if i < 0 or len(tail) - i < 22:
        raise _Refused(f"{what} is corrupt or not a zip archive (no end-of-directory record)")
    entries, dir_size = struct.unpack("<HI", tail[i + 10 : i + 16])
    start = size - n + i
    if start >= 20 + 56:
        f.seek(start - 20)
        locator = f.read(20)
        if locator[:4] == b"PK\x06\x07":
            f.seek(start - 20 - 56)
            record = f.read(56)
            if record[:4] == b"PK\x06\x06":
                entries, dir_size = struct.unpack("<QQ", record[32:48])
    if entries > max_entries:
        raise _Refused(f"{what} announces {entries} members; at most {max_entries} are allowed")
    if dir_size > max_bytes:
        raise _Refused(
            f"{what} has a {dir_size}-byte directory; at most {max_bytes} bytes are allowed"
        )


def _read_member(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A member's bytes, refused before reading if it would inflate beyond ``limit``
    (and, should its header lie, after reading at most ``limit + 1`` bytes)."""
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise _Refused(
            f"{name} would inflate to {info.file_size} bytes; at most {limit} are allowed"
        )
    with zf.open(info) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise _Refused(f"{name} inflates beyond {limit} bytes, the most allowed")
    return data


def _read_members(source: Any) -> tuple[bytes, bytes]:
    """(meta.json, tensors.pt) bytes of the zip at ``source`` (path or buffer), bounded."""
    opener = open(source, "rb") if isinstance(source, str) else nullcontext(source)
    with opener as f:
        _check_directory(f, MAX_ENTRIES, MAX_DIRECTORY_BYTES, "the file")
        with zipfile.ZipFile(f, "r") as zf:
            names = [info.filename for info in zf.infolist()]
            if sorted(names) != sorted(MEMBERS):
                raise _Refused(
                    f"it holds the members {names}; an agent checkpoint holds exactly "
                    f"{list(MEMBERS)} (corrupt or not an agent checkpoint)"
                )
            meta = _read_member(zf, "meta.json", MAX_META_BYTES)
            raw = _read_member(zf, "tensors.pt", MAX_TENSOR_BYTES)
    return meta, raw


def _check_tensor_archive(raw: bytes) -> None:
    """``tensors.pt`` is torch's zip of stored (uncompressed) records whose sizes add up
    to no more than its own: torch then allocates nothing larger than the file."""
    f = io.BytesIO(raw)
    _check_directory(f, MAX_TENSOR_RECORDS, MAX_TENSOR_RECORDS * 512, "tensors.pt")
    with zipfile.ZipFile(f, "r") as zf:
        total = 0
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise _Refused(
                    f"tensors.pt record {info.filename!r} is compressed; torch.save "
                    "stores records uncompressed"
                )
            total += info.file_size
        if total > len(raw):
            raise _Refused(f"tensors.pt records claim {total} bytes in a {len(raw)}-byte archive")


def read_checkpoint(path: Any) -> tuple[dict, dict]:
    """Read (metadata, tensors) from a checkpoint without executing anything from it;
    sizes, members and metadata are checked before they are used (module docstring).

    :param path: checkpoint path (``.zip`` may be left out) or a buffer.
    :raises ValueError: ``cannot read checkpoint …``: the file is missing, too large,
        corrupt, not an agent checkpoint, or breaks the schema.
    """
    if not isinstance(path, io.BufferedIOBase):
        path = os.fspath(path)
        if not os.path.exists(path) and os.path.exists(path + ".zip"):
            path += ".zip"
        if not os.path.exists(path):
            raise ValueError(f"cannot read checkpoint {path}: no such file (it does not exist)")
        if os.path.isdir(path):
            raise ValueError(f"cannot read checkpoint {path}: it is a folder, not a file")
    try:
        meta_bytes, raw = _read_members(path)
        meta = check_meta(json.loads(meta_bytes.decode("utf-8")))
        _check_tensor_archive(raw)
        tensors = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        check_tensors(tensors)
    except _Refused as err:
        raise ValueError(f"cannot read checkpoint {path}: {err}") from None
    except (
        ValueError,
        KeyError,
        OSError,
        EOFError,
        RuntimeError,
        RecursionError,
        zipfile.BadZipFile,
        struct.error,
    ) as err:
        raise ValueError(
            f"cannot read checkpoint {path}: corrupt or not an agent checkpoint "
            f"({type(err).__name__}: {err})"
        ) from err
    except Exception as err:  # e.g. pickle.UnpicklingError from weights_only
        raise ValueError(
            f"cannot read checkpoint {path}: refused or corrupt ({type(err).__name__}: {err})"
        ) from err
    return meta, tensors


# ---------------------------------------------------------------------------- saving
def _non_finite(tree: Any, prefix: str) -> str | None:
    """The first part of a state-dict tree holding NaN or inf (None: all finite)."""
    try:
        _walk(prefix, tree)
    except _Refused as err:
        return str(err)
    return None


def save_agent(model: RecurrentOnPolicyAlgorithm, path: Any) -> None:
    """Write ``model``'s checkpoint (see the module docstring) atomically.

    :raises ValueError: a parameter or statistic is NaN or inf (such a file could not be
        loaded: nothing is written).
    """
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
    for key, value in tensors.items():
        bad = _non_finite(value, key)
        if bad is not None:
            raise ValueError(f"cannot save {path}: {bad}")
    write_checkpoint(path, meta, tensors)


# ---------------------------------------------------------------------------- loading
def _config_for(cls: type, path: Any, meta: dict, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's options (checked) with ``kwargs`` applied; structural ones must
    agree."""
    algorithm = meta.get("algorithm", "RecurrentA2C")  # untagged checkpoints are A2C's
    if algorithm != cls.__name__:
        raise ValueError(
            f"checkpoint {path} holds a {algorithm} agent, not a {cls.__name__}: load it "
            f"with agents.{algorithm}.load or agents.load_agent"
        )
    try:
        config = _check_file_config(cls, meta["config"])
    except _Refused as err:
        raise ValueError(f"cannot read checkpoint {path}: {err}") from None
    config.setdefault("sg_normalize_input", False)  # absent: the critic saw raw z
    config.setdefault("sg_trace", "exact")  # absent: the only trace there was
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
    pk.setdefault("value_trains_core", True)  # absent: the value loss trained the core
    pk.setdefault("value_core", False)  # absent: the value head read the actor's core
    if isinstance(pk.get("optimizer_class"), str):  # given by the caller as a name
        name = pk["optimizer_class"]
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; allowed: {list(OPTIMIZERS)}")
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


def _restore(model: Any, tensors: dict[str, Any]) -> None:
    """Load the state dicts into the freshly built ``model`` (raises _Refused)."""
    policy = model.policy
    _check_optimizer_state("policy_optimizer", tensors["policy_optimizer"], policy.optimizer)
    engine = model.credit_engine
    if engine.optimizer is not None and "sg_optimizer" in tensors:
        _check_optimizer_state("sg_optimizer", tensors["sg_optimizer"], engine.optimizer)
    scale = getattr(engine, "scale_sq", None)
    if "sg_scale_sq" in tensors:
        want = () if scale is None else tuple(scale.shape)  # a scalar running mean square
        got = tensors["sg_scale_sq"]
        if tuple(got.shape) != want:
            raise _Refused(f"sg_scale_sq has shape {tuple(got.shape)}, the model's {want}")
        if bool((got < 0).any()):
            raise _Refused(f"sg_scale_sq must be >= 0, got {got.tolist()}")
    if "sg_reliability" in tensors:
        got = tensors["sg_reliability"]
        if tuple(got.shape) != () or not bool(torch.isfinite(got)):
            raise _Refused(f"sg_reliability must be one finite number, got {got.tolist()}")
    try:
        policy.load_state_dict(tensors["policy"])
        policy.optimizer.load_state_dict(tensors["policy_optimizer"])
        engine.load_state_dict(tensors)
    except (KeyError, RuntimeError, ValueError, TypeError, IndexError) as err:
        raise _Refused(f"it does not match its configuration: {err}") from None
    if bool((policy.obs_var < 0).any()) or float(policy.obs_count) <= 0:
        raise _Refused("policy observation statistics need obs_var >= 0 and obs_count > 0")


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
        _restore(model, tensors)
        if model.normalize_reward and "reward_rms" not in tensors:
            raise _Refused("normalize_reward=True but no reward statistics")
    except _Refused as err:
        raise ValueError(f"cannot read checkpoint {path}: {err}") from None
    if model.normalize_reward:
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
    return AGENTS[name].load(path, env=env, device=device, **kwargs)


__all__ = [
    "AGENTS",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "MAX_META_BYTES",
    "MAX_TENSOR_BYTES",
    "OPTIMIZERS",
    "check_meta",
    "check_tensors",
    "load_agent",
    "load_into",
    "read_checkpoint",
    "save_agent",
    "write_checkpoint",
]
