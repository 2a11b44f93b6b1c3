"""The schema a checkpoint's contents must meet (:mod:`agents.checkpoint` reads the file).

``meta.json``: known keys only, counters integers >= 0, the agent's options through its
options dataclass, ``policy_kwargs`` from an allow-list (the optimizer one of
:data:`OPTIMIZERS`), sizes bounded (:data:`MAX_LAYER`, :data:`MAX_SPACE_SIZE`).
``tensors.pt``: known parts only, every float finite, optimizer hyperparameters equal to
those the configuration gives.

A breach raises :class:`_Refused` (a ``ValueError``) naming the key, its value and what
is allowed; :mod:`agents.checkpoint` wraps it into "cannot read checkpoint <path>: …".
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from gymnasium import spaces

from .spaces_json import space_from_json

if TYPE_CHECKING:
    from .on_policy import RecurrentOnPolicyAlgorithm


#: Checkpoint format tag; files without it are refused.
CHECKPOINT_FORMAT = "bplambda.RecurrentA2C"
CHECKPOINT_VERSION = 1
#: Agent classes by the name their checkpoints carry (filled as the classes are defined).
AGENTS: dict[str, type[RecurrentOnPolicyAlgorithm]] = {}
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


# ---------------------------------------------------------------------------- meta.json
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


# ---------------------------------------------------------------------------- tensors.pt
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


# ---------------------------------------------------------------------------- options
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
        "value_trains_core": (lambda v: isinstance(v, bool), "a bool"),
        "value_core": (lambda v: isinstance(v, bool), "a bool"),
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


__all__ = [
    "AGENTS",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "MAX_COUNTER",
    "MAX_LAYER",
    "MAX_SG_LAYERS",
    "MAX_SPACE_SIZE",
    "META_OPTIONAL",
    "META_REQUIRED",
    "OPTIMIZERS",
    "OPTIMIZER_KWARGS",
    "SIZE_OPTIONS",
    "TENSORS_OPTIONAL",
    "TENSORS_REQUIRED",
    "check_meta",
    "check_tensors",
]
