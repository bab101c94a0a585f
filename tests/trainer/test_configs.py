"""trainer.configs: named recipes, as the benchmark and trainer.main use them."""

import pytest

from trainer import configs


def test_every_recipe_makes_a_valid_config():
    classes = ("circle", "square")  # the demo data's
    for name in configs.RECIPES:
        config = configs.recipe_config(name, (16, 64, 64, 3), classes, model_dir="/tmp/unused")
        assert config.clip_shape == (16, 64, 64, 3)
    demo = configs.recipe_config("demo", (16, 64, 64, 3), classes, batch_size=4)
    flags = configs.recipe("demo")
    assert demo.model.video_disc_pool == flags["video_disc_pool"] and demo.batch_size == 4
    # The small preset's discriminators, and the generator the recipe sets.
    assert demo.model.image_disc_channels == (16, 32, 64)
    assert demo.model.image_class_head == flags["image_class_head"]
    assert demo.conditional == flags.get("conditional", False)
    if demo.conditional:
        assert demo.model.num_classes == 2 and demo.class_names == classes
    assert configs.recipe_config("mocogan", (16, 64, 64, 3)).model.gen_channels[0] == 512
    with pytest.raises(ValueError, match="recipe"):
        configs.recipe("nope")
