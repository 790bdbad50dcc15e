# The README's two commands, `make demo` and `make test`, set up everything from nothing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test test-oldest demo lint bench clean

# A .venv that is broken or of a Python older than 3.10 (say, made before python3-venv was
# installed) is made anew rather than failing the same way on every retry.
$(STAMP): pyproject.toml
	@echo "Setting up .venv: a virtual environment with minidl and its dependencies (once, about 20 s)..."
	@$(PY) -c 'import sys, pip; assert sys.version_info >= (3, 10)' 2>/dev/null \
		|| { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	@$(PY) -m pip install --quiet --upgrade pip
	@# setuptools' build warnings (an editable-install banner) are not for users: PYTHONWARNINGS
	@# silences warnings only; pip's errors still show and still stop make.
	@PYTHONWARNINGS=ignore $(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)
	@echo "Done: run your own scripts with .venv/bin/python (or . .venv/bin/activate)."

test: $(STAMP)
	$(PY) -m pytest

# The suite on the oldest versions pyproject.toml allows (NumPy 1.24, matplotlib 3.6,
# threadpoolctl 3.0), so that floor stays true; CI runs it after `make test`.
OLDEST := .venv-oldest
test-oldest:
	test -x $(OLDEST)/bin/python || $(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install --quiet "numpy==1.24.*" "matplotlib==3.6.*" \
		"threadpoolctl==3.0.*" "pytest>=7"
	$(OLDEST)/bin/python -m pip install --quiet --no-deps -e .
	$(OLDEST)/bin/python -m pytest -p no:warnings

demo: $(STAMP)
	MPLBACKEND=Agg $(PY) examples/train_example_cnn.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# PyTorch's CPU build is only ever taken from a local wheel (an unpinned torch from the index is a
# multi-GB CUDA build): its small pure-Python dependencies come from the index, torch itself with
# --no-index --no-deps. Without the wheel, the comparison columns say n/a.
TORCH_DEPS := filelock sympy networkx jinja2 fsspec typing-extensions threadpoolctl
WHEELS ?= /opt/wheels
bench: $(STAMP)
	@$(PY) -c "import torch" 2>/dev/null || { \
		ls $(WHEELS)/torch-2.13.0*.whl >/dev/null 2>&1 \
		&& $(PY) -m pip install --quiet $(TORCH_DEPS) \
		&& $(PY) -m pip install --quiet --no-index --no-deps --find-links $(WHEELS) "torch==2.13.0"; \
	} || echo "No PyTorch CPU wheel in $(WHEELS): the PyTorch comparison will be skipped."
	$(PY) benchmarks/run.py
	@echo "Scaling: trainnet on 1 process, then on 2 MPI ranks (benchmarks/scaling.py)"
	@$(PY) benchmarks/scaling.py
	@$(VENV)/bin/mpiexec -n 2 $(PY) -m mpi4py benchmarks/scaling.py

clean:
	rm -rf $(VENV) $(OLDEST) build *.egg-info .pytest_cache .ruff_cache out
