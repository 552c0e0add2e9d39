# `make demo` and `make test` each set up .venv on a fresh machine, then run.
# torch==2.13.0 is pinned because these machines hold its CPU wheel on disk; a plain `torch`
# would pull a multi-GB CUDA build.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.archzoo-installed
FMNIST := /usr/share/datasets/fashion-mnist

.PHONY: setup demo test test-slow docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m pip --version >/dev/null 2>&1 || python3 -m venv --clear $(VENV)  # none yet, or a half-made one
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[data,test]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m archzoo train cnn_20_50_500 --data digits --resize 28 --epochs 15 --batch-size 32 \
		--optimizer adam --lr 2e-3 --out runs/demo-digits --overwrite
	@if [ -d $(FMNIST) ]; then \
		$(PY) -m archzoo train cnn_20_50_500 --data fashion-mnist --epochs 3 --optimizer sgd \
			--nesterov --lr 0.05 --batch-size 64 --out runs/demo-fashion-mnist --overwrite; \
	else echo "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): skipped"; fi

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

docs: $(STAMP)
	$(PY) -m archzoo list --format md > docs/models.md.tmp && mv docs/models.md.tmp docs/models.md

clean:
	rm -rf $(VENV) runs
