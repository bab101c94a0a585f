# Every target installs the project into .venv first if it is not there yet, so a fresh machine
# needs nothing but `make demo` and `make test`.
PYTHON_SYSTEM ?= python3
VENV ?= .venv
PY ?= $(VENV)/bin/python
STAMP ?= $(VENV)/.installed

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

.PHONY: install test preprocess bench demo retrain clean

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
	$(PY) -m pipeline.benchmark --videos=200
	$(PY) -m trainer.benchmark --warmup_steps=2 --steps=4

# make demo: Shape Motion videos -> Beam -> shards -> MoCoGAN ('small') -> GIFs, sheet, metrics.
# Each run trains DEMO_STEPS more steps from the last checkpoint; the data are made once.
DEMO_DIR ?= demo
DEMO_VIDEOS ?= 300
DEMO_STEPS ?= 1200
DEMO_METRIC_VIDEOS ?= 128
DEMO_REPORT_ARGS ?=
# Batch 8 at a higher learning rate: twice the steps in the same minutes, which is what a 2-core
# budget needs before shapes appear (batch 16 at 2e-4 was still grey after 300 steps here).
# R1 (gamma 10): without it both discriminators won outright on the pure-black backgrounds (losses
# near 0.01) and the samples stayed almost black; with it every video shows moving blobs after
# 1,200 steps and the demo's fd_shapes more than halved (285 -> 127-138; BUILD.md). Spectral norm did
# not help.
DEMO_TRAIN_ARGS ?= --preset=small --batch_size=8 --image_batch_size=16 --learning_rate=5e-4 \
	--r1_gamma=10 --ema_decay=0.99 --checkpoint_every=200 --summary_every=50 --sample_every=200

demo: $(STAMP)
	$(PY) -m pipeline.datasets.shapes --out=$(DEMO_DIR)/videos --num_videos=$(DEMO_VIDEOS) --seed=0
	$(PY) -m pipeline.main --dataset=folder --input=$(DEMO_DIR)/videos --output=$(DEMO_DIR)/shards --incremental=on
	$(PY) -m trainer.main --tfrecords=$(DEMO_DIR)/shards --model_dir=$(DEMO_DIR)/run \
		--more_steps=$(DEMO_STEPS) $(DEMO_TRAIN_ARGS)
	$(PY) -m trainer.report --model_dir=$(DEMO_DIR)/run --tfrecords=$(DEMO_DIR)/shards \
		--out_dir=$(DEMO_DIR)/out --num_videos=$(DEMO_METRIC_VIDEOS) $(DEMO_REPORT_ARGS)
	@echo "TensorBoard: $(VENV)/bin/tensorboard --logdir=$(DEMO_DIR)/run"

# make retrain DATASET=folder INPUT=/data/videos SHARDS=shards/mine MODEL_DIR=runs/mine PUBLISH_DIR=models/mine
SHARDS ?= shards/$(DATASET)
MODEL_DIR ?= runs/$(DATASET)
PUBLISH_DIR ?= models/$(DATASET)
RETRAIN_STEPS ?= 1000
# fd_shapes is defined on Shape Motion data (the demo's) only; on your own footage use METRIC=fvd
# (needs I3D: online, cached, or EVAL_ARGS="--i3d_model=DIR") or METRIC=fid. retrain refuses a
# metric its data does not define before it preprocesses anything (BUILD.md, Quality metrics).
METRIC ?= fd_shapes
TRAIN_ARGS ?=
EVAL_ARGS ?=
RETRAIN_ARGS ?=

# `exec` so that a SIGTERM sent to make's shell reaches retrain (which passes it to the trainer).
retrain: $(STAMP)
	@test -n "$(INPUT)" || (echo "set INPUT=DIR (and DATASET=ucf101|folder); see BUILD.md" >&2; exit 2)
	exec $(PY) -m trainer.retrain --shards=$(SHARDS) --model_dir=$(MODEL_DIR) \
		--publish_dir=$(PUBLISH_DIR) --train_steps=$(RETRAIN_STEPS) --metric=$(METRIC) \
		--preprocess_flags="--dataset=$(DATASET) --input=$(INPUT) $(if $(SPLITS),--splits=$(SPLITS)) $(ARGS)" \
		--trainer_flags="$(TRAIN_ARGS)" --evaluate_flags="$(EVAL_ARGS)" $(RETRAIN_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache
