import dataclasses
import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from trainer import models
from trainer.star_outline import StarOutline, polar_grid

SIZE = 32
STAR = dataclasses.replace(models.PRESETS["small"], gen_motion="translate",
                           gen_appearance="black", gen_mask="hard_at_sampling",
                           sprite_radius=0.4, sprite_shape="star")


def ray_angles(points):
    return 2 * math.pi * np.arange(points) / points - math.pi


def outline_with_radii(radii, max_radius=12.0):
    """A StarOutline whose radii are `radii` (pixels) for any content code."""
    layer = StarOutline(SIZE, max_radius, points=len(radii))
    layer(tf.zeros([1, 5]))
    for dense in (layer.turns, layer.size):
        dense.kernel.assign(tf.zeros_like(dense.kernel))
    log_radius = np.log(np.asarray(radii, np.float64))
    changes = log_radius - np.roll(log_radius, 1)  # ray k's change from ray k - 1, closed
    layer.turns.bias.assign(np.arctanh(changes / layer.step).astype(np.float32))
    fraction = np.exp(log_radius.mean()) / max_radius
    layer.size.bias.assign([np.log(fraction / (1 - fraction))])
    np.testing.assert_allclose(layer.outline_radii(tf.zeros([1, 5])).numpy()[0], radii, rtol=1e-4)
    return layer


def inside(layer):
    return layer(tf.zeros([1, 5])).numpy()[0, ..., 0] > 0.0  # mask > 0.5


def test_each_pixel_blends_the_two_rays_its_angle_falls_between():
    distance, weights = polar_grid(SIZE, 16)
    np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, rtol=1e-5)
    assert ((weights.numpy() > 0).sum(-1) <= 2).all()
    np.testing.assert_allclose(distance.numpy()[SIZE // 2, SIZE // 2], math.sqrt(0.5), rtol=1e-6)
    # A pixel straight right of the centre (angle 0) lies on ray points / 2 alone.
    assert weights.numpy()[SIZE // 2 - 1, SIZE - 1].argmax() in (7, 8)


def test_equal_radii_outline_a_disc():
    distance = polar_grid(SIZE, 32)[0].numpy()
    np.testing.assert_array_equal(inside(outline_with_radii([7.0] * 32)), distance < 7.0)


def test_turns_are_bounded_and_the_walk_closes():
    layer = StarOutline(SIZE, 12.0, points=32)
    layer(tf.zeros([1, 5]))
    layer.turns.kernel.assign(tf.random.stateless_normal(layer.turns.kernel.shape, [2, 3]) * 50.0)
    radii = layer.outline_radii(tf.random.stateless_normal([8, 5], [4, 5])).numpy()
    changes = np.log(radii) - np.roll(np.log(radii), 1, axis=1)  # ray 0 from ray 31 included
    assert np.abs(changes).max() <= 2 * layer.step + 1e-5
    assert np.abs(changes).max() > layer.step / 2  # they do turn


def test_square_radii_outline_a_square():
    half_side, angles = 6.0, ray_angles(64)
    radii = half_side / np.maximum(np.abs(np.cos(angles)), np.abs(np.sin(angles)))
    mask = inside(outline_with_radii(radii))
    centre = np.arange(SIZE) + 0.5 - SIZE / 2
    square = (np.abs(centre[:, None]) < half_side) & (np.abs(centre[None, :]) < half_side)
    assert (mask & square).sum() / (mask | square).sum() > 0.95
    assert mask.sum() > 0.9 * (2 * half_side) ** 2 > math.pi * half_side ** 2  # not a disc


def test_any_content_code_gives_one_piece_without_holes():
    generator = models.build_generator(STAR, 4, SIZE)
    turns = generator.outline.turns.kernel  # large: most rays turn as steeply as they may
    turns.assign(tf.random.stateless_normal(turns.shape, [0, 1]) * 10.0)
    latents = generator.sample_latents(16, seed=5)
    _, masks = generator(latents, with_masks=True)  # 0/1 at sampling
    eight_neighbours = np.ones((3, 3), bool)
    for mask in masks.numpy()[:, 0, ..., 0] > 0.5:
        assert ndimage.label(mask, structure=eight_neighbours)[1] == 1
        np.testing.assert_array_equal(ndimage.binary_fill_holes(mask), mask)
    shapes = masks.numpy()[:, 0].reshape(16, -1)
    assert len({row.tobytes() for row in shapes}) == 16  # each video its own outline


def test_the_soft_outline_passes_gradients_to_its_radii():
    generator = models.build_generator(STAR, 4, SIZE)
    latents = generator.sample_latents(2, seed=1)
    with tf.GradientTape() as tape:
        _, masks = generator(latents, training=True, with_masks=True)
        area = tf.reduce_sum(masks)
    size, turns = tape.gradient(area, [generator.outline.size.bias, generator.outline.turns.kernel])
    assert size.numpy()[0] > 0  # a larger mean radius grows the area
    assert np.abs(turns.numpy()).max() > 0  # and the outline's turns move it
    soft = masks.numpy()
    assert ((soft > 0.01) & (soft < 0.99)).any()  # a soft band in training


def test_a_star_outline_needs_a_black_sprite():
    with pytest.raises(ValueError, match="sprite_shape='star'"):
        dataclasses.replace(STAR, sprite_radius=0.0)
    with pytest.raises(ValueError, match="sprite_shape='star'"):
        dataclasses.replace(STAR, gen_appearance="grey")
    with pytest.raises(ValueError, match="sprite_shape='ellipse'"):
        dataclasses.replace(STAR, sprite_shape="ellipse")
