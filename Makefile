# Two commands after cloning:  `make run` (the pipeline on sample data) and
# `make test`. Both install what they need first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_ROOT ?= data/sample
OUTPUT_DIR ?= output
SAMPLE := $(DATA_ROOT)/tfrecords-jpeg-192x192/.complete
RUN_ARGS ?=
PYTEST_ARGS ?=
export PYTHONPATH := $(CURDIR)

.PHONY: install data run test test-fast test-engines kubeflow image-check lock clean help bench gpu-check submission beam-jobs

help:
	@echo "make run      - run the pipeline on the sample data (installs first)"
	@echo "make test     - run every test, slow ones included (installs first)"
	@echo "make test-fast- unit tests only"
	@echo "make test-engines - the Flink/Spark end-to-end tests alone (Maven and a JDK)"
	@echo "make kubeflow - compile the KFP v2 pipeline spec (needs FLOWERS_IMAGE, FLOWERS_PIPELINE_ROOT, FLOWERS_DATA_ROOT, FLOWERS_SERVING_DIR; docs/deploy.md)"
	@echo "make image-check - resolve the Dockerfile's cpu/gpu/tpu package sets with pip, no Docker (~3 min)"
	@echo "make data     - generate the sample data in $(DATA_ROOT)"
	@echo "make lock     - rewrite constraints.txt from the installed venv"
	@echo "make submission - Kaggle submission.csv from the newest pushed model (MODEL=... to choose)"
	@echo "make bench    - benchmark the pipeline against plain Keras (~15 min; BENCH_ARGS=--quick)"
	@echo "make gpu-check - training images/s, input-bound share and share of peak FLOP/s on one GPU (< 8 min)"
	@echo "make beam-jobs - fetch Beam's Flink and Spark job servers with Maven into $(BEAM_JOBS_DIR)"

install: $(STAMP)

# TFX 1.16 declares Python < 3.11 but runs on 3.11, hence
# --ignore-requires-python; constraints.txt pins every transitive package so
# pip never backtracks. Re-runs do nothing until a requirements file changes.
$(STAMP): requirements.txt constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing the pinned TFX 1.16 stack into $(VENV) (about 3 minutes, 3.4 GB)..."
	$(PY) -m pip install --quiet --upgrade pip==24.2
	$(PY) -m pip install --quiet --ignore-requires-python \
	    -r requirements.txt -c constraints.txt
	touch $(STAMP)

data: $(SAMPLE)

$(SAMPLE): tools/make_sample_data.py | $(STAMP)
	rm -rf $(DATA_ROOT)/tfrecords-jpeg-192x192
	$(PY) tools/make_sample_data.py --output $(DATA_ROOT)
	touch $(SAMPLE)

run: $(STAMP) $(SAMPLE)
	$(PY) local_runner.py --data-root $(DATA_ROOT) --output-dir $(OUTPUT_DIR) $(RUN_ARGS)

# Every test, the Flink/Spark end-to-end ones (marker `engines`, about 4
# minutes; they run `make beam-jobs`, which needs Maven and a JDK) included.
# `make test-engines` runs those alone.
test: $(STAMP)
	$(PY) -m pytest tests $(PYTEST_ARGS)

test-engines: $(STAMP)
	$(PY) -m pytest tests -m engines $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

# Figures with targets, printed and recorded in bench/results/<timestamp>.json
# (docs/benchmarks.md). Generates its own data under the temp folder.
BENCH_ARGS ?=
bench: $(STAMP)
	$(PY) bench/run.py $(BENCH_ARGS)

# Training throughput on one GPU (docs/benchmarks.md, "GPU check"): record
# in bench/results/gpu-check-<timestamp>.json. Adds the CUDA wheels of
# requirements-gpu.txt to the venv first, as the Dockerfile's gpu build does.
GPU_STAMP := $(VENV)/.installed-gpu
GPU_CHECK_ARGS ?=
$(GPU_STAMP): requirements-gpu.txt $(STAMP)
	$(PY) -m pip install --quiet --ignore-requires-python \
	    -r requirements.txt -r requirements-gpu.txt -c constraints.txt
	touch $(GPU_STAMP)

gpu-check: $(GPU_STAMP)
	$(PY) bench/gpu_check.py $(GPU_CHECK_ARGS)
# Beam's Flink and Spark job servers (docs/beam-engines.md), fetched by Maven
# into a git-ignored cache; the flink/spark profiles' local engines and
# tests/test_beam_engines.py use them. Does nothing once they are there.
BEAM_JOBS_DIR ?= .cache/beam-jobs
beam-jobs:
	@command -v mvn >/dev/null || { echo "error: Maven (mvn) and a JDK are needed (docs/beam-engines.md)"; exit 1; }
	$(PYTHON) tools/beam_jobs.py --cache-dir $(BEAM_JOBS_DIR)

# Kaggle submission (docs/inference.md) from the newest pushed model
# under $(OUTPUT_DIR)/serving, or MODEL=<SavedModel folder>.
MODEL ?= $(lastword $(sort $(wildcard $(OUTPUT_DIR)/serving/[0-9]*)))
submission: $(STAMP) $(SAMPLE)
	@test -n "$(MODEL)" || { echo "error: no pushed model under $(OUTPUT_DIR)/serving (make run first, or MODEL=...)"; exit 1; }
	$(PY) tools/submission.py --model $(MODEL) --data-root $(DATA_ROOT) --output $(OUTPUT_DIR)/submission.csv

kubeflow: $(STAMP)
	$(PY) kubeflow_runner.py --output flowers_pipeline.json

# The Dockerfile's install step, run without Docker: pip resolves each
# build's package set (--dry-run); ACCELERATORS="gpu" to check one.
ACCELERATORS ?= cpu gpu tpu
image-check: $(STAMP)
	$(PY) tools/check_image.py --resolve $(ACCELERATORS)

lock: $(STAMP)
	{ echo "# Full lock of the venv (make lock): every package, pinned."; \
	  $(PY) -m pip freeze --all | grep -v -e '^pip==' -e '^setuptools=='; } > constraints.txt
	touch $(STAMP)

clean:
	rm -rf $(OUTPUT_DIR) $(DATA_ROOT) flowers_pipeline.json
