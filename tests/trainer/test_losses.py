"""Losses against hand-computed values, per-example shapes, and stable finite gradients."""

import math

import numpy as np
import pytest
import tensorflow as tf

from trainer import losses


def softplus(x):
    return math.log1p(math.exp(x))


def test_bce_discriminator_loss_matches_hand_values():
    real = tf.constant([0.0, 2.0])
    fake = tf.constant([0.0, -1.0])
    got = losses.discriminator_loss(real, fake, "bce").numpy()
    want = [2 * math.log(2.0), softplus(-2.0) + softplus(-1.0)]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_bce_generator_loss_is_non_saturating():
    got = losses.generator_loss(tf.constant([0.0, -3.0, 3.0]), "bce").numpy()
    np.testing.assert_allclose(got, [math.log(2.0), softplus(3.0), softplus(-3.0)], rtol=1e-6)


def test_hinge_losses_match_hand_values():
    real = tf.constant([0.5, 2.0, -1.0])
    fake = tf.constant([-0.5, -2.0, 1.0])
    np.testing.assert_allclose(
        losses.discriminator_loss(real, fake, "hinge").numpy(), [1.0, 0.0, 4.0], rtol=1e-6
    )
    np.testing.assert_allclose(losses.generator_loss(fake, "hinge").numpy(), [0.5, 2.0, -1.0])


def test_patch_logits_are_averaged_per_example():
    # Example 0: patches all 0; example 1: half the patches at +large, half at -large.
    real = np.zeros([2, 2, 2, 1], np.float32)
    real[1, 0] = 50.0
    real[1, 1] = -50.0
    fake = np.zeros_like(real)
    got = losses.discriminator_loss(real, fake, "hinge").numpy()
    np.testing.assert_allclose(got, [2.0, 0.5 * 0.0 + 0.5 * 51.0 + 1.0], rtol=1e-6)
    assert losses.generator_loss(tf.zeros([3, 5, 4, 4, 1])).shape == [3]


def test_bce_is_stable_for_huge_logits():
    real = tf.constant([1e4, -1e4])
    fake = tf.constant([-1e4, 1e4])
    got = losses.discriminator_loss(real, fake, "bce").numpy()
    np.testing.assert_allclose(got, [0.0, 2e4], rtol=1e-6)
    np.testing.assert_allclose(losses.generator_loss(fake, "bce").numpy(), [1e4, 0.0], rtol=1e-6)


@pytest.mark.parametrize("kind", losses.LOSS_KINDS)
def test_loss_gradients_are_finite(kind):
    real = tf.Variable([[-80.0, 0.0], [3.0, 80.0]])
    fake = tf.Variable([[80.0, 0.5], [-3.0, -80.0]])
    with tf.GradientTape(persistent=True) as tape:
        d_total = tf.reduce_sum(losses.discriminator_loss(real, fake, kind))
        g_total = tf.reduce_sum(losses.generator_loss(fake, kind))
    for grad in tape.gradient(d_total, [real, fake]) + [tape.gradient(g_total, fake)]:
        assert np.all(np.isfinite(grad.numpy()))
        assert np.any(grad.numpy() != 0)


def test_unknown_kind_and_mismatched_batches_are_refused():
    with pytest.raises(ValueError, match="wasserstein"):
        losses.generator_loss(tf.zeros([2]), "wasserstein")
    with pytest.raises(ValueError, match="same batch size"):
        losses.discriminator_loss(tf.zeros([2, 4]), tf.zeros([3, 4]))


def test_category_loss_values_and_unlabelled_rows():
    logits = tf.constant([[0.0, 0.0, 0.0, 0.0], [10.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]])
    got = losses.category_loss(logits, tf.constant([2, 0, -1])).numpy()
    want_row1 = math.log1p(3.0 * math.exp(-10.0))
    np.testing.assert_allclose(got, [math.log(4.0), want_row1, 0.0], rtol=1e-5, atol=1e-6)


def test_class_accuracy_counts_top_logits_that_match():
    logits = tf.constant([[3.0, 1.0], [0.0, 2.0], [5.0, 4.0], [1.0, 0.0]])
    # rows 0 and 1 right, row 2 wrong, row 3 unlabelled (a miss)
    assert float(losses.class_accuracy(logits, tf.constant([0, 1, 1, -1]))) == 0.5


def test_r1_penalty_from_gradients():
    gradients = tf.ones([2, 2, 3])
    gradients = gradients * tf.constant([1.0, 2.0])[:, None, None]
    np.testing.assert_allclose(losses.r1_penalty(gradients, gamma=10.0).numpy(), [30.0, 120.0])


def test_logits_and_r1_of_a_linear_discriminator():
    # D(x) = sum(w * x) per example: its input gradient is w, so R1 = gamma/2 * ||w||^2.
    weights = tf.constant([[1.0, -2.0], [0.5, 3.0]])

    def discriminator(x, training=True):
        return tf.reduce_sum(x * weights, axis=[1, 2])[:, None], None

    inputs = tf.random.normal([3, 2, 2])
    (logits, _), penalty = losses.logits_and_r1(discriminator, inputs, gamma=2.0)
    assert logits.shape == [3, 1]
    np.testing.assert_allclose(penalty.numpy(), [14.25] * 3, rtol=1e-6)


def test_r1_of_patch_logits_is_taken_on_each_examples_mean_logit():
    # Four patch logits, each w_p * x: the mean logit's input gradient is mean_p(w_p) per pixel
    # here (every patch sees the whole input), so R1 = gamma/2 * ||x-gradient||^2 of the mean,
    # not of the sum (which would be 16x larger).
    weights = tf.constant([1.0, 2.0, 3.0, 6.0])

    def discriminator(x, training=True):
        return tf.reduce_sum(x, axis=1)[:, None] * weights[None, :]  # [B, 4] patch logits

    inputs = tf.random.normal([2, 5])
    logits, penalty = losses.logits_and_r1(discriminator, inputs, gamma=2.0)
    assert logits.shape == [2, 4]
    # Mean weight 3, so each of the 5 inputs has gradient 3: gamma/2 * 5 * 9 = 45.
    np.testing.assert_allclose(penalty.numpy(), [45.0, 45.0], rtol=1e-6)
