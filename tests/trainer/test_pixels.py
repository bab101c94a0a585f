"""trainer.pixels: uint8 <-> [-1, 1], the same numbers in numpy and in TensorFlow graphs."""

import numpy as np
import tensorflow as tf

from trainer import pixels

ALL = np.arange(256, dtype=np.uint8)


def test_to_model_range_is_the_same_in_numpy_eager_and_graphs():
    # The training step's rule, in float32: what it computed before there was this module.
    expected = ALL.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    here = pixels.to_model_range(ALL)
    assert here.dtype == np.float32 and here[0] == -1.0 and here[-1] == 1.0
    np.testing.assert_array_equal(here, expected)
    for run in (pixels.tensor_to_model_range, tf.function(pixels.tensor_to_model_range)):
        out = run(tf.constant(ALL))
        assert out.dtype == tf.float32
        np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_allclose(here, ALL / 127.5 - 1.0, rtol=0, atol=1.5e-7)  # about an ulp


def test_every_pixel_value_comes_back_unchanged():
    np.testing.assert_array_equal(pixels.to_uint8(pixels.to_model_range(ALL)), ALL)
    back = pixels.tensor_to_uint8(pixels.tensor_to_model_range(tf.constant(ALL)))
    assert back.dtype == tf.uint8
    np.testing.assert_array_equal(back.numpy(), ALL)


def _tie(scaled: float) -> np.float32:
    """A float32 x whose (x + 1) * 127.5, in float32, is exactly `scaled` (k + 0.5)."""
    nominal = np.float32(scaled / 127.5 - 1.0)
    for step in range(-64, 65):
        x = np.float32(nominal + np.float32(step) * np.spacing(nominal))
        if (x + np.float32(1.0)) * np.float32(127.5) == np.float32(scaled):
            return x
    raise AssertionError(f"no float32 near {nominal} scales to {scaled}")


def test_to_uint8_rounds_half_to_even_and_clips_in_numpy_and_in_graphs():
    # Ties go to the even neighbour (0.5, 1.5 have no float32 x: near -1, x + 1 is too coarse).
    ties = np.array([_tie(64.5), _tie(65.5), _tie(200.5)], np.float32)
    floats = np.concatenate([ties, np.array([-3.0, -1.0, 0.0, 1.0, 7.0], np.float32)])
    expected = [64, 66, 200, 0, 0, 128, 255, 255]  # x = 0 is the tie 127.5
    np.testing.assert_array_equal(pixels.to_uint8(floats), expected)
    np.testing.assert_array_equal(tf.function(pixels.tensor_to_uint8)(floats).numpy(), expected)
    noise = np.random.default_rng(0).uniform(-1.2, 1.2, (4, 3, 8, 8, 3)).astype(np.float32)
    assert pixels.to_uint8(tf.constant(noise)).dtype == np.uint8  # eager tensors in, numpy out
    np.testing.assert_array_equal(pixels.to_uint8(noise), pixels.tensor_to_uint8(noise).numpy())


def test_floats_for_measuring_are_clipped_and_not_rounded():
    np.testing.assert_array_equal(pixels.as_model_range(np.array([-2.0, 0.25, 3.0])), [-1, 0.25, 1])
    np.testing.assert_array_equal(pixels.as_model_range(ALL), pixels.to_model_range(ALL))
    scale = pixels.to_pixel_scale(np.array([-2.0, -1.0, 0.001, 1.0, 2.0]))
    assert scale.dtype == np.float32
    np.testing.assert_allclose(scale, [0.0, 0.0, 127.6275, 255.0, 255.0], rtol=1e-6)
