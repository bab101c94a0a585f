import dataclasses
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from trainer import models
from trainer.sprite_outlines import (ConvexOutline, StarOutline, SuperellipseOutline,
                                     fourier_basis, polar_grid)

SIZE = 32
STAR = dataclasses.replace(models.PRESETS["small"], gen_motion="translate",
                           gen_appearance="black", gen_mask="hard_at_sampling",
                           sprite_radius=0.4, sprite_shape="star")
ANGLES = np.linspace(-math.pi, math.pi, 720, endpoint=False).astype(np.float32)


def outline_with_log_radius(log_radius, max_radius=12.0, harmonics=8):
    """A StarOutline whose log radius is the series of `log_radius` (sampled at ANGLES) up to
    `harmonics` terms, for any content code."""
    layer = StarOutline(SIZE, max_radius, harmonics=harmonics)
    layer(tf.zeros([1, 5]))
    basis = fourier_basis(tf.constant(ANGLES), harmonics).numpy()
    layer.series.bias.assign((2 * (log_radius - log_radius.mean()) @ basis / len(ANGLES)).astype(np.float32))
    fraction = np.exp(log_radius.mean()) / max_radius
    layer.size.kernel.assign(tf.zeros_like(layer.size.kernel))
    layer.size.bias.assign([np.log(fraction / (1 - fraction))])
    return layer


def inside(layer):
    return layer(tf.zeros([1, 5])).numpy()[0, ..., 0] > 0.0  # mask > 0.5


