"""Named training recipes as code: each module's `FLAGS` are trainer.main flag values.

    python -m trainer.main --recipe=demo --tfrecords=demo/shards --model_dir=demo/run

A recipe sets the defaults of the flags it names; a flag given on the command line wins over it.
`recipe(name)` returns a recipe's flag values; `RECIPES` lists the names.
"""

import importlib

RECIPES = ("mocogan", "demo")


def recipe(name: str) -> dict:
    if name not in RECIPES:
        raise ValueError(f"unknown --recipe={name!r}; choose one of {RECIPES}")
    return dict(importlib.import_module(f"trainer.configs.{name}").FLAGS)
