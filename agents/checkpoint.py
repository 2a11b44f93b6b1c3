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
- ``meta.json`` against a schema: known keys only, counters integers >= 0, the agent's
  options through its options dataclass, ``policy_kwargs`` from an allow-list (the
  optimizer one of :data:`OPTIMIZERS`), sizes bounded (:data:`MAX_LAYER`,
  :data:`MAX_SPACE_SIZE`); no path or other value from the file reaches anything but
  the agent's options;
- ``tensors.pt``: known parts only, every float finite, optimizer hyperparameters equal
  to those the configuration gives, shapes equal to the model's.

Everything refused is ``ValueError("cannot read checkpoint <path>: <what and why>")``.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import tempfile
import zipfile
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
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
#: Largest layer a checkpoint may ask for (hidden_size, encoder/head/critic layers).
MAX_LAYER = 4096
#: Largest flattened observation or action a checkpoint's spaces may have.
MAX_SPACE_SIZE = 2**20
#: Largest step / update / episode counter.
MAX_COUNTER = 2**62
#: Upper bounds of the agent's size options in a checkpoint (the options dataclass checks
#: the lower bounds and types).
SIZE_OPTIONS = {
    "hidden_size": MAX_LAYER,
    "n_steps": 2**20,
    "window": 2**20,
    "max_bptt_steps": 2**24,
    "sg_cosine_horizon": 2**20,
    "stats_window_size": 2**20,
    "n_epochs": 10_000,
    "batch_size": 2**24,
}
#: Most hidden layers of the gradient critic.
MAX_SG_LAYERS = 8
#: Top-level keys of ``meta.json``: required, then optional (older files lack them).
META_REQUIRED = (
    "format",
    "version",
    "config",
    "observation_space",
    "action_space",
    "num_timesteps",
    "n_updates",
)
META_OPTIONAL = ("algorithm", "episode_num")
#: Policy optimizers a checkpoint may name (``torch.optim`` classes).
OPTIMIZERS = ("Adam", "AdamW", "SGD", "RMSprop")
#: Optimizer keyword arguments a checkpoint may set.
OPTIMIZER_KWARGS = (
    "eps",
    "betas",
    "weight_decay",
    "momentum",
    "alpha",
    "amsgrad",
    "nesterov",
    "dampening",
    "centered",
)
#: Parts of ``tensors.pt``: required, then those only some configurations have.
TENSORS_REQUIRED = ("policy", "policy_optimizer")
TENSORS_OPTIONAL = (
    "gradient_critic",
    "sg_optimizer",
    "sg_scale_sq",
    "sg_input_norm",
    "sg_reliability",
    "reward_rms",
)


class _Refused(ValueError):
    """What is wrong with a checkpoint (wrapped into "cannot read checkpoint …")."""


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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _space_size(space: spaces.Space) -> int:
    """Flattened size of a space as the policy would build it (one-hot for discrete)."""
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.MultiDiscrete):
        return int(np.sum(space.nvec, dtype=np.float64))
    return int(np.prod(space.shape, dtype=np.float64))


def _check_space(name: str, data: Any) -> spaces.Space:
    from .policy import check_spaces  # noqa: PLC0415 (policy imports torch layers)

    if not isinstance(data, dict):
        raise _Refused(f"{name} must be a JSON object describing a space, got {data!r:.80}")
    if data.get("type") == "Box" and data.get("dtype") not in (
        "float16",
        "float32",
        "float64",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
    ):
        raise _Refused(f"{name} has Box dtype {data.get('dtype')!r}; allowed: float and int types")
    shape = data.get("shape", [])
    if data.get("type") == "Box" and (
        not isinstance(shape, list)
        or not all(_is_int(s) and 0 < s <= MAX_SPACE_SIZE for s in shape)
        or math.prod(shape) > MAX_SPACE_SIZE
    ):
        raise _Refused(
            f"{name} has Box shape {shape!r:.80}; allowed: positive sizes, at most "
            f"{MAX_SPACE_SIZE} elements"
        )
    for key in ("n", "nvec"):  # bounded before the space is built
        value = data.get(key)
        values = value if isinstance(value, list) else [value]
        if key in data and not all(_is_int(v) and 0 < v <= MAX_SPACE_SIZE for v in values):
            raise _Refused(
                f"{name} has {key}={value!r:.80}; allowed: integers in [1, {MAX_SPACE_SIZE}]"
            )
    try:
        space = space_from_json(data)
    except (ValueError, TypeError, OverflowError) as err:
        raise _Refused(f"{name}: {err}") from None
    size = _space_size(space)
    if not 0 < size <= MAX_SPACE_SIZE:
        raise _Refused(f"{name} {space} flattens to {size} values; allowed: 1 to {MAX_SPACE_SIZE}")
    probe = (
        (space, spaces.Discrete(2)) if name == "observation_space" else (spaces.Discrete(2), space)
    )
    try:
        check_spaces(*probe)
    except ValueError as err:
        raise _Refused(f"{name}: {err}") from None
    return space


