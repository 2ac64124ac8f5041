# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: demo test install bench bench-zoo clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall when the package metadata or the pins change.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PIP) install -q -c constraints.txt -e '.[all,test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/convnet demo

test: $(STAMP)
	bash scripts/test-deps.sh
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/fashion_mnist.py --json bench.json

# the ResNet target of the model zoo: resnet9_w16, 16 epochs of Fashion-MNIST (~15 min on 2 cores)
bench-zoo: $(STAMP)
	$(PY) benchmarks/zoo_fashion_mnist.py --models resnet9_w16:16 --json zoo.jsonl

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
