"""trainer.configs: named recipes, as the benchmark and trainer.main use them."""

import pytest

from trainer import configs


def test_every_recipe_makes_a_valid_config():
    for name in configs.RECIPES:
        config = configs.recipe_config(name, (16, 64, 64, 3), model_dir="/tmp/unused")
        assert config.clip_shape == (16, 64, 64, 3)
    demo = configs.recipe_config("demo", (16, 64, 64, 3), batch_size=4)
    flags = configs.recipe("demo")
    assert demo.model.video_disc_pool == flags["video_disc_pool"] and demo.batch_size == 4
    assert demo.model.gen_channels == (64, 32, 16, 8)  # the small preset
    assert configs.recipe_config("mocogan", (16, 64, 64, 3)).model.gen_channels[0] == 512
    with pytest.raises(ValueError, match="recipe"):
        configs.recipe("nope")
