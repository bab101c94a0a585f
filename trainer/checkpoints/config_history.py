"""How a model directory was made: every config a run in it trained with, and the step each began at.

`config.json` holds the config of the latest run (what sampling, export and a resume read). A run
resumed with other training options (loss weights, learning rate, batch size...) replaces it, so
the earlier settings are kept here, in `config_history.json`:

    [{"step": 0, "config": {...}}, {"step": 5000, "config": {...}, "changed": ["learning_rate"]}]

An entry is added when a run begins with a config that differs from the last entry in more than
the fields every resume changes (`train_steps`, the paths); the change is also logged. Only the
chief calls `record`, after the networks are built and the checkpoint restored, so a run that
fails on a bad option before that leaves the directory as it was.
"""

import json
import logging
import os

import tensorflow as tf

from pipeline import files
from trainer import config as config_lib

HISTORY_NAME = "config_history.json"
# Fields that differ between resumes of one run without changing what it trains.
UNTRACKED = frozenset({"train_steps", "model_dir", "tfrecords"})

_log = logging.getLogger("trainer.checkpoints.config_history")


def history_path(model_dir: str) -> str:
    return os.path.join(model_dir, HISTORY_NAME)


def read_history(model_dir: str) -> list[dict]:
    """The entries of `config_history.json`, oldest first; [] when there is none."""
    path = history_path(model_dir)
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def changed_fields(before: dict, after: dict) -> list[str]:
    """The tracked top-level fields (and `model.<field>`s) whose values differ."""
    differ = []
    for key in sorted(before.keys() | after.keys()):
        if key in UNTRACKED or before.get(key) == after.get(key):
            continue
        if key == "model" and isinstance(before.get(key), dict) and isinstance(after.get(key), dict):
            differ += [f"model.{k}" for k in changed_fields(before[key], after[key])]
        else:
            differ.append(key)
    return differ


def record(config: config_lib.Config, step: int, resumed: bool) -> list[str]:
    """Saves `config` as config.json and adds it to the history when it changed; returns the
    fields that changed since the last entry ([] for the first run and for a plain resume). A run
    that resumed no checkpoint starts the history over: nothing was trained with what it held."""
    model_dir = config.model_dir
    history = read_history(model_dir) if resumed else []
    now = json.loads(config.to_json())
    if resumed and not history and tf.io.gfile.exists(config_lib.config_path(model_dir)):
        # A directory from before the history: its config.json is the one earlier entry.
        with tf.io.gfile.GFile(config_lib.config_path(model_dir)) as f:
            history = [{"step": 0, "config": json.load(f)}]
    changed = changed_fields(history[-1]["config"], now) if history else []
    if not history or changed:
        entry = {"step": int(step), "config": now}
        if changed:
            entry["changed"] = changed
            _log.warning("step %d: this run trains with other settings than the one before (%s); "
                         "%s keeps every earlier config", step, _describe(history[-1]["config"], now, changed),
                         history_path(model_dir))
        history.append(entry)
        files.atomic_write(history_path(model_dir), json.dumps(history, indent=2, sort_keys=True))
    config_lib.save_config(config)
    return changed


def _describe(before: dict, after: dict, changed: list[str]) -> str:
    def value(data, key):
        for part in key.split("."):
            data = data.get(part) if isinstance(data, dict) else None
        return data
    return "; ".join(f"{key}: {value(before, key)!r} -> {value(after, key)!r}" for key in changed)
