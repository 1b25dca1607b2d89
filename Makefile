# GreyMaster: `make run` and `make test` do the whole set-up on a fresh Debian machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
CORPUS ?= $(HOME)/.cache/greymaster/corpus
APT_UPDATED := $(HOME)/.cache/greymaster/.apt-updated
# PortAudio for playback; PulseAudio's null sink and ALSA's pulse plugin are the virtual sound card
# of the playback tests and benchmarks (tests/virtual_audio.py); EGL, xkbcommon, fontconfig, GLib,
# D-Bus and a font are what Qt needs to draw the app offscreen.
SYSTEM_PACKAGES := libportaudio2 pulseaudio libasound2-plugins \
	libegl1 libgl1 libxkbcommon0 libfontconfig1 libglib2.0-0 libdbus-1-3 fonts-dejavu-core
SYSTEM_INSTALLED := $(HOME)/.cache/greymaster/.system-packages
DEMO := assets/demo/demo-premaster.flac

export GREYMASTER_CORPUS := $(CORPUS)

.PHONY: run test bench corpus train-data train eval lint demo clean

# CPU torch first, pinned: a bare `torch` would pull gigabytes of CUDA packages.
$(INSTALLED): pyproject.toml $(SYSTEM_INSTALLED)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,bench,train]'
	touch $@

# Real recordings come from Debian packages (apt-get download + dpkg -x), cached once.
$(APT_UPDATED):
	mkdir -p $(dir $@)
	apt-get update -qq
	touch $@

$(SYSTEM_INSTALLED): $(APT_UPDATED) Makefile
	dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES)
	echo $(SYSTEM_PACKAGES) > $@

corpus: $(INSTALLED) $(APT_UPDATED)
	$(BIN)/python -m training.corpus fetch --dest $(CORPUS)

# With a display: the app on the demo. Headless: the same job from the command line, and a
# screenshot of the app after its analysis of the demo (drawn offscreen).
run: $(INSTALLED)
	mkdir -p out
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		$(BIN)/greymaster-app $(DEMO); \
	else \
		echo "No display: mastering the demo headless, and drawing the app offscreen."; \
		$(BIN)/greymaster master $(DEMO) -o out/demo-master.wav --report out/demo-master.json && \
		QT_QPA_PLATFORM=offscreen $(BIN)/greymaster-app --screenshot out/greymaster-app.png $(DEMO) && \
		echo "--- report (out/demo-master.json) ---" && cat out/demo-master.json && \
		echo "--- the app after analysing the demo: out/greymaster-app.png ---"; \
	fi

lint: $(INSTALLED)
	$(BIN)/ruff check .

test: $(INSTALLED) corpus lint
	$(BIN)/python -m pytest -q

bench: $(INSTALLED) corpus
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.playback
	$(BIN)/python -m benchmarks.app

# The model: more soundtracks for training (about 600 MB, once), then one command from scratch.
train-data: $(INSTALLED) $(APT_UPDATED)
	$(BIN)/python -m training.corpus fetch --dest $(CORPUS) --training

train: train-data
	$(BIN)/python -m training.train --corpus $(CORPUS) --resume

eval: train-data
	$(BIN)/python -m training.evaluate --corpus $(CORPUS)

demo: $(INSTALLED) corpus
	$(BIN)/python -m training.demo --corpus $(CORPUS) --out $(DEMO)

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