def test_the_pixel_grid_is_centred():
    distance, angle = polar_grid(SIZE)
    np.testing.assert_allclose(distance.numpy()[SIZE // 2, SIZE // 2], math.sqrt(0.5), rtol=1e-6)
    np.testing.assert_allclose(angle.numpy()[SIZE // 2 - 1, SIZE - 1], -math.atan2(0.5, 15.5),
                               rtol=1e-5)  # right of the centre, a half pixel up: angle ~ 0


def test_a_new_outline_is_a_disc_near_half_the_window():
    layer = StarOutline(SIZE, 12.0)
    radii = layer.outline_radii(tf.random.stateless_normal([4, 5], [0, 1]), ANGLES).numpy()
    np.testing.assert_allclose(radii, np.broadcast_to(radii[:, :1], radii.shape), rtol=1e-6)
    assert (radii > 3.0).all() and (radii < 9.0).all()  # near 6: the series starts at zero
    distance = polar_grid(SIZE)[0].numpy()
    disc = outline_with_log_radius(np.full(len(ANGLES), math.log(7.0)))
    np.testing.assert_array_equal(inside(disc), distance < 7.0)


def test_square_radii_outline_a_square():
    half_side = 6.0
    log_radius = math.log(half_side) - np.log(np.maximum(np.abs(np.cos(ANGLES)),
                                                         np.abs(np.sin(ANGLES))))
    mask = inside(outline_with_log_radius(log_radius))
    centre = np.arange(SIZE) + 0.5 - SIZE / 2
    square = (np.abs(centre[:, None]) < half_side) & (np.abs(centre[None, :]) < half_side)
    assert (mask & square).sum() / (mask | square).sum() > 0.95
    assert mask.sum() > 0.9 * (2 * half_side) ** 2 > math.pi * half_side ** 2  # not a disc


def test_the_slope_of_the_log_radius_is_bounded():
    layer = StarOutline(SIZE, 12.0, max_slope=1.0)
    layer(tf.zeros([1, 5]))
    layer.series.kernel.assign(tf.random.stateless_normal(layer.series.kernel.shape, [2, 3]) * 5.0)
    log_radius = np.log(layer.outline_radii(tf.random.stateless_normal([8, 5], [4, 5]),
                                            ANGLES).numpy())
    slope = (np.roll(log_radius, -1, axis=1) - log_radius) / (ANGLES[1] - ANGLES[0])
    assert np.abs(slope).max() <= 1.0 + 1e-3
    assert np.abs(slope).max() > 0.5  # the outlines do turn


def test_any_content_code_gives_one_piece_without_holes():
    keras.utils.set_random_seed(1)  # the same weights whatever ran before in this process
    generator = models.build_generator(STAR, 4, SIZE)
    series = generator.outline.series.kernel  # large: every outline as wiggly as it may be
    series.assign(tf.random.stateless_normal(series.shape, [0, 1]) * 10.0)
    # Centred, so that no random offset moves a sprite out of the frame: the outline is tested.
    generator.offset.kernel.assign(tf.zeros_like(generator.offset.kernel))
    generator.offset.bias.assign(tf.zeros_like(generator.offset.bias))
    latents = generator.sample_latents(64, seed=5)
    _, masks = generator(latents, with_masks=True)  # 0/1 at sampling
    eight_neighbours = np.ones((3, 3), bool)
    for mask in masks.numpy()[:, 0, ..., 0] > 0.5:
        assert ndimage.label(mask, structure=eight_neighbours)[1] == 1
        np.testing.assert_array_equal(ndimage.binary_fill_holes(mask), mask)
    shapes = masks.numpy()[:, 0].reshape(64, -1)
    assert len({row.tobytes() for row in shapes}) == 64  # each video its own outline


def right_half_gradients(config, variables):
    """(training masks, gradients of the centred sprites' mask area in the frame's right half
    with respect to variables(outline))."""
    generator = models.build_generator(config, 4, SIZE)
    generator.offset.kernel.assign(tf.zeros_like(generator.offset.kernel))  # the sprite centred
    latents = generator.sample_latents(2, seed=1)
    with tf.GradientTape() as tape:
        _, masks = generator(latents, training=True, with_masks=True)
        right_half = tf.reduce_sum(masks[:, :, :, SIZE // 2:])
    return masks, tape.gradient(right_half, variables(generator.outline))


def test_the_soft_outline_passes_gradients_to_its_size_and_shape():
    masks, (size, series) = right_half_gradients(
        STAR, lambda outline: [outline.size.bias, outline.series.bias])
    assert size.numpy()[0] > 0  # a larger outline covers more of the right half
    assert series.numpy()[0] > 0  # and so does one pushed right (cos 1 angle > 0 there)
    soft = masks.numpy()
    assert ((soft > 0.01) & (soft < 0.99)).any()  # a soft band in training


def test_a_star_outline_needs_a_black_sprite():
    with pytest.raises(ValueError, match="sprite_shape='star'"):
        dataclasses.replace(STAR, sprite_radius=0.0)
    with pytest.raises(ValueError, match="sprite_shape='star'"):
        dataclasses.replace(STAR, gen_appearance="grey")
    with pytest.raises(ValueError, match="sprite_shape='ellipse'"):
        dataclasses.replace(STAR, sprite_shape="ellipse")


CONVEX = dataclasses.replace(STAR, sprite_shape="convex")
CENTRES = np.arange(SIZE) + 0.5 - SIZE / 2


def polygon_with_distances(distances, max_radius=12.0):
    """A ConvexOutline whose 16 facets lie at `distances` (pixels) for any content code."""
    layer = ConvexOutline(SIZE, max_radius)
    layer(tf.zeros([1, 5]))
    fraction = (np.asarray(distances) / max_radius - 0.1) / 0.9
    layer.distances.bias.assign(np.log(fraction / (1 - fraction)).astype(np.float32))
    np.testing.assert_allclose(layer.facet_distances(tf.zeros([1, 5])).numpy()[0], distances,
                               rtol=1e-4)
    return layer


def test_a_new_polygon_is_regular():
    layer = ConvexOutline(SIZE, 12.0)
    distances = layer.facet_distances(tf.random.stateless_normal([4, 5], [0, 1])).numpy()
    np.testing.assert_allclose(distances, 0.55 * 12.0, rtol=1e-6)


def test_four_facets_at_the_half_side_make_an_exact_square():
    distances = np.full(16, 11.9)
    distances[::4] = 6.0  # the facets facing +x, +y, -x, -y
    mask = inside(polygon_with_distances(distances))
    square = (np.abs(CENTRES[:, None]) < 6.0) & (np.abs(CENTRES[None, :]) < 6.0)
    np.testing.assert_array_equal(mask, square)


def test_equal_facets_make_a_disc_to_within_a_pixel():
    mask = inside(polygon_with_distances(np.full(16, 7.0)))
    distance = polar_grid(SIZE)[0].numpy()
    assert mask[distance < 7.0 * math.cos(math.pi / 16)].all()
    assert not mask[distance > 7.0 / math.cos(math.pi / 16)].any()
    assert abs(mask.sum() - math.pi * 49) < 0.05 * math.pi * 49


SUPERELLIPSE = dataclasses.replace(STAR, sprite_shape="superellipse")


@pytest.mark.parametrize("config, kernel", [(CONVEX, lambda outline: outline.distances.kernel),
                                            (SUPERELLIPSE,
                                             lambda outline: outline.shape_code.kernel)],
                         ids=["convex", "superellipse"])
def test_any_content_code_gives_one_convex_piece(config, kernel):
    generator = models.build_generator(config, 4, SIZE)
    weights = kernel(generator.outline)
    weights.assign(tf.random.stateless_normal(weights.shape, [0, 1]) * 3.0)
    _, masks = generator(generator.sample_latents(64, seed=5), with_masks=True)
    eight_neighbours = np.ones((3, 3), bool)
    for mask in masks.numpy()[:, 0, ..., 0] > 0.5:
        assert ndimage.label(mask, structure=eight_neighbours)[1] == 1
        np.testing.assert_array_equal(ndimage.binary_fill_holes(mask), mask)
        rows = np.flatnonzero(mask.any(axis=1))  # convex: every row a single run
        for row in rows:
            run = np.flatnonzero(mask[row])
            assert run[-1] - run[0] + 1 == len(run)


def test_a_facet_gets_gradients_where_it_binds():
    _, gradient = right_half_gradients(CONVEX, lambda outline: outline.distances.bias)
    gradient = gradient.numpy()
    assert gradient[0] > 0  # the facet facing +x moves the right half's edge
    assert abs(gradient[8]) < 1e-3 * gradient[0]  # the one facing -x does not bind there


def test_a_convex_outline_needs_a_black_sprite():
    with pytest.raises(ValueError, match="sprite_shape='convex'"):
        dataclasses.replace(CONVEX, sprite_radius=0.0)
    with pytest.raises(ValueError, match="sprite_shape='superellipse'"):
        dataclasses.replace(SUPERELLIPSE, gen_appearance="grey")


def superellipse_with(radius, code, max_radius=12.0):
    """A SuperellipseOutline of `radius` pixels whose exponent code (sigmoid, in (0, 1)) is
    `code`, for any content code."""
    layer = SuperellipseOutline(SIZE, max_radius)
    layer(tf.zeros([1, 5]))
    fractions = np.array([(radius / max_radius - 0.1) / 0.9, code])
    layer.shape_code.bias.assign(np.log(fractions / (1 - fractions)).astype(np.float32))
    return layer


def test_a_new_superellipse_is_a_rounded_square_at_half_the_window():
    layer = SuperellipseOutline(SIZE, 12.0)
    radius, exponent = layer.radius_and_exponent(tf.random.stateless_normal([4, 5], [0, 1]))
    np.testing.assert_allclose(radius.numpy(), 0.55 * 12.0, rtol=1e-6)
    np.testing.assert_allclose(exponent.numpy(), 8.0, rtol=1e-5)  # sqrt(2 * 32)


def test_a_superellipse_starts_at_the_exponent_it_is_given():
    layer = SuperellipseOutline(SIZE, 12.0, start_exponent=3.0)
    radius, exponent = layer.radius_and_exponent(tf.random.stateless_normal([4, 5], [0, 1]))
    np.testing.assert_allclose(exponent.numpy(), 3.0, rtol=1e-5)
    np.testing.assert_allclose(radius.numpy(), 0.55 * 12.0, rtol=1e-6)
    with pytest.raises(ValueError, match="start_exponent"):
        SuperellipseOutline(SIZE, 12.0, start_exponent=2.0)


def test_a_direct_superellipse_reads_the_code_and_passes_the_exponent_gradient_at_its_ends():
    direct = SuperellipseOutline(SIZE, 12.0, start_exponent=3.0, direct=True)
    codes = tf.random.stateless_normal([4, 5], [0, 1])
    np.testing.assert_allclose(direct.radius_and_exponent(codes)[1].numpy(), 3.0, rtol=1e-5)
    assert direct.shape_code.kernel.shape == (128 + 5, 2)  # the hidden units and the code
    sigmoid = SuperellipseOutline(SIZE, 12.0)
    sigmoid(codes)
    for layer, pushed_past_the_end in ((direct, 1.5), (sigmoid, 8.0)):  # both at n = 32
        bias = layer.shape_code.bias
        bias.assign([0.0, pushed_past_the_end])
        with tf.GradientTape() as tape:
            exponent = layer.radius_and_exponent(codes)[1]
            total = tf.reduce_mean(exponent)
        np.testing.assert_allclose(exponent.numpy(), 32.0, rtol=2e-3)
        gradient = tape.gradient(total, bias).numpy()[1]
        if layer is direct:  # the exponent can still be pulled back towards a disc
            assert gradient > 10.0
        else:  # a sigmoid there passes almost nothing
            assert 0 < gradient < 0.1
    one_hot = tf.one_hot([0, 1], 5)  # a class's own kernel row moves its exponent alone
    direct.shape_code.bias.assign([0.0, 0.2])
    with tf.GradientTape() as tape:
        second = direct.radius_and_exponent(one_hot)[1][1]
    kernel_gradient = tape.gradient(second, direct.shape_code.kernel).numpy()
    assert kernel_gradient[128 + 1, 1] > 0 and kernel_gradient[128 + 0, 1] == 0


def test_the_superellipse_runs_from_a_disc_to_a_square():
    disc = inside(superellipse_with(7.0, 1e-4))  # n = 2.0006
    np.testing.assert_array_equal(disc, polar_grid(SIZE)[0].numpy() < 7.0)
    square = inside(superellipse_with(6.0, 1 - 1e-4))  # n = 32: every corner pixel inside
    np.testing.assert_array_equal(
        square, (np.abs(CENTRES[:, None]) < 6.0) & (np.abs(CENTRES[None, :]) < 6.0))


def test_the_superellipse_gets_gradients_for_its_size_and_exponent():
    masks, (gradient,) = right_half_gradients(SUPERELLIPSE,
                                              lambda outline: [outline.shape_code.bias])
    gradient = gradient.numpy()
    assert np.isfinite(gradient).all()
    assert gradient[0] > 0  # a larger radius covers more of the right half
    assert gradient[1] > 0  # and so does a larger exponent: a square holds its disc
    assert ((masks.numpy() > 0.01) & (masks.numpy() < 0.99)).any()


def test_a_superellipse_refuses_exponents_out_of_order():
    with pytest.raises(ValueError, match="min_exponent < max_exponent"):
        SuperellipseOutline(SIZE, 12.0, min_exponent=8.0, max_exponent=4.0)
