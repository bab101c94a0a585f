# Every target installs the project into .venv first if it is not there yet, so a fresh machine
# needs nothing but `make demo` and `make test`.
PYTHON_SYSTEM ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

# make preprocess DATASET=ucf101 INPUT=/data/UCF-101 SPLITS=/data/ucfTrainTestlist OUTPUT=shards/ucf101
DATASET ?= folder
INPUT ?=
SPLITS ?=
OUTPUT ?= shards/$(DATASET)
RUNNER ?= DirectRunner
ARGS ?=
PREPROCESS_FLAGS = --dataset=$(DATASET) --input=$(INPUT) --output=$(OUTPUT) --runner=$(RUNNER) \
	$(if $(SPLITS),--splits=$(SPLITS)) $(if $(PROJECT),--project=$(PROJECT)) \
	$(if $(REGION),--region=$(REGION)) $(if $(TEMP_LOCATION),--temp_location=$(TEMP_LOCATION)) \
	$(if $(filter DataflowRunner,$(RUNNER)),--setup_file=./setup.py) $(ARGS)

TEST_ARGS ?= -n 2

.PHONY: install test preprocess bench demo clean

install: $(STAMP)

$(STAMP): setup.py
	$(PYTHON_SYSTEM) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest tests $(TEST_ARGS)

preprocess: $(STAMP)
	@test -n "$(INPUT)" || (echo "set INPUT=DIR (and DATASET=ucf101|bair|folder); see README.md" >&2; exit 2)
	$(PY) -m pipeline.main $(PREPROCESS_FLAGS)

bench: $(STAMP)
	$(PY) -m pipeline.benchmark
	$(PY) -m trainer.benchmark

clean:
	rm -rf build dist *.egg-info .pytest_cache
