# Two commands on a fresh machine:  make run  (index corpus/ and serve)   make test  (the test suite)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
INDEX_DIR ?= var/index
export HF_HUB_OFFLINE := 1

.PHONY: run run-milvus test test-fast lint check-install install index serve bench bench-milvus bench-quality bench-speed bench-peer bench-load bench-ingest bench-marks browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# CPU torch first, from its exact pinned version; anything else would pull CUDA packages.
$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,milvus,cluster]'
	touch $@

install: $(VENV)/.installed

$(INDEX_DIR)/CURRENT: | install
	$(BIN)/indexer rebuild --corpus corpus --index $(INDEX_DIR)

index: $(INDEX_DIR)/CURRENT

run: install index
	$(BIN)/indexer serve --index $(INDEX_DIR) --host $(HOST) --port $(PORT)

# The same archive on the Milvus backend: a Milvus Lite file here, or MILVUS_URI=http://host:19530.
MILVUS_URI ?= var/archive.db
run-milvus: install
	$(BIN)/indexer rebuild --backend milvus --milvus-uri $(MILVUS_URI) --corpus corpus --index $(INDEX_DIR)
	$(BIN)/indexer serve --backend milvus --milvus-uri $(MILVUS_URI) --index $(INDEX_DIR) --host $(HOST) --port $(PORT)

# Debian's Chromium for the real-browser test; skipped quietly where apt is unavailable.
browser:
	@command -v chromium >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	  echo "note: could not install chromium; the browser test will skip")

test: install browser lint
	$(BIN)/python -m pytest

# The habits that keep the code's shape: ruff (pyflakes, imports, bugbear, pyupgrade) and mypy,
# which also checks that both backends satisfy the contract (archive/backends/contract.py).
lint: install
	$(BIN)/ruff check archive web indexer tests
	$(BIN)/mypy

# The quick lane while developing: everything but the tests marked slow (kills, load, fuzzing, browser).
test-fast: install
	$(BIN)/python -m pytest -m "not slow"

# The package as a user installs it: fresh venv, no extras, one file of every input format (CI runs it too).
check-install:
	bash .ci/check-install

bench: bench-quality bench-speed bench-peer bench-load bench-ingest bench-milvus

bench-quality: install
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/quality.py --compare-precisions

bench-speed: install
	$(BIN)/python bench/speed.py
	$(BIN)/python bench/speed.py --scale
	$(BIN)/python bench/speed.py --precisions

bench-load: install
	$(BIN)/python bench/load.py
	$(BIN)/python bench/load.py --steady --seconds 25
	$(BIN)/python bench/load.py --attack --seconds 25

bench-milvus: install
	$(BIN)/python bench/milvus.py

bench-ingest: install
	$(BIN)/python bench/ingest.py

bench-marks: install
	$(BIN)/python bench/semantic_marks.py

bench-peer: install
	$(BIN)/pip install --quiet txtai
	$(BIN)/python bench/peer_txtai.py

clean:
	rm -rf var bench/.work
