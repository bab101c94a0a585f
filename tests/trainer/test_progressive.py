"""Progressive growing: half-size frames first, then the full size fades in; real clips are shown
to the discriminators at the same resolution. Values, never times."""

import numpy as np
import pytest
import tensorflow as tf

from tests.trainer_shards import CLASS_NAMES, write_shards
from trainer import config as config_lib
from trainer import data
from trainer import networks
from trainer.networks import generator as generator_lib
from trainer import step as step_lib
from trainer import train_lib

SHAPE = (4, 32, 32, 3)


def make_config(model_dir="", **options):
    model = config_lib.model_config("small", progressive=options.pop("progressive", True))
    defaults = dict(train_steps=3, batch_size=4, image_batch_size=4, strategy="default",
                    grow_steps=2, grow_fade_steps=4)
    return config_lib.Config(model=model, clip_shape=SHAPE, class_names=CLASS_NAMES,
                             model_dir=str(model_dir), **{**defaults, **options})


def blocky(frames):
    """Whether every 2x2 block of [..., H, W, C] frames is one value."""
    frames = np.asarray(frames)
    return np.allclose(frames, np.repeat(np.repeat(frames[..., ::2, ::2, :], 2, -3), 2, -2), atol=1e-6)


def test_the_blend_holds_at_half_size_then_fades_in_linearly():
    config = make_config()
    got = [float(step_lib.resolution_blend(config, s)) for s in range(8)]
    np.testing.assert_allclose(got, [0, 0, 0, 0.25, 0.5, 0.75, 1, 1])


def test_the_generator_renders_half_size_frames_at_blend_zero():
    generator = networks.build_generator(config_lib.model_config("small", progressive=True), 4, 32)
    latents = generator.sample_latents(2, seed=3)
    assert float(generator.frame_generator.blend) == 1.0  # a new or finished model: full size
    full = generator(latents).numpy()
    generator.frame_generator.blend.assign(0.0)
    half = generator(latents).numpy()
    assert blocky(half) and not blocky(full)
    generator.frame_generator.blend.assign(0.5)
    np.testing.assert_allclose(generator(latents).numpy(), (full + half) / 2, atol=1e-5)


def test_real_clips_are_shown_at_the_same_resolution():
    videos = tf.random.stateless_uniform([2, 4, 8, 8, 3], [1, 2], -1.0, 1.0)
    half = generator_lib.at_resolution(videos, 0.0).numpy()
    assert blocky(half)
    np.testing.assert_allclose(half.mean(axis=(2, 3)), videos.numpy().mean(axis=(2, 3)), atol=1e-6)
    np.testing.assert_allclose(generator_lib.at_resolution(videos, 1.0).numpy(), videos.numpy(), atol=1e-6)


def test_training_sets_the_blend_and_a_checkpoint_keeps_it(tmp_path):
    shards = write_shards(tmp_path / "shards", num_files=1, clips_per_file=8, shape=SHAPE)
    config = make_config(tmp_path / "run", tfrecords=shards, ema_decay=0.5)
    strategy = tf.distribute.get_strategy()
    state = train_lib.build_state(config)
    iterator = iter(data.distributed_dataset(strategy, data.resolve_shards(shards), 4, seed=0))
    train_step = train_lib.make_train_step(strategy, config, state)
    blends = []
    for _ in range(5):
        train_step(iterator)
        blends.append(float(state.models.generator.frame_generator.blend))
    np.testing.assert_allclose(blends, [0, 0, 0, 0.25, 0.5])
    assert float(state.ema_generator.frame_generator.blend) == pytest.approx(0.5)
    path = state.checkpoint.write(str(tmp_path / "ckpt"))
    restored = train_lib.build_state(config)
    restored.checkpoint.restore(path)
    assert float(restored.models.generator.frame_generator.blend) == pytest.approx(0.5)


def test_growth_steps_need_the_half_size_layer():
    with pytest.raises(config_lib.ConfigError, match="need --progressive"):
        make_config(progressive=False)
