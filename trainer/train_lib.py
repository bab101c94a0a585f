"""The training loop: everything around the pure step (trainer.step) that reads, writes and logs.

`train(config)` runs until `config.train_steps` (a total: a second call continues from the latest
checkpoint in <model_dir>/checkpoints), and checkpoints on finishing and on SIGTERM (preemption,
through TensorFlow's PreemptionCheckpointHandler: trainer/checkpoints/preemption.py). While it
trains, the chief holds <model_dir>/trainer.lock (pipeline/run_lock.py): a second trainer on the
same model directory refuses, naming the holder. Every step's losses are checked inside the
compiled step (NonFiniteGuard) and read on the host where it logs or saves: a NaN or Inf, or a
loss that exploded (|loss| over EXPLODED_FACTOR times its running mean of |loss|, and over
EXPLODED_FACTOR), raises `NonFiniteLossError` naming the step and the loss, leaving the last good
checkpoint as it was.
Summaries (TensorBoard, <model_dir>/train) and the console progress line come from the chief only.

Checkpoint contents (what trainer.generation.sample and trainer.generation.export restore from):
    generator, ema_generator (with --ema_decay or --ema_half_life_videos), image_discriminator, video_discriminator,
    g_optimizer, di_optimizer, dv_optimizer, step.
The random state is a function of (seed, step), so `step` is all of it.
"""

import dataclasses
import math
import os
import time
from typing import Callable

import keras
import tensorflow as tf
from absl import logging

from trainer.checkpoints import best
from trainer import config as config_lib
from trainer.checkpoints import config_history
from trainer import data
from trainer.checkpoints import preemption as preemption_lib
from pipeline import run_lock
from trainer import shard_sets
from trainer.checkpoints import paths as checkpoint_paths
from trainer.checkpoints.paths import checkpoint_dir, checkpoint_step
from trainer import step as step_lib
from trainer import strategy as strategy_lib
from trainer import summaries


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or Inf, or exploded; the model directory keeps the last good checkpoint."""


# The explosion rule: a loss is bad when |loss| > EXPLODED_FACTOR * max(1, its running mean of
# |loss|), the mean an exponential one (EXPLODED_DECAY per step, from the run's first step) over
# the steps before. GAN losses sit near 1 (BCE, hinge) and drift slowly when they grow (WGAN), so
# three orders of magnitude above their own recent size is a run diverging (--learning_rate=1e6
# reaches 1e16 within a few steps), not training.
EXPLODED_FACTOR = 1000.0
EXPLODED_DECAY = 0.9


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the partial files are gone, the last good one is kept."""


class CheckpointReadError(OSError):
    """No checkpoint of the model directory can be read."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message says which step was saved and how to resume."""


@dataclasses.dataclass
class TrainState:
    """The networks, optimisers and checkpoint of one run, built under the strategy's scope."""

    models: object
    ema_generator: keras.Model | None
    optimizers: dict
    step: tf.Variable
    checkpoint: tf.train.Checkpoint
    guard: "NonFiniteGuard"  # not checkpointed: a state it flags is never saved


@dataclasses.dataclass
class TrainResult:
    step: int
    metrics: dict  # the last step's measurements (empty when no step ran)
    state: TrainState


def learning_rates(config) -> dict:
    """Adam's rate per optimiser: G at --learning_rate, both Ds at --d_learning_rate (TTUR)."""
    d_rate = config.discriminator_learning_rate
    return {"g": config.learning_rate, "di": d_rate, "dv": d_rate}


def make_optimizer(config, learning_rate: float) -> keras.optimizers.Optimizer:
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=config.beta_1, beta_2=config.beta_2,
                                      global_clipnorm=config.grad_clip_norm or None)
    if config.mixed_precision == "fp16":
        # float16 gradients underflow without a scaled loss; the wrapper also skips Inf steps.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def synchronize_batch_norm(models) -> None:
    """Batch statistics over all replicas, so N replicas compute what one device would."""
    for model in (models.generator, models.image_discriminator, models.video_discriminator):
        for layer in model._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = True


