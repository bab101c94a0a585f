"""The best checkpoint by an evaluation metric, kept beside the latest (as Orbit's NewBestMetric).

    best = BestCheckpoint(model_dir, "eval/fvd", checkpoint)
    best.update(step, {"eval/fvd": 412.0, ...})   # saves <model_dir>/best/ckpt-STEP if better

`<model_dir>/best/best.json` holds the metric, its value and the step, written after the checkpoint
(temporary name, then rename), so a resumed run compares against the best so far and a reader never
finds a record that names a checkpoint not yet written. `best_checkpoint(model_dir)` is what
`--checkpoint=best` resolves to in trainer.generation.sample and trainer.generation.export.
"""

import json
import os

import tensorflow as tf

from pipeline import files

BEST_SUBDIR = "best"
RECORD_NAME = "best.json"
# Metrics where more is better; every other one (distances, deviations) is lower-is-better.
HIGHER_IS_BETTER = ("single_blob_fraction",)


def best_dir(model_dir: str) -> str:
    return os.path.join(model_dir, BEST_SUBDIR)


def best_checkpoint(model_dir: str) -> str | None:
    return tf.train.latest_checkpoint(best_dir(model_dir))


def read_record(model_dir: str) -> dict | None:
    path = os.path.join(best_dir(model_dir), RECORD_NAME)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def higher_is_better(metric: str) -> bool:
    return metric.split("/")[-1] in HIGHER_IS_BETTER


class BestCheckpoint:
    """Saves `checkpoint` into <model_dir>/best whenever `metric` beats the best value so far."""

    def __init__(self, model_dir: str, metric: str, checkpoint: tf.train.Checkpoint):
        self.model_dir, self.metric = model_dir, metric
        self.manager = tf.train.CheckpointManager(checkpoint, best_dir(model_dir), max_to_keep=1)
        record = read_record(model_dir)
        self.best = record["value"] if record and record.get("metric") == metric else None

    def is_better(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best if higher_is_better(self.metric) else value < self.best

    def update(self, step: int, scalars: dict) -> bool:
        """Saves when scalars[metric] is the best yet; returns whether it saved. A missing metric
        (e.g. no shape on any frame yet) saves nothing."""
        value = scalars.get(self.metric)
        if value is None or not self.is_better(value):
            return False
        path = self.manager.save(checkpoint_number=step)
        self.best = float(value)
        record = os.path.join(best_dir(self.model_dir), RECORD_NAME)
        files.atomic_write(record, json.dumps({"metric": self.metric, "value": self.best,
                                               "step": step, "checkpoint": path}, indent=1))
        return True
