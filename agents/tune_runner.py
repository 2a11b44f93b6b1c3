"""Trials on Ray Tune (the ``sweep`` extra: ``pip install 'bplambda[sweep]'``).

:func:`run_on_ray` runs a list of :class:`agents.grid.TrialSpec` as one Tune experiment
whose state lives in ``storage/name`` (``tune.Tuner(..., run_config=RunConfig(
storage_path=...))``), so that an interrupted experiment continues with ``resume=True``
(``tune.Tuner.restore``): finished trials are kept, unfinished and failed ones run again,
an interrupted training run from its ``latest.zip``. Each trial is one
:func:`agents.grid.run_trial` in a Ray worker with one CPU and one torch thread, its
printed output in its run folder's ``trial.log``.

Importing this module imports Ray; :mod:`agents.grid` imports it only when trials run
on Ray, and :mod:`agents.sweep` (the sweep's configuration) never does.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

# Tune's classic reporter is the one that ``verbose=0`` silences; these are read when
# ray.tune is imported.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import ray  # noqa: E402
from ray import tune  # noqa: E402

from .grid import TRIAL_FILE, Outcome, TrialSpec, progress_line, run_trial_quietly  # noqa: E402

#: CPUs (and torch threads) a trial asks Ray for.
TRIAL_CPUS = 1
#: Tune's run configuration (``ray.train.RunConfig`` before Tune had its own).
RunConfig = getattr(tune, "RunConfig", None) or ray.train.RunConfig


def trial_name(trial: Any) -> str:
    """A Tune trial's name and folder: its spec's run folder name."""
    return trial.config["trial"]["name"]


def trainable(config: dict[str, Any]) -> dict[str, Any]:
    """One trial in a Ray worker: the run (or what an earlier attempt left of it);
    returns the numbers the progress line shows.

    :raises agents.grid.TrialFailed: the training run failed (the trial errors)."""
    cwd = config.get("cwd")
    if cwd and os.path.isdir(cwd):  # Tune starts trials in their own folder
        os.chdir(cwd)
    spec = TrialSpec.from_dict(config["trial"])
    reuse = config.get("reuse", True)
    summary = run_trial_quietly(spec, Path(config["runs_dir"]), threads=TRIAL_CPUS, reuse=reuse)
    return {
        "mean_return": summary["mean_return"],
        "success_rate": summary.get("success_rate"),
        "wall_s": summary.get("wall_s"),
    }


class Progress(tune.Callback):
    """Prints a line per finished (or failed) trial."""

    def __init__(self, total: int):
        self.total = total

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        done = sum(t is trial or t.status == "TERMINATED" for t in trials)
        spec = TrialSpec.from_dict(trial.config["trial"])
        print(progress_line(spec, trial.last_result, done, self.total), flush=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        spec = TrialSpec.from_dict(trial.config["trial"])
        print(
            f"failed: {spec.label} seed {spec.seed} (its log: {spec.name}/trial.log)",
            flush=True,
        )


def start_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Start Ray (or join the cluster at ``address``) unless this process already has;
    returns whether it was started here. Locally: ``num_cpus`` (None: every core of this
    machine), no dashboard, warnings and errors only."""
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address is not None:
        ray.init(address=address, **quiet)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, **quiet)
    return True


def has_experiment(path: Path) -> bool:
    """Whether ``path`` holds a Tune experiment's state that can be resumed."""
    return tune.Tuner.can_restore(str(Path(path).absolute()))


def _tuner(
    specs: list[TrialSpec],
    runs_dir: Path,
    storage: Path,
    name: str,
    max_concurrent: int | None,
    reuse: bool,
) -> tune.Tuner:
    space = {
        "trial": tune.grid_search([s.to_dict() for s in specs]),
        "runs_dir": str(Path(runs_dir).absolute()),
        "cwd": os.getcwd(),
        "reuse": reuse,
    }
    return tune.Tuner(
        tune.with_resources(trainable, {"cpu": TRIAL_CPUS}),
        param_space=space,
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent or 0,
            trial_name_creator=trial_name,
            trial_dirname_creator=trial_name,
        ),
        run_config=RunConfig(
            storage_path=str(Path(storage).absolute()),
            name=name,
            verbose=0,
            callbacks=[Progress(len(specs))],
        ),
    )


def run_on_ray(
    specs: list[TrialSpec],
    runs_dir: Path,
    storage: Path,
    name: str = "trials",
    max_concurrent: int | None = None,
    address: str | None = None,
    resume: bool = False,
    num_cpus: int | None = None,
    reuse: bool = True,
) -> Outcome:
    """Run the trials as the Tune experiment ``storage/name``; Ray is started here (and
    shut down after) unless this process has already started it.

    :param max_concurrent: trials at once (None: as many as the CPUs allow).
    :param address: a running Ray cluster to join (None: Ray on this machine).
    :param resume: continue the experiment in ``storage/name``
        (``tune.Tuner.restore(..., restart_errored=True)``).
    :param num_cpus: CPUs of a local Ray (None: this machine's cores).
    :param reuse: a trial whose run folder holds a finished run takes its result, and
        one that holds a ``latest.zip`` continues it (:func:`agents.grid.run_trial`);
        False: every trial trains from the start.
    """
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    started = start_ray(address, num_cpus)
    try:
        if resume:
            path = str(Path(storage).absolute() / name)
            tuner = tune.Tuner.restore(
                path,
                trainable=tune.with_resources(trainable, {"cpu": TRIAL_CPUS}),
                restart_errored=True,
            )
        else:
            tuner = _tuner(specs, runs_dir, storage, name, max_concurrent, reuse)
        grid = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    wanted = {s.name for s in specs}
    outcome = Outcome({})
    for result in grid:
        trial = (result.config or {}).get("trial", {}).get("name")
        if trial not in wanted:
            continue
        if result.error is not None:
            outcome.errors[trial] = str(result.error).strip()
            continue
        record = runs_dir / trial / TRIAL_FILE
        if (result.metrics or {}).get("mean_return") is not None and record.exists():
            outcome.results[trial] = json.loads(record.read_text())
    outcome.interrupted = len(outcome.results) + len(outcome.errors) < len(specs)
    return outcome


__all__ = ["TRIAL_CPUS", "Progress", "has_experiment", "run_on_ray", "start_ray", "trainable"]