def build_state(config, num_replicas: int = 1) -> TrainState:
    """Call under `strategy.scope()`. The initial weights are drawn from config.seed, so two runs
    of one config start alike and differ only where the machine's arithmetic does."""
    keras.utils.set_random_seed(config.seed)
    models = config.build_models()
    if num_replicas > 1 and config.sync_batch_norm:
        synchronize_batch_norm(models)
    optimizers = {name: make_optimizer(config, rate) for name, rate in learning_rates(config).items()}
    for name, model in (("g", models.generator), ("di", models.image_discriminator),
                        ("dv", models.video_discriminator)):
        optimizers[name].build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    objects = dict(generator=models.generator, image_discriminator=models.image_discriminator,
                   video_discriminator=models.video_discriminator, g_optimizer=optimizers["g"],
                   di_optimizer=optimizers["di"], dv_optimizer=optimizers["dv"], step=step)
    ema = None
    if config.use_ema:
        ema = config.build_generator()
        ema.set_weights(models.generator.get_weights())
        objects["ema_generator"] = ema
    return TrainState(models, ema, optimizers, step, tf.train.Checkpoint(**objects),
                      NonFiniteGuard())


def prepare_model_dir(config) -> None:
    """Refuses an incompatible earlier run in the directory. Only a config with a checkpoint
    beside it counts: one whose run failed before saving any trained nothing."""
    if tf.io.gfile.exists(config.model_dir) and not tf.io.gfile.isdir(config.model_dir):
        raise config_lib.ConfigError(f"--model_dir={config.model_dir} is a file, not a folder: "
                                     "give the folder for checkpoints (it is created if missing)")
    if (tf.io.gfile.exists(config_lib.config_path(config.model_dir))
            and tf.train.latest_checkpoint(checkpoint_dir(config.model_dir))):
        config_lib.check_resumable(config_lib.load_config(config.model_dir), config)


def step_phases(config, step: int) -> dict:
    """Which optional phases iteration `step` (0-based) runs: lazy R1 and the image warm-up."""
    any_r1 = config.r1_gamma > 0 or config.image_r1_gamma > 0
    return {"apply_r1": any_r1 and step % config.r1_every == 0,
            "warmup": step < config.image_warmup_steps}


def make_train_step(strategy, config, state: TrainState) -> Callable:
    """The compiled iteration: strategy.run of the per-replica step, then the EMA update.

    Call it as `train_step(iterator, **step_phases(config, step))`; each combination of the
    Python-bool phases is traced once.
    """
    task = step_lib.GanStep(config, state.models, state.optimizers, strategy.num_replicas_in_sync)

    @tf.function(jit_compile=config.jit or None)
    def train_step(iterator, apply_r1=True, warmup=False):
        batch = next(iterator)
        if config.model.progressive:
            state.models.generator.frame_generator.blend.assign(
                step_lib.resolution_blend(config, state.step))
        per_replica = strategy.run(task.train_step, args=(batch, state.step, apply_r1, warmup))
        metrics = step_lib.reduce_metrics(strategy, per_replica)
        if state.ema_generator is not None:
            step_lib.update_ema(state.ema_generator, state.models.generator,
                                step_lib.ema_decay(config, state.step))
        state.step.assign_add(1)
        state.guard.note(metrics, state.step)
        return metrics

    return train_step


