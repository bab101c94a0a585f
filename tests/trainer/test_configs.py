"""trainer.configs: named recipes, as the benchmark and trainer.main use them, and the recipe
family (video64 and demo): the same techniques, different sizes and schedule."""

import dataclasses

import pytest

from trainer import configs
from trainer.configs import techniques

SHAPE = (16, 64, 64, 3)
CLASSES = ("circle", "square")  # the demo data's


def flat(config) -> dict:
    """A Config as {field: value}, the model's fields as model.<name>."""
    values = dataclasses.asdict(config)
    model = values.pop("model")
    return {**values, **{f"model.{name}": value for name, value in model.items()}}


def differences_beyond_sizes_and_schedule(a, b) -> list[str]:
    """The fields, compared one by one, where two configs differ in anything but sizes and
    schedule (techniques.SIZES_AND_SCHEDULE)."""
    allowed = set(techniques.SIZES_AND_SCHEDULE)
    allowed |= {f"model.{name}" for name in techniques.SIZES_AND_SCHEDULE}
    first, second = flat(a), flat(b)
    assert first.keys() == second.keys()
    return sorted(k for k in first if first[k] != second[k] and k not in allowed)


def test_every_recipe_makes_a_valid_config():
    for name in configs.RECIPES:
        config = configs.recipe_config(name, SHAPE, CLASSES, model_dir="/tmp/unused")
        assert config.clip_shape == SHAPE
    demo = configs.recipe_config("demo", SHAPE, CLASSES, batch_size=4)
    flags = configs.recipe("demo")
    assert demo.model.video_disc_pool == flags["video_disc_pool"] and demo.batch_size == 4
    # The small preset's discriminators, and the techniques the recipe sets.
    assert demo.model.image_disc_channels == (16, 32, 64)
    assert demo.model.image_class_head == flags["image_class_head"]
    assert demo.conditional == flags.get("conditional", False)
    if demo.conditional:
        assert demo.model.num_classes == 2 and demo.class_names == CLASSES
    assert configs.recipe_config("mocogan", SHAPE).model.gen_channels[0] == 512
    with pytest.raises(ValueError, match="recipe"):
        configs.recipe("nope")


@pytest.mark.parametrize("class_names", [CLASSES, ()], ids=["labelled", "unlabelled"])
def test_the_family_differs_only_in_sizes_and_schedule(class_names):
    full, demo = (configs.recipe_config(name, SHAPE, class_names) for name in configs.FAMILY)
    assert differences_beyond_sizes_and_schedule(full, demo) == []
    assert full.model.gen_channels != demo.model.gen_channels  # they are not one recipe
    assert full.batch_size != demo.batch_size
    for name in configs.FAMILY:  # each is the techniques plus sizes and schedule
        flags = configs.recipe(name)
        assert {k: flags[k] for k in techniques.TECHNIQUES} == techniques.TECHNIQUES, name
        extra = set(flags) - set(techniques.TECHNIQUES)
        assert extra <= set(techniques.SIZES_AND_SCHEDULE), (name, extra)


def test_the_comparison_names_a_technique_that_differs():
    full = configs.recipe_config("video64", SHAPE, CLASSES)
    demo = configs.recipe_config("demo", SHAPE, CLASSES, r1_gamma=1.0, gen_upsample="transpose",
                                 batch_size=4)
    assert differences_beyond_sizes_and_schedule(full, demo) == ["model.gen_upsample", "r1_gamma"]


def test_a_recipe_trains_unconditionally_on_footage_without_classes():
    for name in configs.RECIPES:
        config = configs.recipe_config(name, SHAPE, ())
        assert not config.conditional and config.model.num_classes == 0, name
        assert config.model.image_class_head == "none", name
    labelled = configs.recipe_config("video64", SHAPE, CLASSES)
    assert labelled.conditional and labelled.model.num_classes == 2
    assert labelled.model.image_class_head == techniques.TECHNIQUES["image_class_head"]


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "none")])
def test_auto_precision_is_bf16_only_where_the_hardware_has_it(monkeypatch, native, expected):
    from trainer import strategy

    monkeypatch.setattr(strategy, "native_bf16", lambda tpu="": native)
    config = configs.recipe_config("demo", (16, 64, 64, 3), ("circle", "square"))
    assert configs.recipe("demo")["mixed_precision"] == "auto"
    assert config.mixed_precision == expected  # resolved, so config.json names what ran


def test_native_bf16_reads_the_cpu_and_trusts_a_tpu(monkeypatch):
    from trainer import strategy

    monkeypatch.setattr(strategy.tf.config, "list_physical_devices", lambda kind: [])
    for flags, expected in ((dict(avx512_bf16=True, amx=False), True),
                            (dict(avx512_bf16=False, amx=True), True),
                            (dict(avx512_bf16=False, amx=False), False)):
        monkeypatch.setattr(strategy, "cpu_description", lambda flags=flags: flags)
        assert strategy.native_bf16() is expected
        assert strategy.native_bf16(tpu="my-tpu") is True
