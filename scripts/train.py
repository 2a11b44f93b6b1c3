"""Train a recurrent agent on any Gymnasium environment, from id to evaluated checkpoint.

    python scripts/train.py --env bpl/TMaze-v0 --env-kwargs '{"corridor_length": 50}' \\
        --credit bp_lambda --total-timesteps 200000
    python scripts/train.py --help          # every flag; agent options with their defaults

What it does is :func:`agents.runs.train` (run folder, checkpoints, evaluation, resume).
"""

from __future__ import annotations

import sys

from agents.runs import train

if __name__ == "__main__":
    sys.exit(train())