class NonFiniteGuard:
    """The first step whose losses were not all finite, or exploded, noted inside the compiled step.

    Reading the losses on the host after every step would make every step wait for the device;
    the loop reads this guard only where it logs or saves (big_vision checks on its log steps),
    and a flagged state is never saved. The error still names the exact step and loss.
    """

    def __init__(self):
        self.step = tf.Variable(-1, dtype=tf.int64, trainable=False, name="non_finite_step")
        self.loss = tf.Variable(-1, dtype=tf.int32, trainable=False, name="non_finite_loss")
        self.value = tf.Variable(0.0, dtype=tf.float32, trainable=False, name="non_finite_value")
        # Running mean of each |loss| over the good steps (room for more losses than a step has),
        # set from the first step's own values.
        self.scale = tf.Variable(tf.zeros([32]), trainable=False, name="loss_scale_mean")
        self.started = tf.Variable(False, trainable=False, name="loss_scale_started")
        self.scale_then = tf.Variable(0.0, dtype=tf.float32, trainable=False, name="exploded_mean")
        self.names = ()  # the loss names, in the order the compiled step stacks them

    def note(self, metrics: dict, step: tf.Tensor) -> None:
        """In the compiled step: if this is the first bad step (1-based `step`), keep its details."""
        self.names = tuple(sorted(k for k in metrics if k.startswith("loss/")))
        losses = tf.stack([tf.cast(metrics[k], tf.float32) for k in self.names])
        size, count = tf.abs(losses), len(self.names)
        scale = tf.where(self.started, self.scale[:count], size)
        good = tf.logical_and(tf.math.is_finite(losses),
                              size <= EXPLODED_FACTOR * tf.maximum(scale, 1.0))
        first = tf.logical_and(self.step < 0, tf.logical_not(tf.reduce_all(good)))
        index = tf.argmin(tf.cast(good, tf.int32), output_type=tf.int32)
        self.step.assign(tf.where(first, step, self.step))
        self.loss.assign(tf.where(first, index, self.loss))
        self.value.assign(tf.where(first, losses[index], self.value))
        self.scale_then.assign(tf.where(first, scale[index], self.scale_then))
        ok = tf.reduce_all(good)
        mean = tf.where(ok, EXPLODED_DECAY * scale + (1 - EXPLODED_DECAY) * size, scale)
        self.scale.assign(tf.concat([mean, self.scale[count:]], 0))
        self.started.assign(True)

    def check(self) -> None:
        step = int(self.step.numpy())
        if step >= 0:
            value, mean = float(self.value.numpy()), float(self.scale_then.numpy())
            exploded = "" if not math.isfinite(value) else (
                f", over {EXPLODED_FACTOR:g}x its running mean of {mean:.3g} (the loss exploded)")
            raise NonFiniteLossError(
                f"{self.names[int(self.loss.numpy())]} is {value:.4g} at step {step}{exploded}; "
                "stopped without saving this state (the last good checkpoint is kept). "
                "Lower --learning_rate, or try --loss=hinge, --r1_gamma or --spectral_norm.")


def _progress_line(step, total, values, clips_per_second, batch_size) -> str:
    losses = "  ".join(f"{k.split('/')[1]} {v:.3f}" for k, v in sorted(values.items())
                       if k.startswith("loss/"))
    remaining = (total - step) * batch_size / clips_per_second if clips_per_second else 0
    eta = time.strftime("%H:%M:%S", time.gmtime(remaining)) if remaining < 86400 else (
        f"{remaining / 86400:.1f} days")
    return f"step {step}/{total}  {losses}  {clips_per_second:.1f} clips/s  ETA {eta}"


def train(config, strategy: tf.distribute.Strategy | None = None,
          should_stop: Callable[[], bool] = lambda: False,
          shards: data.Shards | None = None) -> TrainResult:
    """Trains to config.train_steps (or until preempted); the state is the trained networks.

    `should_stop` says whether a stop was asked before training began (trainer.main: a SIGTERM
    during start-up); it is handed to the preemption handler. `shards` is config.tfrecords already
    resolved (and validated), when the caller has it.
    """
    strategy = strategy or strategy_lib.make_strategy(config.strategy, config.tpu)
    chief = strategy_lib.is_chief(strategy)
    prepare_model_dir(config)  # before the lock, which lives in the model directory
    lock = run_lock.writer_lock(config.model_dir, logging.warning) if chief else None
    try:
        return _train(config, strategy, chief, should_stop, shards)
    finally:
        if lock is not None:
            lock.release()


def _train(config, strategy, chief, should_stop, shards) -> TrainResult:
    shards = shards or data.resolve_shards(config.tfrecords,
                                           skip_corrupt=config.skip_corrupt_shards)
    with strategy.scope():
        state = build_state(config, strategy.num_replicas_in_sync)
    save_dir = strategy_lib.worker_dir(config.model_dir, strategy)
    save = _saver(state, save_dir, config.max_to_keep, chief)
    latest = _resume(state, config.model_dir)
    if chief:  # only now: a run that fails to build its networks leaves no config behind
        config_history.record(config, int(state.step.numpy()), resumed=bool(latest))
    # After the restore above: the handler adds its own counter to the checkpoint, which an older
    # checkpoint lacks (assert_existing_objects_matched would refuse it). It restores once more.
    preemption = preemption_lib.Preemption(strategy, state.checkpoint,
                                           checkpoint_dir(config.model_dir), save, should_stop)
    try:
        for name, rate in learning_rates(config).items():  # the checkpoint's rate must not win
            state.optimizers[name].learning_rate = rate     # over a --learning_rate given now
        iterator = iter(data.distributed_dataset(strategy, shards, config.batch_size, config.seed))
        writer = summaries.Writer(config, state, chief)
        values = _loop(config, state, chief, make_train_step(strategy, config, state), iterator,
                       shards, writer, save, preemption)
    finally:
        preemption.close()
    save()
    if not chief and tf.io.gfile.exists(save_dir):
        tf.io.gfile.rmtree(save_dir)
    writer.close()
    return TrainResult(int(state.step.numpy()), values, state)