def check_meta(meta: Any) -> dict[str, Any]:
    """Check ``meta.json``'s top level against the schema (see the module docstring);
    returns it. The agent's options are checked by :func:`_config_for`.

    :raises ValueError: (an internal subclass) naming the key, its value and what is allowed.
    """
    if not isinstance(meta, dict):
        raise _Refused(f"meta.json must be a JSON object, got {type(meta).__name__}")
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise _Refused(
            f"no agent format tag (format {meta.get('format')!r:.80}, expected "
            f"{CHECKPOINT_FORMAT!r}): corrupt or not an agent checkpoint"
        )
    if meta.get("version") != CHECKPOINT_VERSION or isinstance(meta.get("version"), bool):
        raise _Refused(f"version {meta.get('version')!r:.80}, expected {CHECKPOINT_VERSION}")
    missing = [k for k in META_REQUIRED if k not in meta]
    if missing:
        raise _Refused(f"meta.json lacks {missing}; it needs {list(META_REQUIRED)}")
    unknown = sorted(set(meta) - set(META_REQUIRED) - set(META_OPTIONAL))
    if unknown:
        raise _Refused(
            f"meta.json has unknown keys {unknown}; allowed: "
            f"{sorted(META_REQUIRED + META_OPTIONAL)}"
        )
    algorithm = meta.get("algorithm", "RecurrentA2C")
    if not isinstance(algorithm, str) or algorithm not in AGENTS:
        raise _Refused(f"names an unknown agent {algorithm!r:.80}; known: {sorted(AGENTS)}")
    for key in ("num_timesteps", "n_updates", "episode_num"):
        value = meta.get(key, 0)
        if not _is_int(value) or not 0 <= value <= MAX_COUNTER:
            raise _Refused(f"{key} must be an integer in [0, {MAX_COUNTER}], got {value!r:.80}")
    if not isinstance(meta["config"], dict):
        raise _Refused(f"config must be a JSON object, got {meta['config']!r:.80}")
    _check_space("observation_space", meta["observation_space"])
    _check_space("action_space", meta["action_space"])
    return meta


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


