#!/usr/bin/env bash
# Experiment (d), copy-repeat, at the paper's size (LSTM H = 100, linear critic) on one GPU:
# every method with the same number of sequences (preset "gpu" of reproduce_paper.py).
#
#   scripts/gpu_copy_repeat.sh                      # cuda, writes runs/gpu_copy_repeat/
#   scripts/gpu_copy_repeat.sh --device cpu --set d.hidden=4 --set d.batches=3   # CPU check
#
# Extra arguments go to reproduce_paper.py (a later --device / --out / --set wins).
# Environment: PYTHON (default .venv/bin/python, else python3), OUT (output folder).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
exec "$PY" scripts/reproduce_paper.py --preset gpu --only d --device cuda \
    --out "${OUT:-runs/gpu_copy_repeat}" --no-progress --threads 1 "$@"
