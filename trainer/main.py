"""Trains MoCoGAN on a shard set.

    python -m trainer.main --tfrecords=shards/ucf101 --model_dir=runs/ucf101 --train_steps=100000
    python -m trainer.main ... --recipe=demo --more_steps=3000     # the CPU demo's recipe
    python -m trainer.main ... --dry_run     # print the resolved config and exit

Re-running the same command continues from the latest checkpoint to --train_steps (with
--more_steps=N instead: to the latest checkpoint's step + N). SIGTERM
(preemption) saves a checkpoint and exits cleanly, on one host or any worker of several
(tf.distribute's PreemptionCheckpointHandler, trainer/preemption.py). One trainer per model
directory: a second one exits with an error naming the first (pid, host). Several machines:
--strategy=multi_worker with TF_CONFIG set on each; a TPU: --tpu=NAME. TensorBoard:
`tensorboard --logdir=<model_dir>`.
"""

import signal
import sys

from absl import app
from absl import flags
from absl import logging

from trainer import config as config_lib
from trainer import configs

_RECIPE = flags.DEFINE_enum("recipe", None, list(configs.RECIPES), "A named recipe "
                            "(trainer/configs/): defaults for the flags it names; flags given on "
                            "the command line win.")
_TFRECORDS = flags.DEFINE_string("tfrecords", None, "Shard-set folder (with manifest.json) or a "
                                 "glob of its shard files.")
_MODEL_DIR = flags.DEFINE_string("model_dir", None, "Where checkpoints, config.json and "
                                 "TensorBoard summaries go.")
