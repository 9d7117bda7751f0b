# The two set-up commands: `make run` starts the app, `make test` runs the whole suite.
# Both create the virtual environment when it is missing.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint env clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch and torchvision first, pinned: a plain `torch` would pull a CUDA build from the registry.
	$(PY) -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

env: $(STAMP)

run: $(STAMP)
	@$(PY) -m app.syslibs
	$(VENV)/bin/viewfinder

lint: $(STAMP)
	$(VENV)/bin/ruff check app engine trainer tests benchmarks
	$(VENV)/bin/mypy engine trainer app

test: $(STAMP) lint
	HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen $(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV)
