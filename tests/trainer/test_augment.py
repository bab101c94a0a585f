"""trainer.augment: per-clip translation and cutout of discriminator inputs, differentiable."""

import numpy as np
import pytest
import tensorflow as tf

from trainer import augment


def clips(batch=6, frames=4, size=16):
    rng = np.random.default_rng(0)
    return tf.constant(rng.uniform(-0.9, 1.0, (batch, frames, size, size, 3)).astype(np.float32))


def test_translation_shifts_every_frame_of_a_clip_alike_and_fills_black():
    x = clips()
    out = augment.augment(x, ("translation",), augment.Draws(7, 6)).numpy()
    assert out.shape == x.shape
    for b in range(6):
        # Find the clip's shift from its first frame, then check it holds for the others.
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if np.allclose(np.roll(x.numpy()[b, 0], (dy, dx), (0, 1))[2:-2, 2:-2],
                                out[b, 0, 2:-2, 2:-2])]
        assert len(found) == 1, b
        dy, dx = found[0]
        for t in range(4):
            assert np.allclose(np.roll(x.numpy()[b, t], (dy, dx), (0, 1))[2:-2, 2:-2], out[b, t, 2:-2, 2:-2])
        if dy > 0:
            assert np.all(out[b, :, :dy] == augment.BLACK)
    shifts = {tuple(augment.Draws(s, 1).ints(0, -2, 2).numpy()) for s in range(20)}
    assert len(shifts) > 1  # the draw depends on the seed


def test_cutout_blacks_the_same_square_in_every_frame():
    x = clips()
    out = augment.augment(x, ("cutout",), augment.Draws(3, 6)).numpy()
    black = out == augment.BLACK
    for b in range(6):
        mask = black[b].all(axis=-1)
        assert mask.sum() == 4 * 8 * 8  # half the side: 8x8 in each of 4 frames
        assert all(np.array_equal(mask[0], mask[t]) for t in range(4))
    np.testing.assert_array_equal(out[~black], x.numpy()[~black])


def test_frames_gradients_and_replica_slices():
    frames = clips()[:, 0]
    assert augment.augment(frames, ("translation", "cutout"), augment.Draws(1, 6)).shape == frames.shape
    with tf.GradientTape() as tape:
        tape.watch(frames)
        total = tf.reduce_sum(augment.augment(frames, ("translation",), augment.Draws(1, 6)))
    assert float(tf.reduce_sum(tf.abs(tape.gradient(total, frames)))) > 0
    # Replica r of 2 draws the global batch and keeps its half: the same numbers as one device.
    whole = augment.Draws(5, 6).ints(0, -4, 4).numpy()
    second = augment.Draws(5, 6, take=lambda v: v[3:]).ints(0, -4, 4).numpy()
    np.testing.assert_array_equal(whole[3:], second)
    assert augment.augment(frames, (), augment.Draws(1, 6)) is frames
    with pytest.raises(ValueError, match="flip"):
        augment.parse_policy("translation,flip")
