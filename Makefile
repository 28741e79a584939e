# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# TensorFlow's start-up noise is filtered by official_bert itself (official_bert/cli.py);
# TF_CPP_MIN_LOG_LEVEL=0 in the environment shows it again.
test: install
	$(PY) -m pytest -q tests

demo: install
	$(PY) -m official_bert.demo

lint: install
	$(PY) -m pip install --quiet ruff
	$(PY) -m ruff check official_bert tests benchmarks *.py

clean:
	rm -rf $(VENV) demo_output
