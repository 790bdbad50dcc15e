# The README's two commands, `make demo` and `make test`, set up everything from nothing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test demo lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	MPLBACKEND=Agg $(PY) examples/train_example_cnn.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# PyTorch's CPU build is only ever taken from a local wheel (an unpinned torch from the index is a
# multi-GB CUDA build): its small pure-Python dependencies come from the index, torch itself with
# --no-index --no-deps. Without the wheel, the comparison columns say n/a.
TORCH_DEPS := filelock sympy networkx jinja2 fsspec typing-extensions threadpoolctl
bench: $(STAMP)
	@$(PY) -c "import torch" 2>/dev/null || ( \
		$(PY) -m pip install --quiet $(TORCH_DEPS) && \
		$(PY) -m pip install --quiet --no-index --no-deps --find-links /opt/wheels "torch==2.13.0" \
	) || echo "PyTorch CPU wheel not found locally: the PyTorch comparison will be skipped."
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
