# One-command set-up: every target creates .venv when there is none.
# TORCH_SPEC pins the CPU wheel that lies on disk on the project's machines (seconds to
# install); the package itself only asks for torch>=2.1, so `pip install .` elsewhere
# takes whatever torch suits that machine. Override: make test TORCH_SPEC="torch".
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo demo-synth test test-slow lint bench reproduce tensorboard clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev,plots,digits,contrib,sweep]"
	touch $(STAMP)

# main job: the BP(λ) agent on a T-maze beside TBPTT and BPTT (about 3 minutes here)
demo: $(STAMP)
	$(PY) scripts/demo_agent.py

# the core alone: a gradient critic learning a frozen RNN's future gradient (seconds)
demo-synth: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(STAMP)
	$(PY) scripts/benchmark_traces.py

reproduce: $(STAMP)
	$(PY) scripts/reproduce_paper.py --preset medium --out runs/reproduce_medium

# the learning curves of every run under runs/ (http://localhost:6006)
tensorboard: $(STAMP)
	$(VENV)/bin/tensorboard --logdir runs

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
