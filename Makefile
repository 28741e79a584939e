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

test: install
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q tests

demo: install
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m official_bert.demo

lint: install
	$(PY) -m pip install --quiet ruff
	$(PY) -m ruff check official_bert tests benchmarks *.py

clean:
	rm -rf $(VENV) demo_output