def _resume(state: TrainState, model_dir: str) -> str | None:
    """Restores the newest readable checkpoint (a truncated newest one falls back to the one
    before it, with a warning, as trainer.generation.restore does); returns its path."""
    candidates = checkpoint_paths.newest_first(model_dir)
    for tried, path in enumerate(candidates):
        try:
            state.checkpoint.restore(path).assert_existing_objects_matched()
        # A short data file raises an IndexError from the checkpoint reader, a bad index an OpError.
        except (tf.errors.OpError, IndexError) as error:
            first_line = (str(getattr(error, "message", error)).splitlines() or [""])[0]
            logging.warning("checkpoint %s cannot be read (%s); it may be truncated (a full disk, "
                            "a copy cut short): falling back to the one before it", path, first_line)
            continue
        if tried:
            _set_aside(model_dir, candidates[:tried], path, candidates[tried + 1:])
        logging.info("resumed from %s at step %d", path, int(state.step.numpy()))
        return path
    if candidates:
        raise CheckpointReadError(f"no checkpoint in {checkpoint_dir(model_dir)} can be read (see "
                                   "the warnings above); move that folder away to train from scratch")
    return None


def _set_aside(model_dir: str, unreadable: list[str], latest: str, older: list[str]) -> None:
    """Moves unreadable checkpoints into checkpoints/unreadable/ (kept, not deleted) and makes
    `latest` the index's newest, so that nothing restores them again (the preemption handler
    restores the newest itself) and later saves number on from `latest`."""
    folder = checkpoint_dir(model_dir)
    aside = os.path.join(folder, "unreadable")
    tf.io.gfile.makedirs(aside)
    for path in unreadable:
        for name in tf.io.gfile.glob(path + ".*"):
            tf.io.gfile.rename(name, os.path.join(aside, os.path.basename(name)), overwrite=True)
        logging.warning("moved the unreadable checkpoint %s into %s", path, aside)
    tf.compat.v1.train.update_checkpoint_state(folder, latest, all_model_checkpoint_paths=[*reversed(older), latest])


def _saver(state: TrainState, save_dir: str, max_to_keep: int, chief: bool) -> Callable[[], None]:
    """save(): a checkpoint of the current step into save_dir, once per step."""
    manager = tf.train.CheckpointManager(state.checkpoint, checkpoint_dir(save_dir),
                                         max_to_keep=max_to_keep)

    def save():
        state.guard.check()
        step = int(state.step.numpy())
        if manager.latest_checkpoint and checkpoint_step(manager.latest_checkpoint) == step:
            return  # a preemption save and a periodic one can fall on the same step
        try:
            manager.save(checkpoint_number=step)
        except tf.errors.OpError as error:  # ENOSPC, EFBIG, a quota, a lost mount...
            raise _failed_save(manager, step, error) from None
        if not chief:  # only the chief's copy is kept; the handler deletes save_dir itself
            tf.io.gfile.rmtree(checkpoint_dir(save_dir))  # when it exits after a preemption

    return save


def _failed_save(manager: tf.train.CheckpointManager, step: int, error: tf.errors.OpError):
    """Removes what the failed save left (ckpt-N_temp/, a lone ckpt-N.data) and says what to do."""
    prefix = os.path.join(manager.directory, f"ckpt-{step}")
    for path in tf.io.gfile.glob(prefix + "_temp*") + tf.io.gfile.glob(prefix + ".*"):
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        else:
            tf.io.gfile.remove(path)
    kept = manager.latest_checkpoint
    resume = f"the last good checkpoint, {kept}, is kept" if kept else "no earlier checkpoint exists"
    return CheckpointWriteError(
        f"could not write checkpoint {step} into {manager.directory} ({type(error).__name__}: "
        f"{error.message.strip()}); {resume}. Free space there (a full disk?) and rerun the same "
        "command to resume")


