"""Where a model directory keeps its checkpoints and how their names carry the step.

Importing it costs no TensorFlow import (trainer/retraining/retrain.py reads a run's progress with it);
`latest_step` imports TensorFlow for tf.io.gfile when called, so the model dir may be on gs://.
"""

import os
import re

CHECKPOINTS_SUBDIR = "checkpoints"


def checkpoint_dir(model_dir: str) -> str:
    return os.path.join(model_dir, CHECKPOINTS_SUBDIR)


def checkpoint_step(path: str) -> int | None:
    """The step in a CheckpointManager path (`.../ckpt-1200` -> 1200), None for other names."""
    match = re.search(r"ckpt-(\d+)$", path)
    return int(match.group(1)) if match else None


def latest_step(model_dir: str) -> int:
    """The step of the latest checkpoint of a model directory, from the `checkpoint` index that
    CheckpointManager writes last; 0 when there is none."""
    import tensorflow as tf

    index = os.path.join(checkpoint_dir(model_dir), "checkpoint")
    if not tf.io.gfile.exists(index):
        return 0
    with tf.io.gfile.GFile(index) as f:
        match = re.search(r'^model_checkpoint_path: "(.*)"$', f.read(), re.M)
    return (checkpoint_step(match.group(1)) or 0) if match else 0


def newest_first(model_dir: str) -> list[str]:
    """The checkpoints CheckpointManager keeps, newest first (the latest one alone if its index
    lists no others); [] when there is none. A reader falls back along this list when the newest
    cannot be read (a full disk, a copy cut short)."""
    import tensorflow as tf

    folder = checkpoint_dir(model_dir)
    latest = tf.train.latest_checkpoint(folder)
    if latest is None:
        return []
    state = tf.train.get_checkpoint_state(folder)
    kept = list(state.all_model_checkpoint_paths) if state else []
    return [latest] + [p for p in reversed(kept) if p != latest]
