"""Named training recipes as code: each module's `FLAGS` are trainer.main flag values.

    python -m trainer.main --recipe=video64 --tfrecords=shards/ucf101 --model_dir=runs/ucf101
    python -m trainer.main --recipe=demo --tfrecords=demo/shards --model_dir=demo/run

- `video64`: the full-size recipe for 64x64 video (UCF-101, BAIR, a folder of footage).
- `demo`: the same techniques scaled down in sizes and schedule for a 2-core CPU (`make demo`).
- `mocogan`: the paper's exact setting, for comparison. It is also what trainer.main trains when
  no --recipe is given: every flag then has its own default, the paper's value or off.
`video64` and `demo` are one family: both are TECHNIQUES (trainer/configs/techniques.py) plus
their own sizes and schedule, and tests/trainer/test_configs.py fails on any other difference.

A recipe sets the defaults of the flags it names; a flag given on the command line wins over it.
A recipe's class-conditional techniques apply only to a shard set with class names
(`recipe(name, has_classes=False)` turns them off). `recipe_config(name, clip_shape)` gives the
Config a recipe makes (for benchmarks and tests).
"""

import importlib

from trainer.configs.techniques import WITHOUT_CLASSES

RECIPES = ("video64", "demo", "mocogan")
# The recipes that share the techniques and differ only in sizes and schedule.
FAMILY = ("video64", "demo")
# Recipe flags of trainer.main itself, not of the Config (how far to train from a checkpoint).
MAIN_ONLY_FLAGS = ("more_steps",)


def recipe(name: str, has_classes: bool = True) -> dict:
    """A recipe's flag values; without classes, its class-conditional techniques are off."""
    if name not in RECIPES:
        raise ValueError(f"unknown --recipe={name!r}; choose one of {RECIPES}")
    values = dict(importlib.import_module(f"trainer.configs.{name}").FLAGS)
    if not has_classes:
        values.update({k: v for k, v in WITHOUT_CLASSES.items() if k in values})
    return values


def recipe_config(name: str, clip_shape, class_names=(), **fields):
    """The trainer.config.Config a recipe gives for clips of clip_shape (of a shard set with
    these class names: none, and the recipe trains unconditionally), with `fields` on top; the
    flags are read as trainer.main reads them (`preset` and the model flags choose the nets)."""
    from trainer import config as config_lib

    values = {**recipe(name, has_classes=bool(class_names)), **fields}
    values = {k: v for k, v in values.items() if k not in MAIN_ONLY_FLAGS}
    return config_lib.from_options(values, clip_shape, class_names)
