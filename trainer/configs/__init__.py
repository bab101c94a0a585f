"""Named training recipes as code: each module's `FLAGS` are trainer.main flag values.

    python -m trainer.main --recipe=demo --tfrecords=demo/shards --model_dir=demo/run

A recipe sets the defaults of the flags it names; a flag given on the command line wins over it.
`recipe(name)` returns a recipe's flag values, `recipe_config(name, clip_shape)` the Config they
make (for benchmarks and tests); `RECIPES` lists the names.
"""

import importlib

RECIPES = ("mocogan", "demo")
# Recipe flags of trainer.main itself, not of the Config (how far to train from a checkpoint).
MAIN_ONLY_FLAGS = ("more_steps",)


def recipe(name: str) -> dict:
    if name not in RECIPES:
        raise ValueError(f"unknown --recipe={name!r}; choose one of {RECIPES}")
    return dict(importlib.import_module(f"trainer.configs.{name}").FLAGS)


def recipe_config(name: str, clip_shape, class_names=(), **fields):
    """The trainer.config.Config a recipe gives for clips of clip_shape (of a shard set with
    these class names, which a conditional recipe needs), with `fields` on top; the flags are
    read as trainer.main reads them (`preset` and the model flags choose the nets)."""
    from trainer import config as config_lib

    values = {k: v for k, v in {**recipe(name), **fields}.items() if k not in MAIN_ONLY_FLAGS}
    return config_lib.from_options(values, clip_shape, class_names)
