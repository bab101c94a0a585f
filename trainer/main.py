"""Trains MoCoGAN on a shard set.

    python -m trainer.main --recipe=video64 --tfrecords=shards/ucf101 --model_dir=runs/ucf101
    python -m trainer.main ... --recipe=demo --more_steps=3000     # the CPU demo's recipe
    python -m trainer.main ... --dry_run     # print the resolved config and exit

--recipe chooses a named recipe (trainer/configs/): video64, the full-size recipe for 64x64
video; demo, the same techniques at demo sizes; mocogan, the paper's exact setting. Without
--recipe every flag keeps its own default, which is the paper's setting (as --recipe=mocogan).

Re-running the same command continues from the latest checkpoint to --train_steps (with
--more_steps=N instead: to the latest checkpoint's step + N). SIGTERM
(preemption) saves a checkpoint and exits cleanly, on one host or any worker of several
(tf.distribute's PreemptionCheckpointHandler, trainer/checkpoints/preemption.py). One trainer per model
directory: a second one exits with an error naming the first (pid, host). Several machines:
--strategy=multi_worker with TF_CONFIG set on each; a TPU: --tpu=NAME. TensorBoard:
`tensorboard --logdir=<model_dir>`.
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import signal
import sys

from absl import app
from absl import flags
from absl import logging

from trainer import config as config_lib
from trainer import configs
from trainer import flag_fields
from trainer import networks

# Every Config and ModelConfig option is a flag made from its field (type, default, help text).
flag_fields.define_flags(config_lib.Config)
flag_fields.define_flags(networks.ModelConfig)
# Flags of this program that are not fields: they choose, or act on, the config.
_RECIPE = flags.DEFINE_enum("recipe", None, list(configs.RECIPES), "A named recipe "
                            "(trainer/configs/): defaults for the flags it names; flags given on "
                            "the command line win. video64: the full-size recipe for 64x64 "
                            "video; demo: the same at demo sizes; mocogan: the paper's setting "
                            "(also what no --recipe gives).")
_PRESET = flags.DEFINE_enum("preset", "mocogan", list(networks.PRESETS), "Network sizes.")
_MORE_STEPS = flags.DEFINE_integer("more_steps", None, "Instead of --train_steps: this many "
                                   "iterations beyond the latest checkpoint (demo and scheduled runs).")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the resolved config and exit.")
FLAGS = flags.FLAGS
EXIT_INTERRUPTED = 130  # the shell's code for a job ended by Ctrl-C


def config_from_flags():
    """(the validated shards, Config): the clip shape and classes come from the shard set."""
    from trainer import data

    shards = data.resolve_shards(FLAGS.tfrecords, skip_corrupt=FLAGS.skip_corrupt_shards)
    if not shards.manifest.class_names:
        apply_recipe(has_classes=False)
    options = {**flag_fields.flag_values(config_lib.Config),
               **flag_fields.flag_values(networks.ModelConfig),
               "preset": _PRESET.value, "train_steps": target_steps(FLAGS.model_dir)}
    return shards, config_lib.from_options(options, shards.manifest.clip_shape,
                                           shards.manifest.class_names)


def target_steps(model_dir: str) -> int:
    """--train_steps, or the latest checkpoint's step + --more_steps when that is given."""
    if _MORE_STEPS.value is None:
        return FLAGS.train_steps
    if _MORE_STEPS.value < 0:
        raise ValueError(f"--more_steps={_MORE_STEPS.value} must be >= 0")
    import tensorflow as tf
    from trainer.checkpoints.paths import checkpoint_dir, checkpoint_step

    latest = tf.train.latest_checkpoint(checkpoint_dir(model_dir))  # gs:// too
    done = checkpoint_step(latest) if latest else None
    return (done or 0) + _MORE_STEPS.value


class SigtermDuringStartup:
    """Remembers a SIGTERM that comes before training starts (reading shards, building the nets),
    which would otherwise kill the process; train_lib hands it to the preemption handler
    (trainer/checkpoints/preemption.py), which from then on owns SIGTERM."""

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame):
        logging.warning("SIGTERM received during start-up: checkpointing after the first step")
        self.requested = True

    def __call__(self) -> bool:
        return self.requested


def apply_recipe(has_classes: bool = True) -> None:
    """Gives every flag the --recipe names the recipe's value, unless the command line set it.
    has_classes=False (a shard set without class names): the recipe's class-conditional
    techniques are off, so a recipe trains on unlabelled footage too."""
    if not _RECIPE.value:
        return
    values = configs.recipe(_RECIPE.value, has_classes)
    given = {name for name in values if FLAGS[name].present}
    if FLAGS["train_steps"].present:  # a total given by hand replaces the recipe's length
        given.add("more_steps")
    for name, value in values.items():
        if name not in given:
            FLAGS[name].value = value


def main(argv):
    del argv
    apply_recipe()
    startup_signal = SigtermDuringStartup()
    strategy = None
    if not _DRY_RUN.value:
        from trainer import strategy as strategy_lib

        # Multi-worker collectives must be set up before TensorFlow runs any op.
        try:
            strategy = strategy_lib.make_strategy(FLAGS.strategy, FLAGS.tpu)
        except ValueError as e:  # e.g. multi_worker without TF_CONFIG: the message says what to set
            sys.exit(f"error: {e}")
    try:
        shards, config = config_from_flags()
    except ValueError as e:  # bad shards or options: the message says what to do
        sys.exit(f"error: {e}")
    if _DRY_RUN.value:
        print(config.to_json())
        return
    from pipeline import run_lock
    from trainer import train_lib

    try:
        result = train_lib.train(config, strategy=strategy, should_stop=startup_signal,
                                 shards=shards)
    except (config_lib.ConfigError, train_lib.NonFiniteLossError, train_lib.data.DataError,
            run_lock.LockHeld, train_lib.CheckpointWriteError, train_lib.CheckpointReadError) as e:
        sys.exit(f"error: {e}")
    except train_lib.TrainingInterrupted as e:
        print(str(e), file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:  # before the first step: nothing new to save
        print(f"interrupted (Ctrl-C) before training began; nothing was saved to {config.model_dir}",
              file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    logging.info("stopped at step %d of %d", result.step, config.train_steps)


if __name__ == "__main__":
    flags.mark_flags_as_required(["tfrecords", "model_dir"])
    app.run(main)