def _walk(prefix: str, value: Any, depth: int = 0) -> None:
    """Every leaf of the tensors' tree must be a finite tensor or a plain value."""
    if depth > 16:
        raise _Refused(f"tensors.pt nests deeper than 16 levels at {prefix}")
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex():
            if not bool(torch.isfinite(value).all()):
                raise _Refused(
                    f"{prefix} holds NaN or inf; a checkpoint must hold finite values "
                    "(was it saved from a diverged run?)"
                )
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Refused(f"{prefix} is {value}; a checkpoint must hold finite values")
        return
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _walk(f"{prefix}.{k}", v, depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _walk(f"{prefix}[{i}]", v, depth + 1)
        return
    raise _Refused(f"{prefix} is a {type(value).__name__}; allowed: tensors and plain values")


def check_tensors(tensors: Any) -> dict[str, Any]:
    """Check ``tensors.pt``'s parts: known keys, state dicts, every float finite."""
    if not isinstance(tensors, dict):
        raise _Refused(f"tensors.pt must hold a dict of state dicts, got {type(tensors).__name__}")
    missing = [k for k in TENSORS_REQUIRED if k not in tensors]
    unknown = sorted(set(map(str, tensors)) - set(TENSORS_REQUIRED) - set(TENSORS_OPTIONAL))
    if missing or unknown:
        raise _Refused(
            f"tensors.pt has parts {sorted(map(str, tensors))}; it needs "
            f"{list(TENSORS_REQUIRED)} and may hold {list(TENSORS_OPTIONAL)}"
        )
    for key, value in tensors.items():
        if key in ("sg_scale_sq", "sg_reliability", "reward_rms"):
            if not isinstance(value, torch.Tensor):
                raise _Refused(f"{key} must be a tensor, got {type(value).__name__}")
        elif not isinstance(value, dict):
            raise _Refused(f"{key} must be a state dict, got {type(value).__name__}")
        _walk(key, value)
    rms = tensors.get("reward_rms")
    if rms is not None:
        if tuple(rms.shape) != (3,):
            raise _Refused(f"reward_rms must have shape (3,), got {tuple(rms.shape)}")
        _, var, count = rms.double().tolist()
        if var < 0 or count <= 0:
            raise _Refused(f"reward_rms needs var >= 0 and count > 0, got {var}, {count}")
    return tensors


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
def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value


def _finite_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _check_policy_kwargs(pk: Any) -> dict[str, Any]:
    """The checkpoint's ``policy_kwargs``: allow-listed keys with checked values; the
    optimizer's name becomes its ``torch.optim`` class."""
    if not isinstance(pk, dict):
        raise _Refused(f"config.policy_kwargs must be a JSON object, got {pk!r:.80}")
    size = lambda v: _is_int(v) and 0 <= v <= MAX_LAYER  # noqa: E731
    checks = {
        "encoder_size": (size, f"an integer in [0, {MAX_LAYER}]"),
        "head_size": (size, f"an integer in [0, {MAX_LAYER}]"),
        "normalize_obs": (lambda v: isinstance(v, bool), "a bool"),
        "ortho_init": (lambda v: isinstance(v, bool), "a bool"),
        "normalize_images": (lambda v: isinstance(v, bool), "a bool"),
        "gate_bias": (_finite_number, "a finite number"),
        "log_std_init": (_finite_number, "a finite number"),
        "chrono_max": (
            lambda v: v is None or v == "auto" or (_is_int(v) and 2 <= v <= 2**20),
            "None, 'auto' or an integer in [2, 1048576]",
        ),
        "optimizer_class": (lambda v: v in OPTIMIZERS, f"one of {list(OPTIMIZERS)}"),
        "optimizer_kwargs": (lambda v: isinstance(v, dict), "a JSON object"),
    }
    unknown = sorted(set(pk) - set(checks))
    if unknown:
        raise _Refused(
            f"config.policy_kwargs has unknown keys {unknown}; allowed: {sorted(checks)}"
        )
    out = dict(pk)
    for key, value in pk.items():
        ok, allowed = checks[key]
        if not ok(value):
            raise _Refused(f"config.policy_kwargs.{key} must be {allowed}, got {value!r:.80}")
    for key, value in pk.get("optimizer_kwargs", {}).items():
        fine = _finite_number(value) or isinstance(value, bool)
        fine = fine or (
            isinstance(value, list) and len(value) == 2 and all(map(_finite_number, value))
        )
        if key not in OPTIMIZER_KWARGS or not fine:
            raise _Refused(
                f"config.policy_kwargs.optimizer_kwargs.{key}={value!r:.80} is not allowed; "
                f"allowed keys {list(OPTIMIZER_KWARGS)} with numbers, bools or pairs"
            )
        if key == "betas":
            out["optimizer_kwargs"] = {**out["optimizer_kwargs"], key: tuple(value)}
    if "optimizer_class" in pk:
        out["optimizer_class"] = getattr(torch.optim, pk["optimizer_class"])
    return out


def _check_file_config(cls: type, config: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's ``config`` checked against ``cls``'s options (known keys, types
    and ranges through the options dataclass, sizes bounded)."""
    names = set(cls.config_class.names())
    allowed = names | {"policy_kwargs", "seed"}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise _Refused(
            f"config has unknown options {unknown} for a {cls.__name__}; allowed: {sorted(allowed)}"
        )
    for key, bound in SIZE_OPTIONS.items():
        value = config.get(key)
        if _is_int(value) and value > bound:
            raise _Refused(f"config.{key} must be at most {bound}, got {value}")
    sizes = config.get("sg_hidden_sizes", [])
    if (
        not isinstance(sizes, list)
        or len(sizes) > MAX_SG_LAYERS
        or not all(_is_int(s) and 1 <= s <= MAX_LAYER for s in sizes)
    ):
        raise _Refused(
            f"config.sg_hidden_sizes must be a list of at most {MAX_SG_LAYERS} integers in "
            f"[1, {MAX_LAYER}], got {sizes!r:.80}"
        )
    seed = config.get("seed")
    if seed is not None and not (_is_int(seed) and 0 <= seed < 2**32):
        raise _Refused(f"config.seed must be None or an integer in [0, 2**32), got {seed!r:.80}")
    try:
        cls.config_class(**{k: v for k, v in config.items() if k in names})
    except (ValueError, TypeError) as err:
        raise _Refused(f"config: {err}") from None
    out = dict(config)
    pk = config.get("policy_kwargs")
    out["policy_kwargs"] = _check_policy_kwargs({} if pk is None else pk)
    return out


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


def _check_optimizer_state(name: str, saved: Any, optimizer: torch.optim.Optimizer) -> None:
    """The saved optimizer's hyperparameters must be those the configuration gives (the
    learning rate aside, which the schedule sets): a file does not set them."""
    fresh = optimizer.state_dict()["param_groups"]
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    if not isinstance(groups, list) or len(groups) != len(fresh):
        raise _Refused(f"{name} has no matching param_groups (expected {len(fresh)} group)")
    for group, ref in zip(groups, fresh, strict=True):
        if not isinstance(group, dict):
            raise _Refused(f"{name}.param_groups holds a {type(group).__name__}, not a dict")
        unknown = sorted(set(group) - set(ref) - {"initial_lr"})
        if unknown:
            raise _Refused(
                f"{name}.param_groups has unknown keys {unknown}; allowed: {sorted(ref)}"
            )
        for key, value in group.items():
            if key in ("params", "initial_lr"):
                continue
            if key == "lr":
                if not _finite_number(value) or value < 0:
                    raise _Refused(
                        f"{name} learning rate must be a finite number >= 0, got {value!r}"
                    )
                continue
            if _norm(value) != _norm(ref[key]):
                raise _Refused(
                    f"{name} sets {key}={value!r}, but the configuration gives {ref[key]!r}"
                )


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
