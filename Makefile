# The README's two commands: `make repro` (set up + run the pipeline) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install repro test lint bench clean

install: $(VENV)/.installed

# torch and torchvision are pinned exactly: the versions tested, whose wheels CI's host keeps
# (a looser range may fetch others). PyPI's Linux torch is its CUDA build, about 3 GB with the
# nvidia-* packages it pulls in; on a machine without an NVIDIA GPU,
# `make repro TORCH_INDEX=https://download.pytorch.org/whl/cpu` takes the CPU build instead.
TORCH_INDEX ?=
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[dev,pipeline,text]'
	touch $@

repro: install
	dvc repro

test: install
	ruff check .
	python -m pytest -q --durations=20

lint: install
	ruff check .

bench: install
	python benchmarks/schedulers.py
	python benchmarks/runtime.py

# the pipeline's untracked outputs (data sets, models, logits); reports/ is tracked by git,
# so it stays (`git checkout reports` restores the committed run's, `dvc repro` remakes it)
clean:
	rm -rf data artifacts
