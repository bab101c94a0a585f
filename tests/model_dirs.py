"""Model directories for the sampling and export tests, in the training loop's own layout.

`trained_model_dir` runs the real loop for a couple of steps; `checkpointed_model_dir` saves the
loop's freshly built state through the same checkpoint objects without training (much faster),
with the EMA copy set apart from the generator so tests can tell which one was restored.
"""

import os

import tensorflow as tf

from tests.trainer_shards import CLASS_NAMES, write_shards
from trainer.checkpoints import paths as checkpoint_paths
from trainer import config as config_lib
from trainer import train_lib

SHAPE = (4, 32, 32, 3)  # T, H, W, C


def make_config(root, conditional: bool, ema_decay: float, clip_shape=SHAPE, **options) -> config_lib.Config:
    model = config_lib.model_config("small", num_classes=len(CLASS_NAMES) if conditional else 0)
    defaults = dict(train_steps=2, batch_size=2, image_batch_size=2, checkpoint_every=100,
                    summary_every=100, sample_every=100, strategy="default")
    return config_lib.Config(
        model=model, clip_shape=tuple(clip_shape), class_names=CLASS_NAMES, conditional=conditional,
        model_dir=os.path.join(str(root), "run"), ema_decay=ema_decay, **{**defaults, **options})


def trained_model_dir(root, conditional: bool, ema_decay: float) -> str:
    """Trains the 'small' networks for two steps on tiny moving-square shards under root."""
    shards = write_shards(os.path.join(str(root), "shards"), num_files=1, clips_per_file=4,
                          shape=SHAPE)
    config = make_config(root, conditional, ema_decay, tfrecords=shards)
    train_lib.train(config)
    return config.model_dir


def checkpointed_model_dir(root, conditional: bool, ema_decay: float, clip_shape=SHAPE) -> str:
    """config.json and one checkpoint of the untrained state, as the loop writes them (clips of
    `clip_shape`: FVD's I3D takes 9 frames or more)."""
    config = make_config(root, conditional, ema_decay, clip_shape=clip_shape)
    config_lib.save_config(config)
    state = train_lib.build_state(config)
    if state.ema_generator is not None:
        state.ema_generator.set_weights(config.build_generator().get_weights())
    manager = tf.train.CheckpointManager(state.checkpoint, checkpoint_paths.checkpoint_dir(config.model_dir),
                                         max_to_keep=1)
    manager.save(checkpoint_number=1)
    return config.model_dir


def truncated_latest_model_dir(root) -> str:
    """Two checkpoints of the untrained state (steps 1 and 2), the latest one cut short as a full
    disk or an interrupted copy leaves it."""
    config = make_config(root, conditional=False, ema_decay=0.0)
    config_lib.save_config(config)
    state = train_lib.build_state(config)
    folder = checkpoint_paths.checkpoint_dir(config.model_dir)
    manager = tf.train.CheckpointManager(state.checkpoint, folder, max_to_keep=3)
    manager.save(checkpoint_number=1)
    latest = manager.save(checkpoint_number=2)
    data = tf.io.gfile.glob(latest + ".data-*")[0]
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 3)
    return config.model_dir
