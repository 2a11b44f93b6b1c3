"""Running a list of training runs and summarising them over seeds.

A :class:`TrialSpec` is one training run: ``scripts/train.py``'s flags (run through
:func:`agents.runs.train`, the same code path) or sb3-contrib's RecurrentPPO as an
outside baseline. :func:`run_trials` runs a list of them either one after another in
this process (no Ray needed) or on Ray Tune (:mod:`agents.tune_runner`, the ``sweep``
extra), each in its own run folder ``runs_dir/<name>``. ``scripts/compare.py`` and
``scripts/sweep.py`` both run their grids through it, and summarise the same way:
:func:`summary_table` (``results.md``) and :func:`plot` (``curves.png``) group the
trials by label (one row or curve per setting, ± over its seeds).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import json
import math
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .cli import set_threads
from .env_util import make_env
from .evaluation import evaluate

#: The file a finished trial leaves in its run folder: its summary (eval.json's numbers,
#: wall time, training throughput); a trial that finds it is not run again on resume.
TRIAL_FILE = "trial.json"
#: Linux's per-process peak resident set size (``VmHWM``), and the file that resets it.
_STATUS, _CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")
#: ``pip`` line that installs Ray Tune for this package.
SWEEP_INSTALL = "pip install 'bplambda[sweep]' (or make setup)"


def reset_peak_rss() -> bool:
    """Restart this process's peak-RSS count (Linux ``clear_refs``); False where the
    system has none (the peak then is the process's since it started)."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float | None:
    """This process's peak resident memory (MB) since the last :func:`reset_peak_rss`
    (Linux ``VmHWM``); None where ``/proc`` has no such line."""
    try:
        lines = _STATUS.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


class TrialFailed(RuntimeError):
    """A trial's training run ended with a non-zero exit code (``code``)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class RayMissing(ValueError):
    """Ray Tune is needed (``--max-concurrent`` > 1, ``--address``, or a sweep) but not
    installed."""


@dataclasses.dataclass(frozen=True)
class TrialSpec:
    """One training run of a grid.

    :param name: the run folder's name under ``runs_dir`` (and the trial's name).
    :param label: the setting: trials with the same label are summarised over seeds.
    :param seed: the run's seed.
    :param setting: the searched values of this trial (``results.json``'s ``config``).
    :param train_args: ``train.py`` flags, except ``--seed``, ``--runs-dir``, ``--run-name``.
    :param baseline: for sb3-contrib's RecurrentPPO instead of ``train.py``: ``env``,
        ``env_kwargs`` (JSON text), ``n_envs``, ``total_timesteps``, ``hidden_size``,
        ``eval_episodes``, ``no_progress``.
    """

    name: str
    label: str
    seed: int
    setting: dict[str, Any] = dataclasses.field(default_factory=dict)
    train_args: tuple[str, ...] = ()
    baseline: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (a Ray Tune trial's config)."""
        return {**dataclasses.asdict(self), "train_args": list(self.train_args)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "train_args": tuple(data.get("train_args", ()))})


@dataclasses.dataclass
class Outcome:
    """What :func:`run_trials` ran: ``results`` (trial name → summary) of the finished
    trials, ``errors`` (trial name → message) of the failed ones, and whether the run was
    interrupted before every trial finished."""

    results: dict[str, dict[str, Any]]
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    interrupted: bool = False