def _loop(config, state, chief, train_step, iterator, shards, writer, save, preemption) -> dict:
    """Steps to config.train_steps or a preemption; returns the last step's measurements. Ctrl-C
    saves the step reached (a state the guard passes) and raises TrainingInterrupted."""
    try:
        return _steps(config, state, chief, train_step, iterator, shards, writer, save, preemption)
    except KeyboardInterrupt:
        state.guard.check()  # a diverged state is not saved, Ctrl-C or not
        save()
        step = int(state.step.numpy())
        raise TrainingInterrupted(
            f"interrupted (Ctrl-C) at step {step} of {config.train_steps}: checkpoint {step} is saved "
            f"in {checkpoint_dir(config.model_dir)}; the same command resumes from it") from None


def _steps(config, state, chief, train_step, iterator, shards, writer, save, preemption) -> dict:
    evaluation = Evaluation(config, state, writer) if chief and config.eval_every else None
    step, values = int(state.step.numpy()), {}
    timer = (time.perf_counter(), step)
    while step < config.train_steps:
        metrics = _read_and_step(train_step, iterator, shards, step_phases(config, step))
        step += 1
        if step % config.summary_every == 0 or step == config.train_steps:
            state.guard.check()
            values = {k: float(v) for k, v in metrics.items()}
            seconds = time.perf_counter() - timer[0]
            rate = (step - timer[1]) * config.batch_size / max(seconds, 1e-9)
            writer.scalars(step, values, steps_per_second=(step - timer[1]) / max(seconds, 1e-9),
                           clips_per_second=rate)
            if chief:
                logging.info(_progress_line(step, config.train_steps, values, rate, config.batch_size))
            timer = (time.perf_counter(), step)
        if step % config.sample_every == 0:
            state.guard.check()
            writer.samples(step)
        if evaluation is not None and step % config.eval_every == 0:
            state.guard.check()
            evaluation(step)
        if step % config.checkpoint_every == 0 and step < config.train_steps:
            save()
        if preemption.stop():  # every worker, after every step: they agree on the last one
            logging.info("preempted at step %d: checkpoint saved", step)
            values = {k: float(v) for k, v in metrics.items()}
            break
    return values


class Evaluation:
    """Every --eval_every steps on the chief: metrics of the sampling generator against real
    clips, written to TensorBoard as eval/*, and the best checkpoint kept by --best_metric."""

    def __init__(self, config, state: TrainState, writer: summaries.Writer):
        from trainer.evaluation import training_evaluator  # metrics and networks: only runs that evaluate

        self.config, self.state, self.writer = config, state, writer
        # fvd unless the best checkpoint is asked to follow the Shape Motion net's distance
        metric = "fd_shapes" if config.best_metric.removeprefix("eval/") == "fd_shapes" else "fvd"
        self.evaluator = training_evaluator.TrainingEvaluator(
            config.tfrecords, config.model_dir, num_videos=config.eval_videos, seed=config.seed,
            metric=metric, feature_model_dir=f"{config.model_dir}/feature_net")
        self.best = None

    def __call__(self, step: int) -> dict:
        generator = self.state.ema_generator or self.state.models.generator
        scalars = self.evaluator(generator, self.config)
        self.writer.scalars(step, scalars)
        logging.info("eval at step %d (N = %d generated, %d real): %s", step, self.evaluator.num_videos,
                     self.evaluator.num_videos,
                     "  ".join(f"{k.split('/')[1]} {v:.3f}" for k, v in sorted(scalars.items())))
        if self.best is None:
            metric = self.config.best_metric or self.evaluator.frechet_metric
            if not metric:
                logging.warning("no Fréchet distance could be computed (the warning above says why); "
                                "pass --best_metric to keep a best checkpoint by another metric")
                self.best = False
            else:
                metric = metric if metric.startswith("eval/") else f"eval/{metric}"
                self.best = best.BestCheckpoint(self.config.model_dir, metric,
                                                self.state.checkpoint)
        if self.best and self.best.update(step, scalars):
            logging.info("new best %s %.4f at step %d", self.best.metric, self.best.best, step)
        return scalars


def _read_and_step(train_step, iterator, shards, phases):
    """One step; a corrupt shard file stops the run with the file's name (tf.data's error says
    only the offset)."""
    try:
        return train_step(iterator, **phases)
    except tf.errors.DataLossError as error:
        raise data.DataError(shard_sets.name_corrupt_files(
            shards.files, shards.compression_type, error)) from error