_TRAIN_STEPS = flags.DEFINE_integer("train_steps", 100_000, "Total iterations (D_I, D_V, G).")
_MORE_STEPS = flags.DEFINE_integer("more_steps", None, "Instead of --train_steps: this many "
                                   "iterations beyond the latest checkpoint (demo and scheduled runs).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 16, "Global batch of clips, over all replicas.")
_IMAGE_BATCH_SIZE = flags.DEFINE_integer("image_batch_size", 32, "Global batch of single frames "
                                         "for the image discriminator.")
_PRESET = flags.DEFINE_enum("preset", "mocogan", ["mocogan", "small"], "Network sizes.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 2e-4, "Adam learning rate, all three nets.")
_LOSS = flags.DEFINE_enum("loss", "bce", list(config_lib.LOSSES), "Adversarial loss.")
_D_LEARNING_RATE = flags.DEFINE_float("d_learning_rate", 0.0, "Adam rate of both discriminators "
                                      "(TTUR); 0: the same as --learning_rate.")
_R1_GAMMA = flags.DEFINE_float("r1_gamma", 0.0, "R1 penalty weight on real inputs (0: off).")
_R1_EVERY = flags.DEFINE_integer("r1_every", 1, "Lazy R1: the penalty every k steps, weighted "
                                 "by k (StyleGAN2 uses 16).")
_INSTANCE_NOISE = flags.DEFINE_float("instance_noise", 0.0, "Sigma of Gaussian noise added to "
                                     "every discriminator input in training (0: off).")
_INSTANCE_NOISE_STEPS = flags.DEFINE_integer("instance_noise_steps", 0, "Steps over which the "
                                             "instance noise falls linearly to 0 (0: constant).")
_AUGMENT = flags.DEFINE_string("augment", "", "Augment every discriminator input, real and "
                               "fake, the same in each frame of a clip: translation, cutout or "
                               "both, comma-separated (DiffAugment); empty: off.")
_IMAGE_WARMUP_STEPS = flags.DEFINE_integer("image_warmup_steps", 0, "First steps train the frame "
                                           "generator against the image discriminator alone.")
_IMAGE_DISC_LOGITS = flags.DEFINE_enum("image_disc_logits", None, ["patch", "global"],
                                       "Image discriminator output: the paper's 4x4 patch logits "
                                       "or one logit per frame (default: the preset's).")
_VIDEO_DISC_POOL = flags.DEFINE_integer("video_disc_pool", None, "Average-pool factor of the "
                                        "video discriminator's input in space (default: the "
                                        "preset's; 1 is the paper's).")
_GEN_CHANNELS = flags.DEFINE_list("gen_channels", None, "Frame generator widths at 4, 8, 16 and "
                                  "32 pixels, e.g. 128,64,32,16 (default: the preset's).")
_GEN_UPSAMPLE = flags.DEFINE_enum("gen_upsample", None, ["transpose", "resize"], "Frame "
                                  "generator upsampling: the paper's transposed convolutions or "
                                  "nearest resize + 3x3 conv (no colour fringes); default: the "
                                  "preset's.")
_DISC_BATCH_NORM = flags.DEFINE_bool("disc_batch_norm", None, "Batch norm in the discriminators "
                                     "(default: the preset's).")
_SPECTRAL_NORM = flags.DEFINE_bool("spectral_norm", False, "Spectral norm in the discriminators.")
_EMA_DECAY = flags.DEFINE_float("ema_decay", 0.0, "EMA of the generator's weights for samples "
                                "and export (e.g. 0.999; 0: off).")
_EMA_HALF_LIFE = flags.DEFINE_float("ema_half_life_videos", 0.0, "Instead of --ema_decay: the "
                                    "EMA's half-life in training videos (StyleGAN2-ADA).")
_EMA_RAMPUP = flags.DEFINE_float("ema_rampup", 0.0, "Cap the half-life at this times the videos "
                                 "seen so far (StyleGAN2-ADA uses 0.05; 0: no ramp-up).")
_MIXED_PRECISION = flags.DEFINE_enum("mixed_precision", "none", list(config_lib.MIXED_PRECISION),
                                     "bf16 (fast on CPUs with AMX/AVX512-BF16, TPUs) or fp16 "
                                     "(GPUs; with loss scaling).")
_JIT = flags.DEFINE_bool("jit", False, "XLA-compile the step (for GPU/TPU; slower on CPU).")
_CONDITIONAL = flags.DEFINE_bool("conditional", False, "Class-conditional generator and video "
                                 "discriminator class head (the manifest must have classes).")
_REUSE_FAKES = flags.DEFINE_bool("reuse_fakes", True, "Score the D steps' fakes again for the G "
                                 "step instead of rendering new ones.")
_SYNC_BATCH_NORM = flags.DEFINE_bool("sync_batch_norm", True, "With several replicas, batch norm "
                                     "uses the statistics of the global batch.")
_STRATEGY = flags.DEFINE_enum("strategy", "auto", list(config_lib.STRATEGIES), "tf.distribute "
                              "strategy.")
_TPU = flags.DEFINE_string("tpu", "", "TPU name or address (implies --strategy=tpu under auto).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the latents, frame choice and data order.")
_CHECKPOINT_EVERY = flags.DEFINE_integer("checkpoint_every", 500, "Steps between checkpoints.")
_SUMMARY_EVERY = flags.DEFINE_integer("summary_every", 50, "Steps between scalar summaries and "
                                      "progress lines.")
_SAMPLE_EVERY = flags.DEFINE_integer("sample_every", 500, "Steps between GIF samples.")
_MAX_TO_KEEP = flags.DEFINE_integer("max_to_keep", 3, "Checkpoints kept.")
_EVAL_EVERY = flags.DEFINE_integer("eval_every", 0, "Steps between evaluations on the chief "
                                   "(TensorBoard eval/*, best checkpoint); 0: none.")
_EVAL_VIDEOS = flags.DEFINE_integer("eval_videos", 64, "Generated and real videos per evaluation.")
_BEST_METRIC = flags.DEFINE_string("best_metric", "", "Metric the best checkpoint (<model_dir>/"
                                   "best) is kept by, e.g. fd_shapes, fvd or "
                                   "single_blob_fraction; default: the Fréchet distance.")
_SKIP_CORRUPT_SHARDS = flags.DEFINE_bool("skip_corrupt_shards", False, "Leave out (and name) "
                                         "corrupt shard files instead of stopping.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the resolved config and exit.")


def config_from_flags():
    """(the validated shards, Config): the clip shape and classes come from the shard set."""
    from trainer import data

    shards = data.resolve_shards(_TFRECORDS.value, skip_corrupt=_SKIP_CORRUPT_SHARDS.value)
    conditional = _CONDITIONAL.value
    class_names = tuple(shards.manifest.class_names)
    model = config_lib.model_config(_PRESET.value, spectral_norm=_SPECTRAL_NORM.value,
                                    num_classes=len(class_names) if conditional else 0,
                                    image_disc_logits=_IMAGE_DISC_LOGITS.value,
                                    video_disc_pool=_VIDEO_DISC_POOL.value,
                                    disc_batch_norm=_DISC_BATCH_NORM.value,
                                    gen_channels=_int_list(_GEN_CHANNELS.value, "gen_channels"),
                                    gen_upsample=_GEN_UPSAMPLE.value)
    return shards, config_lib.Config(
        model=model, clip_shape=tuple(shards.manifest.clip_shape), class_names=class_names,
        conditional=conditional, tfrecords=_TFRECORDS.value, model_dir=_MODEL_DIR.value,
        train_steps=target_steps(_MODEL_DIR.value), batch_size=_BATCH_SIZE.value,
        image_batch_size=_IMAGE_BATCH_SIZE.value, learning_rate=_LEARNING_RATE.value,
        d_learning_rate=_D_LEARNING_RATE.value, loss=_LOSS.value, r1_gamma=_R1_GAMMA.value,
        r1_every=_R1_EVERY.value, instance_noise=_INSTANCE_NOISE.value,
        instance_noise_steps=_INSTANCE_NOISE_STEPS.value, augment=_AUGMENT.value,
        image_warmup_steps=_IMAGE_WARMUP_STEPS.value, ema_decay=_EMA_DECAY.value,
        ema_half_life_videos=_EMA_HALF_LIFE.value, ema_rampup=_EMA_RAMPUP.value,
        mixed_precision=_MIXED_PRECISION.value, jit=_JIT.value, reuse_fakes=_REUSE_FAKES.value,
        sync_batch_norm=_SYNC_BATCH_NORM.value, seed=_SEED.value, strategy=_STRATEGY.value,
        tpu=_TPU.value,
        checkpoint_every=_CHECKPOINT_EVERY.value, summary_every=_SUMMARY_EVERY.value,
        sample_every=_SAMPLE_EVERY.value, max_to_keep=_MAX_TO_KEEP.value,
        eval_every=_EVAL_EVERY.value, eval_videos=_EVAL_VIDEOS.value,
        best_metric=_BEST_METRIC.value, skip_corrupt_shards=_SKIP_CORRUPT_SHARDS.value)


def _int_list(values, name):
    if values is None:
        return None
    try:
        return tuple(int(v) for v in values)
    except ValueError:
        raise ValueError(f"--{name}={','.join(values)}: give whole numbers separated by commas")


def target_steps(model_dir: str) -> int:
    """--train_steps, or the latest checkpoint's step + --more_steps when that is given."""
    if _MORE_STEPS.value is None:
        return _TRAIN_STEPS.value
    if _MORE_STEPS.value < 0:
        raise ValueError(f"--more_steps={_MORE_STEPS.value} must be >= 0")
    import tensorflow as tf
    from trainer.checkpoint_paths import checkpoint_dir, checkpoint_step

    latest = tf.train.latest_checkpoint(checkpoint_dir(model_dir))  # gs:// too
    done = checkpoint_step(latest) if latest else None
    return (done or 0) + _MORE_STEPS.value


class SigtermDuringStartup:
    """Remembers a SIGTERM that comes before training starts (reading shards, building the nets),
    which would otherwise kill the process; train_lib hands it to the preemption handler
    (trainer/preemption.py), which from then on owns SIGTERM."""

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame):
        logging.warning("SIGTERM received during start-up: checkpointing after the first step")
        self.requested = True

    def __call__(self) -> bool:
        return self.requested


def apply_recipe() -> None:
    """Gives every flag the --recipe names the recipe's value, unless the command line set it."""
    if not _RECIPE.value:
        return
    values = configs.recipe(_RECIPE.value)
    given = {name for name in values if flags.FLAGS[name].present}
    if flags.FLAGS["train_steps"].present:  # a total given by hand replaces the recipe's length
        given.add("more_steps")
    for name, value in values.items():
        if name not in given:
            flags.FLAGS[name].value = value


def main(argv):
    del argv
    apply_recipe()
    startup_signal = SigtermDuringStartup()
    strategy = None
    if not _DRY_RUN.value:
        from trainer import strategy as strategy_lib

        # Multi-worker collectives must be set up before TensorFlow runs any op.
        strategy = strategy_lib.make_strategy(_STRATEGY.value, _TPU.value)
    try:
        shards, config = config_from_flags()
    except ValueError as e:  # bad shards or options: the message says what to do
        sys.exit(f"error: {e}")
    if _DRY_RUN.value:
        print(config.to_json())
        return
    from trainer import run_lock, train_lib

    try:
        result = train_lib.train(config, strategy=strategy, should_stop=startup_signal,
                                 shards=shards)
    except (config_lib.ConfigError, train_lib.NonFiniteLossError, train_lib.data.DataError,
            run_lock.LockHeld) as e:
        sys.exit(f"error: {e}")
    logging.info("stopped at step %d of %d", result.step, config.train_steps)


if __name__ == "__main__":
    flags.mark_flags_as_required(["tfrecords", "model_dir"])
    app.run(main)
