"""Train a recurrent agent on any Gymnasium environment, from id to evaluated checkpoint.

    python scripts/train.py --env bpl/TMaze-v0 --env-kwargs '{"corridor_length": 50}' \\
        --credit bp_lambda --total-timesteps 200000
    python scripts/train.py --help          # every flag; agent options with their defaults

Options left out come from the entry for the env in ``agents/hyperparams/<algo>.yml``
(the documented results' settings; ``--hyperparams none``: the agent's defaults,
``--hyperparams FILE``: your own file of that format); flags given override the entry.

What it does is :func:`agents.runs.train` (run folder, checkpoints, evaluation, resume).
Exit codes: 0 done, 2 bad input, 3 non-finite loss or diverging parameters, 4 the
environment raised or a file could not be written, 130 interrupted (checkpoint saved).
"""

from __future__ import annotations

import signal
import sys

from agents.runs import train

if __name__ == "__main__":
    # Interrupts that arrive after train() has saved and closed everything (a second or
    # third Ctrl-C) must not kill the interpreter's shutdown: train() handles them while
    # it runs and restores this "ignore" when it returns.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(train())
