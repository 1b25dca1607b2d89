# GreyMaster: `make run` and `make test` do the whole set-up on a fresh Debian machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
CORPUS ?= $(HOME)/.cache/greymaster/corpus
APT_UPDATED := $(HOME)/.cache/greymaster/.apt-updated
DEMO := assets/demo/demo-premaster.flac

export GREYMASTER_CORPUS := $(CORPUS)

.PHONY: run test bench corpus lint demo clean

# CPU torch first, pinned: a bare `torch` would pull gigabytes of CUDA packages.
$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@

# Real recordings come from Debian packages (apt-get download + dpkg -x), cached once.
$(APT_UPDATED):
	mkdir -p $(dir $@)
	apt-get update -qq
	touch $@

corpus: $(INSTALLED) $(APT_UPDATED)
	$(BIN)/python -m training.corpus fetch --dest $(CORPUS)

run: $(INSTALLED)
	mkdir -p out
	$(BIN)/greymaster master $(DEMO) -o out/demo-master.wav --report out/demo-master.json
	@echo "--- report (out/demo-master.json) ---"
	@cat out/demo-master.json

lint: $(INSTALLED)
	$(BIN)/ruff check .

test: $(INSTALLED) corpus lint
	$(BIN)/python -m pytest -q

bench: $(INSTALLED) corpus
	$(BIN)/python -m benchmarks.run

demo: $(INSTALLED) corpus
	$(BIN)/python -m training.demo --corpus $(CORPUS) --out $(DEMO)

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
