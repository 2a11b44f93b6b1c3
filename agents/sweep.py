"""A sweep's trials and results: the configuration (:mod:`agents.sweep_config`) expanded
into :class:`agents.grid.TrialSpec` runs of ``train.py``, and ``results.json``,
``results.md`` and ``curves.png`` written from what they gave.

Like :mod:`agents.sweep_config` this module does not import Ray; ``scripts/sweep.py``
runs the trials on Ray Tune through :func:`agents.grid.run_trials`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .grid import Outcome, TrialSpec, group, plot, read_curves, summary_table
from .sweep_config import (
    DEFAULT,
    SweepConfig,
    SweepConfigError,
    check_config,
    check_settings,
    load_config,
)


def _flags(key: str, value: Any) -> list[str]:
    """``train.py``'s flags for one option value (None: the flag left out)."""
    flag = f"--{key.replace('_', '-')}"
    if value is None:
        return []
    if isinstance(value, bool):
        return [flag if value else f"--no-{key.replace('_', '-')}"]
    if isinstance(value, (list, tuple)):
        return [flag, *map(str, value)]
    return [flag, repr(float(value)) if isinstance(value, float) else str(value)]


def _short(value: Any, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)


def _labels(config: SweepConfig, found: list[dict[str, Any]]) -> list[str]:
    """One distinct label per setting: ``key=value`` of its searched options."""
    for digits in (3, 6):
        labels = [
            " ".join(f"{k}={_short(v, digits)}" for k, v in s.items()) or config.algo for s in found
        ]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{label} #{i}" for i, label in enumerate(labels)]


def _base_args(config: SweepConfig) -> list[str]:
    args = [
        "--env", config.env, "--env-kwargs", json.dumps(config.env_kwargs),
        "--algo", config.algo, "--eval-episodes", str(config.eval_episodes), "--no-progress",
    ]  # fmt: skip
    for key in ("total_timesteps", "n_envs"):
        args += _flags(key, getattr(config, key))
    if config.hyperparams != DEFAULT:
        args += ["--hyperparams", config.hyperparams]
    return args


def expand(config: SweepConfig) -> list[TrialSpec]:
    """The sweep's trials: every setting (:func:`settings`) with every seed, each a
    ``train.py`` run named ``<setting index>_<label>__<seed>``.

    :raises SweepConfigError: a setting the agent refuses as a whole (e.g. a ``window``
        that does not divide ``n_steps``), naming the setting."""
    found = check_settings(config)
    base = _base_args(config)
    specs = []
    for i, (setting, label) in enumerate(zip(found, _labels(config, found))):
        flags = [f for k, v in setting.items() for f in _flags(k, v)]
        safe = re.sub(r"[^A-Za-z0-9_.,=+-]+", "-", label.replace(" ", ","))[:80]
        for seed in config.seeds:
            specs.append(
                TrialSpec(
                    name=f"{i:03d}_{safe}__{seed}",
                    label=label,
                    seed=seed,
                    setting=dict(setting),
                    train_args=tuple(base + flags),
                )
            )
    return specs


def steps_per_s(summary: dict[str, Any]) -> float | None:
    """A trial's training throughput: SB3's ``time/fps`` at the last log, else (a run too
    short to log) its steps over its wall time."""
    if summary.get("fps"):
        return float(summary["fps"])
    if summary.get("wall_s") and summary.get("num_timesteps"):
        return summary["num_timesteps"] / summary["wall_s"]
    return None


def header(config: SweepConfig) -> str:
    """The line above the results table: what every trial shared."""
    steps = config.total_timesteps or "the hyperparameters' (or train.py's default)"
    envs = config.n_envs or "default"
    return (
        f"Environment `{config.env}` {json.dumps(config.env_kwargs)}, algo {config.algo}, "
        f"{steps} steps per run, {envs} envs, seeds {config.seeds}. Evaluation: "
        f"{config.eval_episodes} episodes, deterministic policy; ± is the std over seeds."
    )


def write_results(out: Path, config: SweepConfig, specs: list[TrialSpec], outcome: Outcome) -> str:
    """``results.json`` (one record per finished trial, and the failed ones),
    ``results.md`` and ``curves.png`` (per setting, over its seeds) in ``out``; returns the
    table."""
    runs_dir = Path(out) / "runs"
    trials, failed = [], []
    for spec in specs:
        run_dir = str(runs_dir / spec.name)
        summary = outcome.results.get(spec.name)
        if summary is not None:
            trials.append(
                {
                    "config": spec.setting,
                    "seed": spec.seed,
                    "mean_return": summary["mean_return"],
                    "success_rate": summary.get("success_rate"),
                    "env_steps_per_s": steps_per_s(summary),
                    "run_dir": run_dir,
                }
            )
        elif spec.name in outcome.errors:
            failed.append(
                {
                    "config": spec.setting,
                    "seed": spec.seed,
                    "error": outcome.errors[spec.name],
                    "run_dir": run_dir,
                }
            )
    (Path(out) / "results.json").write_text(
        json.dumps({"trials": trials, "failed": failed}, indent=2)
    )
    table = summary_table(group(specs, outcome.results), header(config))
    (Path(out) / "results.md").write_text(table)
    curves = {n: read_curves(runs_dir / n) for n in outcome.results}
    plot(group(specs, curves), Path(out) / "curves.png", f"{config.env} {config.env_kwargs}")
    return table


__all__ = [
    "SweepConfig",
    "SweepConfigError",
    "check_config",
    "expand",
    "header",
    "load_config",
    "steps_per_s",
    "write_results",
]
