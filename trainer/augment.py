"""Differentiable augmentation of the discriminators' inputs, the same for a clip's every frame.

DiffAugment (Zhao et al., NeurIPS 2020) and ADA (Karras et al., NeurIPS 2020) show that a GAN
trained on little data stops its discriminator from memorising the real set when every input it
sees, real or fake, in its own step and in G's, goes through the same random, differentiable
transformations. For video the draw is per clip: shifting or masking frames independently would
make real clips jitter, and the video discriminator would learn that jitter is real.

    augment(videos, ("translation", "cutout"), Draws(seed, batch))   # [B, T, H, W, C] or [B, H, W, C]

- translation: the whole clip shifted by up to 1/8 of its size, vacated pixels black (-1).
- cutout: one square of half the size, at a random place, set to black, in every frame.
"""

import tensorflow as tf

POLICIES = ("translation", "cutout")
BLACK = -1.0  # the model range's black, which is what Shape Motion and letterboxes are


def parse_policy(policy: str) -> tuple[str, ...]:
    names = tuple(p for p in policy.split(",") if p) if policy else ()
    unknown = sorted(set(names) - set(POLICIES))
    if unknown:
        raise ValueError(f"augment={policy!r}: unknown {unknown}; choose from {POLICIES}")
    return names


def _as_clips(x):
    """[B, H, W, C] frames become one-frame clips, so one code path serves both discriminators."""
    return (x[:, None], True) if x.shape.rank == 4 else (x, False)


class Draws:
    """Per-clip random integers from a seed: drawn for `global_size` clips and cut to this
    replica's by `take`, so the augmentation does not depend on the replica count."""

    def __init__(self, seed, global_size: int, take=lambda values: values):
        self.seed, self.global_size, self.take = tf.cast(seed, tf.int64), global_size, take

    def ints(self, which: int, low: int, high: int):
        values = tf.random.stateless_uniform(
            [self.global_size], tf.stack([self.seed, tf.constant(which, tf.int64)]),
            minval=low, maxval=high + 1, dtype=tf.int32)
        return self.take(values)


def translate(clips, draws: Draws, fraction: float = 0.125):
    """Each clip shifted by its own (dy, dx) in [-fraction*size, fraction*size]."""
    _, _, height, width, _ = clips.shape
    max_y, max_x = int(height * fraction), int(width * fraction)
    dy = draws.ints(0, -max_y, max_y)
    dx = draws.ints(1, -max_x, max_x)
    rows = tf.range(height)[None, :] - dy[:, None]  # [B, H]: the source row of each output row
    cols = tf.range(width)[None, :] - dx[:, None]
    inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
    rows, cols = tf.clip_by_value(rows, 0, height - 1), tf.clip_by_value(cols, 0, width - 1)
    shifted = tf.gather(clips, rows, axis=2, batch_dims=1)  # [B, T, H, W, C]
    shifted = tf.gather(shifted, cols, axis=3, batch_dims=1)
    return tf.where(inside[:, None, :, :, None], shifted, tf.constant(BLACK, clips.dtype))


def cutout(clips, draws: Draws, fraction: float = 0.5):
    """A black square of fraction*size at the same random place in every frame of a clip."""
    _, _, height, width, _ = clips.shape
    size_y, size_x = int(height * fraction), int(width * fraction)
    top = draws.ints(2, 0, height - size_y)
    left = draws.ints(3, 0, width - size_x)
    ys, xs = tf.range(height)[None, :], tf.range(width)[None, :]
    in_y = (ys >= top[:, None]) & (ys < top[:, None] + size_y)
    in_x = (xs >= left[:, None]) & (xs < left[:, None] + size_x)
    mask = in_y[:, :, None] & in_x[:, None, :]  # [B, H, W]
    return tf.where(mask[:, None, :, :, None], tf.constant(BLACK, clips.dtype), clips)


def augment(x, policy: tuple[str, ...], draws: Draws):
    """x [B, T, H, W, C] or [B, H, W, C] through the policy's transforms."""
    if not policy:
        return x
    clips, frames = _as_clips(x)
    if "translation" in policy:
        clips = translate(clips, draws)
    if "cutout" in policy:
        clips = cutout(clips, draws)
    return clips[:, 0] if frames else clips
