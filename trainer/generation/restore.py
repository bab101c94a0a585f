"""Rebuilds a trained generator from a model directory (config.json + checkpoints/).

    generator, config = load_generator("runs/ucf101")            # the EMA copy when trained with one
    videos = generator(generator.sample_latents(4, seed=0))     # float32 [4, T, H, W, 3] in [-1, 1]

Only the generator is restored (the discriminators and optimisers in the checkpoint are skipped),
and it is built in float32 whatever precision it was trained in, since weights are float32 anyway.
Used by trainer.generation.sample, trainer.generation.export, trainer.evaluation.evaluate and trainer.evaluation.report; `load` also
says which checkpoint it read.
"""

import dataclasses

import tensorflow as tf
from absl import logging

from trainer import config as config_lib
from trainer import networks
from trainer.checkpoints.paths import checkpoint_dir
from trainer.checkpoints import paths as checkpoint_paths

EMA_KEY, GENERATOR_KEY = "ema_generator", "generator"


class RestoreError(RuntimeError):
    """The model directory has no usable checkpoint for the generator."""


def latest_checkpoint(model_dir: str) -> str:
    folder = checkpoint_dir(model_dir)
    path = tf.train.latest_checkpoint(folder)
    if path is None:
        raise RestoreError(
            f"no checkpoint in {folder}: train first, e.g. `python -m trainer.main "
            f"--tfrecords=SHARDS --model_dir={model_dir}`, or pass the --model_dir of a trained run")
    return path


def resolve_checkpoint(model_dir: str, checkpoint: str | None) -> str:
    """A checkpoint path: the latest for ""/None/"latest", the best kept by --eval_every for
    "best" (trainer.checkpoints.best), else the path as given."""
    if not checkpoint or checkpoint == "latest":
        return latest_checkpoint(model_dir)
    if checkpoint == "best":
        from trainer.checkpoints import best

        path = best.best_checkpoint(model_dir)
        if path is None:
            raise RestoreError(
                f"no best checkpoint in {best.best_dir(model_dir)}: it is kept by "
                "training with --eval_every=N; use --checkpoint=latest (the default)")
        return path
    return checkpoint


def checkpoint_has(path: str, key: str) -> bool:
    return any(name.startswith(key + "/") for name, _ in tf.train.list_variables(path))


@dataclasses.dataclass(frozen=True)
class Loaded:
    """A restored generator, its run's config, and the checkpoint it was read from: the one
    to name in results (the latest may have been unreadable, or replaced since by the trainer)."""
    generator: networks.Generator
    config: config_lib.Config
    checkpoint: str


def load(model_dir: str, prefer_ema: bool = True, checkpoint: str | None = None) -> Loaded:
    """The generator of the latest readable checkpoint (a truncated latest one falls back to the
    one before it, with a warning), or of `checkpoint` when given (a path, "latest" or "best":
    see resolve_checkpoint; a named one that cannot be read is an error).

    The EMA generator is used when prefer_ema and the checkpoint holds one; else the trained one.
    """
    config = config_lib.load_config(model_dir)
    named = checkpoint not in (None, "", "latest")
    candidates = [resolve_checkpoint(model_dir, checkpoint)] if named else _newest_first(model_dir)
    for path in candidates:
        try:
            return Loaded(_restore(model_dir, config, path, prefer_ema), config, path)
        # A corrupt index raises an OpError (not an sstable, bad magic number); a short data
        # file an IndexError from TensorFlow's checkpoint reader ("Read less bytes than requested").
        except (tf.errors.OpError, IndexError) as error:
            first_line = (str(getattr(error, "message", error)).splitlines() or [""])[0]
            problem = (f"checkpoint {path} cannot be read ({first_line}); it "
                       "may be truncated (a full disk, a copy cut short)")
            if named:
                raise RestoreError(problem + ": pass another --checkpoint") from error
            logging.warning("%s: falling back to the one before it", problem)
    raise RestoreError(f"no readable checkpoint in {checkpoint_dir(model_dir)}: every one failed "
                       "to load (see the warnings above); train again to write a new one")


def load_generator(model_dir: str, prefer_ema: bool = True, checkpoint: str | None = None):
    """(generator, config) of `load`, for callers that do not name the checkpoint."""
    loaded = load(model_dir, prefer_ema=prefer_ema, checkpoint=checkpoint)
    return loaded.generator, loaded.config


def _newest_first(model_dir: str) -> list[str]:
    """The checkpoints CheckpointManager keeps, newest first; RestoreError when there is none."""
    latest_checkpoint(model_dir)
    return checkpoint_paths.newest_first(model_dir)


def _restore(model_dir: str, config, path: str, prefer_ema: bool):
    key = EMA_KEY if prefer_ema and checkpoint_has(path, EMA_KEY) else GENERATOR_KEY
    generator = dataclasses.replace(config, mixed_precision="none").build_generator()
    status = tf.train.Checkpoint(**{key: generator}).restore(path).expect_partial()
    try:
        status.assert_existing_objects_matched()
    except AssertionError as error:
        raise RestoreError(
            f"{path} does not match the generator described by {config_lib.config_path(model_dir)} "
            f"({error}); was config.json replaced after training?") from error
    return generator


def resolve_label(label, config) -> int | None:
    """A class name or index (string or int) -> index; None when no label is asked for."""
    if label is None or label == "":
        return None
    names = list(config.class_names)
    if not config.conditional:
        raise ValueError(f"--label={label} was given but the model was trained unconditionally")
    if str(label) in names:
        return names.index(str(label))
    try:
        index = int(label)
    except ValueError:
        index = -1
    if not 0 <= index < len(names):
        raise ValueError(f"--label={label} is neither a class name nor an index < {len(names)}; "
                         f"classes: {', '.join(names)}")
    return index


def labels_for(num_videos: int, label: int | None, config):
    """Per-video labels: the one asked for, else cycling through the classes; None if unconditional."""
    if not config.conditional:
        return None
    if label is not None:
        return tf.fill([num_videos], tf.constant(label, tf.int32))
    return tf.range(num_videos, dtype=tf.int32) % len(config.class_names)

