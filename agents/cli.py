"""Pieces the command-line entry points share: renamed flags and torch's thread count.

The entry points in ``scripts/`` parse their own arguments; what they have in common
lives here, in the package, rather than in one script imported by another.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch


class RenamedFlag(argparse.Action):
    """An old flag that now has another name: using it is an error naming the new one."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str, **kwargs: Any):
        kwargs.setdefault("nargs", "?")
        kwargs["help"] = argparse.SUPPRESS
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: D102
        parser.error(f"{option_string} was renamed: use {self.new}")


def add_renamed_flags(parser: argparse.ArgumentParser, renamed: dict[str, str]) -> None:
    """Register ``{old: new}`` flags that fail with a message naming the new flag."""
    for old, new in renamed.items():
        parser.add_argument(old, action=RenamedFlag, new=new, dest=f"_renamed_{old}")


def add_threads_flag(parser: Any) -> None:
    """``--threads N``: torch's CPU threads for the run (checked by :func:`set_threads`;
    default :func:`default_threads`)."""
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1, or $OMP_NUM_THREADS)",
    )


def default_threads() -> int:
    """Threads for one training process: 1 (small recurrent nets are latency-bound: a
    second thread on a busy core made an agent ~10× slower), or ``$OMP_NUM_THREADS``."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else 1


def set_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads (None: :func:`default_threads`); return the count."""
    n = default_threads() if threads is None else threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be an integer >= 1, got {n!r}")
    torch.set_num_threads(n)
    return n


def tensorboard_command(logdir: str | os.PathLike) -> str:
    """A command that shows the TensorBoard logs under ``logdir``: the ``tensorboard``
    beside this Python (e.g. ``.venv/bin/tensorboard``) when there is one, else
    ``python -m tensorboard.main``."""
    exe = Path(sys.executable).parent / "tensorboard"
    if exe.exists():
        try:
            shown = str(exe.relative_to(Path.cwd()))
        except ValueError:
            shown = str(exe)
        return f"{shown} --logdir {logdir}"
    return f"{Path(sys.executable).name} -m tensorboard.main --logdir {logdir}"


__all__ = [
    "RenamedFlag",
    "add_renamed_flags",
    "add_threads_flag",
    "default_threads",
    "set_threads",
    "tensorboard_command",
]
