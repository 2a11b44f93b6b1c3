"""A training run from the command line: flags, run folder, checkpoints, evaluation, resume.

What ``scripts/train.py`` does, here so that ``scripts/compare.py`` and
``scripts/demo_agent.py`` run the same thing. The agent's flags are generated from the
options dataclasses (:mod:`agents.config`): ``--<option-with-dashes>``, help from the
field's ``doc``; a flag left out means the entry for the env in
``agents/hyperparams/<algo>.yml`` (:mod:`agents.hyperparams`), else the agent's default.

A run folder ``{runs_dir}/{env}__{agent}__{seed}__{time}`` holds TensorBoard scalars and
the configuration as text, ``config.json``, checkpoints (periodic, ``latest.zip`` and
``final.zip``, all written atomically) and ``eval.json``.

Faults: Ctrl-C (any number of times) stops at the next environment step, then a complete
checkpoint is written and the logs closed (exit code 130); a checkpoint being written is
never interrupted. Before every checkpoint and after every update the policy is checked:
NaN/inf parameters, or a parameter norm grown more than :data:`DIVERGENCE_FACTOR` times
since training started, stop training (exit code 3) without saving the diverged model, so
``latest.zip`` holds the last parameters that passed. An environment that raises, or a
checkpoint that cannot be written (full or read-only disk), stops training with a message
naming the step or the file (exit code 4), the previous checkpoints intact.

The flags, run folder and resume checks are in :mod:`agents.run_args`; the guards
(environment errors, divergence, interrupts, periodic checkpoints) in
:mod:`agents.run_guards`. Their public names are importable from here as well.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import TensorBoardOutputFormat, configure

from bpl.credit import NonFiniteError

from .checkpoint import AGENTS
from .cli import set_threads, tensorboard_command
from .config import STRUCTURAL_KEYS
from .env_util import make_env
from .evaluation import evaluate, format_summary
from .hyperparams import describe
from .run_args import (
    ALGOS,
    build_parser,
    check_device,
    check_run_name,
    model_kwargs,
    prepare,
    run_dir_of,
    run_name,
)
from .run_guards import (
    DIVERGENCE_FACTOR,
    DivergenceGuard,
    EnvironmentFailed,
    Health,
    PeriodicCheckpoint,
    StopOnInterrupt,
    TrainingDiverged,
    _Interrupts,
    guard_env,
)

#: The final evaluation's environments are seeded with --seed + this (evaluate.py uses
#: the same by default, so both report the same numbers for the same checkpoint).
EVAL_SEED_OFFSET = 10_000
#: Exit codes of :func:`train`.
EXIT_OK, EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_FAULT, EXIT_INTERRUPTED = 0, 2, 3, 4, 130


def _write_json(path: Path, data: dict) -> None:
    """Write JSON atomically (temporary file, flushed, then renamed)."""
    tmp = path.with_name(f".tmp_{path.name}")
    try:
        with open(tmp, "w") as f:
            f.write(json.dumps(data, indent=2, sort_keys=True))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _build(args: argparse.Namespace, kwargs: dict[str, Any], resuming: bool) -> tuple:
    """The environments and the agent (new, or loaded from --resume)."""
    set_threads(args.threads)
    env_kwargs = json.loads(args.env_kwargs)
    try:
        env = make_env(args.env, args.n_envs, seed=args.seed, env_kwargs=env_kwargs)
    except (ValueError, TypeError):
        raise
    except Exception as err:  # the environment's own constructor failed
        raise ValueError(
            f"cannot create environment {args.env} with --env-kwargs {args.env_kwargs}: "
            f"{type(err).__name__}: {err}"
        ) from err
    env = guard_env(env)
    cls = AGENTS[ALGOS[args.algo]]
    if resuming:
        structural = {k: kwargs[k] for k in STRUCTURAL_KEYS if k in kwargs}
        model = cls.load(args.resume, env=env, device=args.device, **structural)
        done = model.num_timesteps
        if args.total_timesteps < done:
            raise ValueError(
                f"--total-timesteps {args.total_timesteps} is below the {done} steps the "
                f"checkpoint has already trained; give --total-timesteps > {done} to "
                "continue (nothing was changed)"
            )
        if args.total_timesteps == done and (run_dir_of(args) / "final.zip").exists():
            raise ValueError(
                f"the run is already complete at {done} steps (final.zip exists); give "
                f"--total-timesteps > {done} to continue (nothing was changed)"
            )
        env.seed(args.seed + model.num_timesteps)  # fresh episodes, still reproducible
    else:
        model = cls("MlpRecurrentPolicy", env, seed=args.seed, device=args.device, **kwargs)
    return env, model


def _save(model: Any, path: Path, health: Health) -> None:
    health.check(model)
    model.save(path)


def _learn(
    model: Any,
    args: argparse.Namespace,
    run_dir: Path,
    callback: Any,
    interrupts: _Interrupts | None = None,
) -> int:
    """Train to --total-timesteps with checkpoints; returns 0, 3 (non-finite or diverged),
    4 (the environment raised, or a checkpoint could not be written) or 130."""
    interrupts = interrupts or _Interrupts()
    ckpt_dir = run_dir / "checkpoints"
    latest = ckpt_dir / "latest.zip"
    health = Health(model)
    callbacks = [
        DivergenceGuard(health),
        StopOnInterrupt(interrupts),
        PeriodicCheckpoint(ckpt_dir, args.checkpoint_freq, health),
    ]
    callbacks += [callback] if callback is not None else []
    remaining = args.total_timesteps - model.num_timesteps

    def kept() -> str:
        if latest.exists():
            return f"last good checkpoint: {latest} (continue with --resume {latest})"
        return "no checkpoint was written yet"

    try:
        try:
            if remaining > 0:
                model.learn(
                    remaining,
                    callback=CallbackList(callbacks),
                    log_interval=args.log_interval
                    or max(1, round(4096 / (model.n_steps * model.n_envs))),
                    reset_num_timesteps=False,
                    progress_bar=not args.no_progress,
                )
        except KeyboardInterrupt:  # raised by code, not by the handler while training
            interrupts.count = max(interrupts.count, 1)
        _save(model, latest, health)
        if interrupts.requested:
            print(
                f"\ninterrupted at step {model.num_timesteps}; saved {latest} "
                f"(continue with --resume {latest})",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        _save(model, run_dir / "final.zip", health)
    except NonFiniteError as err:  # TrainingDiverged included
        print(f"training stopped: {err}\n{kept()}", file=sys.stderr)
        return EXIT_DIVERGED
    except EnvironmentFailed as err:
        saved = "no checkpoint was written"
        try:
            _save(model, latest, health)
            saved = f"saved {latest} (continue with --resume {latest})"
        except (NonFiniteError, OSError) as save_err:
            saved = f"could not save a checkpoint ({save_err}); {kept()}"
        print(f"training stopped at step {model.num_timesteps}: {err}\n{saved}", file=sys.stderr)
        return EXIT_FAULT
    except OSError as err:
        print(
            f"training stopped at step {model.num_timesteps}: cannot write a checkpoint: "
            f"{err}\n{kept()}",
            file=sys.stderr,
        )
        return EXIT_FAULT
    return EXIT_OK


def train(argv: list[str] | None = None, callback: BaseCallback | None = None) -> int:
    """Train, checkpoint, evaluate (``scripts/train.py``); returns the exit code: 0 done,
    2 bad input, 3 non-finite loss or diverging parameters (the last good checkpoint is
    kept), 4 the environment raised or a file could not be written (the last checkpoint
    is kept), 130 interrupted (a checkpoint is saved first; further interrupts wait for
    it).

    :param argv: the flags (None: ``sys.argv``).
    :param callback: an SB3 callback for ``learn`` besides the checkpoints.
    """
    interrupts = _Interrupts()
    interrupts.install()
    try:
        return _train(argv, callback, interrupts)
    except KeyboardInterrupt:
        print("\ninterrupted before training started; nothing was saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        interrupts.restore()


def _train(argv: list[str] | None, callback: Any, interrupts: _Interrupts) -> int:
    try:
        args, kwargs, run_dir, resuming = prepare(argv)
        env, model = _build(args, kwargs, resuming)
    except (ValueError, TypeError) as err:  # TypeError: gymnasium.make's unknown kwargs
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    flags = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    record = getattr(args, "_hyperparams", None)
    config = {"args": flags, "model": model.get_config(), "run_dir": str(run_dir)}
    config["hyperparams"] = record
    if model.credit == "bp_lambda":
        config["sg_trace_used"] = model.sg_trace_used
    try:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        _write_json(run_dir / "config.json", config)
        logger = configure(str(run_dir), ["tensorboard"] + (["stdout"] if args.verbose else []))
    except OSError as err:
        env.close()
        print(f"error: cannot write the run folder {run_dir}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    text = "```json\n" + json.dumps(config, indent=2, sort_keys=True) + "\n```"
    for fmt in logger.output_formats:
        if isinstance(fmt, TensorBoardOutputFormat):
            fmt.writer.add_text("config", text, global_step=model.num_timesteps)
    model.set_logger(logger)
    print(describe(record, args.env, resuming))
    if model.credit == "bp_lambda":
        print(f"gradient critic's trace: {model.sg_trace_used} (sg_trace={model.sg_trace!r})")
    print(f"run folder: {run_dir}")
    interrupts.raising = False  # from here an interrupt stops training at the next step
    try:
        code = _learn(model, args, run_dir, callback, interrupts)
    finally:
        logger.close()
        env.close()
    if code:
        return code
    if interrupts.requested:  # between the last save and here
        return EXIT_INTERRUPTED
    interrupts.raising = True
    try:
        _evaluate(model, args, run_dir)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted during the evaluation; {run_dir / 'final.zip'} is saved, "
            "eval.json was not written",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except EnvironmentFailed as err:
        print(f"evaluation stopped: {err}; {run_dir / 'final.zip'} is saved", file=sys.stderr)
        return EXIT_FAULT
    except OSError as err:
        print(f"error: cannot write {run_dir / 'eval.json'}: {err}", file=sys.stderr)
        return EXIT_FAULT
    return EXIT_OK


def _evaluate(model: Any, args: argparse.Namespace, run_dir: Path) -> None:
    env_kwargs = json.loads(args.env_kwargs)
    n = min(8, args.eval_episodes)
    eval_env = guard_env(
        make_env(args.env, n, seed=args.seed + EVAL_SEED_OFFSET, env_kwargs=env_kwargs)
    )
    summary = evaluate(model, eval_env, args.eval_episodes, deterministic=not args.eval_stochastic)
    eval_env.close()
    summary.update(
        env=args.env,
        algo=args.algo,
        credit=model.credit,
        seed=args.seed,
        num_timesteps=model.num_timesteps,
        n_updates=model._n_updates,  # the policy's gradient steps
    )
    _write_json(run_dir / "eval.json", summary)
    head = f"{args.env} {type(model).__name__} {model.credit} seed {args.seed}"
    print(f"{head}, {model.num_timesteps} steps: {format_summary(summary)}")
    print(f"saved {run_dir / 'final.zip'} and {run_dir / 'eval.json'}")
    print(f"learning curves: {tensorboard_command(run_dir.parent)}")


__all__ = [
    "ALGOS",
    "DIVERGENCE_FACTOR",
    "EVAL_SEED_OFFSET",
    "DivergenceGuard",
    "EnvironmentFailed",
    "Health",
    "PeriodicCheckpoint",
    "TrainingDiverged",
    "build_parser",
    "check_device",
    "check_run_name",
    "guard_env",
    "model_kwargs",
    "run_name",
    "train",
]