def read_curves(run_dir: Path) -> dict[str, tuple[list[int], list[float]]]:
    """Every scalar of a TensorBoard run folder: tag -> (steps, values), in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, dict[int, float]] = {}
    for events in sorted(Path(run_dir).glob("**/events.out.tfevents.*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, {}).update({e.step: e.value for e in acc.Scalars(tag)})
    return {t: (sorted(d), [d[s] for s in sorted(d)]) for t, d in out.items()}


def run_recurrent_ppo(options: dict[str, Any], seed: int, run_dir: Path) -> dict[str, Any]:
    """Train and evaluate sb3-contrib's RecurrentPPO (MlpLstmPolicy, its default
    hyperparameters); returns the evaluation summary. ``options``: see
    :class:`TrialSpec`'s ``baseline``.

    :raises ValueError: sb3-contrib is not installed."""
    try:
        from sb3_contrib import RecurrentPPO
    except ImportError as err:
        raise ValueError("--recurrent-ppo needs sb3-contrib: pip install sb3-contrib") from err
    from stable_baselines3.common.logger import configure

    env_kwargs = json.loads(options["env_kwargs"])
    env = make_env(options["env"], options["n_envs"], seed=seed, env_kwargs=env_kwargs)
    model = RecurrentPPO(
        "MlpLstmPolicy",
        env,
        seed=seed,
        device="cpu",
        policy_kwargs={"lstm_hidden_size": options["hidden_size"]},
    )
    model.set_logger(configure(str(run_dir), ["tensorboard"]))
    start = time.time()
    model.learn(options["total_timesteps"], progress_bar=not options["no_progress"])
    wall = time.time() - start
    model.logger.close()
    eval_env = make_env(options["env"], 8, seed=seed + 10_000, env_kwargs=env_kwargs)
    summary = evaluate(model, eval_env, options["eval_episodes"], deterministic=True)
    # SB3 counts epochs in _n_updates; each epoch steps once per minibatch of the rollout
    steps_per_epoch = math.ceil(model.n_steps * model.n_envs / model.batch_size)
    summary.update(
        num_timesteps=model.num_timesteps,
        wall_s=wall,
        n_updates=model._n_updates * steps_per_epoch,
    )
    (run_dir / "eval.json").write_text(json.dumps(summary, indent=2))
    return summary


def _train_argv(spec: TrialSpec, runs_dir: Path, reuse: bool) -> list[str]:
    """``train.py``'s flags for a trial; with ``reuse``, continue the run folder's
    ``latest.zip`` if an earlier attempt left one (a leftover folder without one is
    cleared)."""
    run_dir = runs_dir / spec.name
    latest = run_dir / "checkpoints" / "latest.zip"
    if reuse and latest.exists() and (run_dir / "config.json").exists():
        total = json.loads((run_dir / "config.json").read_text())["args"]["total_timesteps"]
        return ["--resume", str(latest), "--total-timesteps", str(total), "--no-progress"]
    if reuse and run_dir.exists():
        shutil.rmtree(run_dir)
    return list(spec.train_args) + [
        "--seed", str(spec.seed), "--runs-dir", str(runs_dir), "--run-name", spec.name,
    ]  # fmt: skip


def run_trial(
    spec: TrialSpec, runs_dir: Path, threads: int | None = None, reuse: bool = False
) -> dict[str, Any]:
    """Run one trial in this process; returns its summary: eval.json's numbers (with
    ``n_updates``, the policy's gradient steps) plus ``wall_s``, ``fps`` (the last
    ``time/fps``), ``train_success`` (the last ``rollout/success_rate``, when logged) and
    ``peak_rss_mb`` (the process's peak resident memory during the trial; None where the
    system cannot say: :func:`peak_rss_mb`). The summary is also written to the run
    folder's :data:`TRIAL_FILE`.

    :param threads: torch threads for the run (None: what ``train.py`` takes by default).
    :param reuse: return the summary of a run folder that already holds one, and continue
        a run folder's ``latest.zip`` (an interrupted trial) instead of starting over.
    :raises TrialFailed: the training run exited with a non-zero code.
    """
    runs_dir = Path(runs_dir)
    run_dir = runs_dir / spec.name
    if reuse and (run_dir / TRIAL_FILE).exists():
        return json.loads((run_dir / TRIAL_FILE).read_text())
    if threads is not None:
        set_threads(threads)
    peak_known = reset_peak_rss()
    start = time.time()
    if spec.baseline is not None:
        if reuse and run_dir.exists():
            shutil.rmtree(run_dir)
        try:
            summary = run_recurrent_ppo(spec.baseline, spec.seed, run_dir)
        except ValueError as err:
            raise TrialFailed(str(err), 2) from err
    else:
        from .runs import train

        argv = _train_argv(spec, runs_dir, reuse)
        code = train(argv + (["--threads", str(threads)] if threads is not None else []))
        if code != 0:
            raise TrialFailed(
                f"train.py exited with {code} for {spec.label} seed {spec.seed}", code
            )
        summary = json.loads((run_dir / "eval.json").read_text())
        summary["wall_s"] = time.time() - start
    summary["peak_rss_mb"] = peak_rss_mb() if peak_known else None
    c = read_curves(run_dir)
    summary["fps"] = c["time/fps"][1][-1] if "time/fps" in c else None
    if "rollout/success_rate" in c:
        summary["train_success"] = c["rollout/success_rate"][1][-1]
    (run_dir / TRIAL_FILE).write_text(json.dumps(summary, indent=2))
    return summary


def run_trial_quietly(
    spec: TrialSpec, runs_dir: Path, threads: int | None = None, reuse: bool = False
) -> dict[str, Any]:
    """:func:`run_trial` without progress bars, its printed output in the run folder's
    ``trial.log`` instead of the terminal; a failure's message ends with the log's last
    lines."""
    run_dir = Path(runs_dir) / spec.name
    spec = dataclasses.replace(
        spec,
        train_args=spec.train_args + ("--no-progress",),
        baseline=None if spec.baseline is None else {**spec.baseline, "no_progress": True},
    )
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            return run_trial(spec, runs_dir, threads=threads, reuse=reuse)
    except TrialFailed as err:
        tail = "\n".join(buffer.getvalue().strip().splitlines()[-5:])
        raise TrialFailed(f"{err}\n{tail}" if tail else str(err), err.code) from None
    finally:
        if run_dir.exists():
            with open(run_dir / "trial.log", "a") as f:
                f.write(buffer.getvalue())


def progress_line(spec: TrialSpec, summary: dict[str, Any], done: int, total: int) -> str:
    """The line printed when a trial finishes: setting, seed, return, success, time."""
    text = f"[{done}/{total}] {spec.label} seed {spec.seed}: return {summary['mean_return']:.3f}"
    if summary.get("success_rate") is not None:
        text += f", success {100 * summary['success_rate']:.1f}%"
    if summary.get("wall_s") is not None:
        text += f", {summary['wall_s']:.1f} s"
    return text


def run_sequential(
    specs: list[TrialSpec],
    runs_dir: Path,
    threads: int | None = None,
    on_result: Callable[[TrialSpec, dict[str, Any]], None] | None = None,
) -> Outcome:
    """Run the trials one after another in this process; stops at the first failure.

    :raises TrialFailed: a trial's training run failed (earlier results are kept in the
        run folders)."""
    results: dict[str, dict[str, Any]] = {}
    for spec in specs:
        print(f"== {spec.label} seed {spec.seed}", flush=True)
        results[spec.name] = summary = run_trial(spec, runs_dir, threads=threads)
        print(progress_line(spec, summary, len(results), len(specs)), flush=True)
        if on_result is not None:
            on_result(spec, summary)
    return Outcome(results)


def run_trials(
    specs: list[TrialSpec],
    runs_dir: Path,
    max_concurrent: int | None = 1,
    use_ray: bool | None = None,
    threads: int | None = None,
    **ray_options: Any,
) -> Outcome:
    """Run every trial: in sequence in this process (``max_concurrent`` 1, the default),
    or on Ray Tune (``max_concurrent`` > 1, None for as many as the CPUs allow, or
    ``use_ray``), ``ray_options`` going to
    :func:`agents.tune_runner.run_on_ray` (``storage``, ``name``, ``address``,
    ``resume``, ``num_cpus``). ``threads``: torch threads per trial in sequence (None:
    ``train.py``'s default); on Ray every trial takes one.

    :raises RayMissing: Ray is needed but not installed (names the install line).
    :raises TrialFailed: in sequence, the first failed trial.
    """
    if max_concurrent is not None and (
        isinstance(max_concurrent, bool)
        or not isinstance(max_concurrent, int)
        or max_concurrent < 1
    ):
        raise ValueError(f"max_concurrent must be an integer >= 1, got {max_concurrent!r}")
    if use_ray is None:
        use_ray = max_concurrent != 1 or ray_options.get("address") is not None
    if not use_ray:
        return run_sequential(specs, runs_dir, threads=threads)
    try:
        tune_runner = importlib.import_module(f"{__package__}.tune_runner")
    except ImportError as err:
        raise RayMissing(
            f"running trials in parallel on Ray Tune needs Ray: {SWEEP_INSTALL} ({err})"
        ) from None
    return tune_runner.run_on_ray(specs, runs_dir, max_concurrent=max_concurrent, **ray_options)


def group(specs: list[TrialSpec], results: dict[str, Any]) -> dict[str, list[Any]]:
    """``results`` (trial name → anything) grouped by label, labels and seeds in the order
    of ``specs``; trials without a result are left out."""
    out: dict[str, list[Any]] = {}
    for spec in specs:
        if spec.name in results:
            out.setdefault(spec.label, []).append(results[spec.name])
    return out


def _fmt(values: list[float], pct: bool = False) -> str:
    if not values:
        return "–"
    m, s = float(np.mean(values)), float(np.std(values))
    return f"{100 * m:.1f} ± {100 * s:.1f}%" if pct else f"{m:.3f} ± {s:.3f}"


def summary_table(results: dict[str, list[dict[str, Any]]], header: str) -> str:
    """The Markdown table: one row per label (setting), mean ± std over its seeds of the
    evaluation return and success, training success; the mean env steps/s, wall time,
    policy gradient steps per 1000 env steps and peak resident memory ("–" where a
    summary lacks the number: trials run before they were recorded)."""
    lines = [
        header,
        "",
        "| agent | seeds | eval return | eval success | train success (last 100 ep.) "
        "| env steps/s | wall (s) | updates / 1000 steps | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, runs in results.items():
        rets = [r["mean_return"] for r in runs]
        succ = [r["success_rate"] for r in runs if r.get("success_rate") is not None]
        train_succ = [r["train_success"] for r in runs if r.get("train_success") is not None]
        rate = [
            1000 * r["n_updates"] / r["num_timesteps"]
            for r in runs
            if r.get("n_updates") is not None and r.get("num_timesteps")
        ]
        means = [
            _mean([r.get(key) for r in runs], fmt)
            for key, fmt in (("fps", ".0f"), ("wall_s", ".0f"), ("peak_rss_mb", ".0f"))
        ]
        lines.append(
            f"| {mode} | {len(runs)} | {_fmt(rets)} | {_fmt(succ, True)} | "
            f"{_fmt(train_succ, True)} | {means[0]} | {means[1]} | "
            f"{_mean(rate, '.1f')} | {means[2]} |"
        )
    return "\n".join(lines) + "\n"


def _mean(values: list[Any], fmt: str) -> str:
    """The mean of the numbers among ``values`` in format ``fmt``; "–" when none."""
    numbers = [v for v in values if v is not None]
    return format(float(np.mean(numbers)), fmt) if numbers else "–"


#: what :func:`plot` can draw: ``auto`` is the success rate where some run ever succeeded
CURVE_METRICS = {"auto": None, "success": "rollout/success_rate", "return": "rollout/ep_rew_mean"}


def curve_tag(curves: dict[str, list[dict]], metric: str) -> str:
    """The TensorBoard tag :func:`plot` draws for ``metric`` (one of :data:`CURVE_METRICS`)."""
    if metric not in CURVE_METRICS:
        raise ValueError(f"metric must be one of {sorted(CURVE_METRICS)}, got {metric!r}")
    if CURVE_METRICS[metric] is not None:
        return CURVE_METRICS[metric]
    # success only where some run ever succeeded (a task whose success is all-or-nothing
    # over a long episode, such as RepeatPrevious, shows its progress in the return)
    any_success = any(
        max(c["rollout/success_rate"][1], default=0.0) > 0
        for runs in curves.values()
        for c in runs
        if "rollout/success_rate" in c
    )
    return "rollout/success_rate" if any_success else "rollout/ep_rew_mean"


def plot(curves: dict[str, list[dict]], path: Path, title: str, metric: str = "auto") -> bool:
    """Mean (± min/max over seeds) learning curve per label; False without matplotlib.

    ``metric`` is one of :data:`CURVE_METRICS`: ``return`` for a task whose success is an
    all-or-nothing episode (RepeatPrevious: every answer right), whose progress is the return.
    """
    tag = curve_tag(curves, metric)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no PNG (pip install matplotlib)", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for mode, runs in curves.items():
        series = [c[tag] for c in runs if tag in c and c[tag][0]]
        if not series:
            continue
        grid = np.linspace(0, max(s[0][-1] for s in series), 100)
        ys = np.stack([np.interp(grid, s[0], s[1]) for s in series])
        ax.plot(grid, ys.mean(0), label=f"{mode} ({len(series)} seeds)")
        ax.fill_between(grid, ys.min(0), ys.max(0), alpha=0.2)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(tag)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


__all__ = [
    "CURVE_METRICS",
    "SWEEP_INSTALL",
    "TRIAL_FILE",
    "Outcome",
    "RayMissing",
    "TrialFailed",
    "TrialSpec",
    "curve_tag",
    "group",
    "plot",
    "progress_line",
    "read_curves",
    "run_recurrent_ppo",
    "run_sequential",
    "run_trial",
    "run_trial_quietly",
    "run_trials",
    "summary_table",
]
