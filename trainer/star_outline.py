"""A sprite's mask as a star-convex outline: a radius at each of K angles around its centre.

The canvas a frame generator paints can hold holes, ragged edges and second pieces, and under a
class network that pushes for corners it does (BUILD.md, twelfth and thirteenth sessions). A
star-convex outline cannot: every pixel within the radius of its own angle is inside, so the
mask is one piece without holes, while discs (equal radii) and squares (h / max(|cos|, |sin|))
are both in reach. The representation is StarDist's (Schmidt et al., MICCAI 2018), which
describes cell nuclei by their radii along fixed rays.
"""

import math

import keras
import tensorflow as tf


def polar_grid(size: int, points: int):
    """(distance [size, size], ray weights [size, size, points]) of each pixel's centre from
    the frame's centre: its distance in pixels, and the linear blend of the two rays its angle
    falls between (weights over rays sum to 1)."""
    position = tf.range(size, dtype=tf.float32) + 0.5 - size / 2
    y, x = position[:, None], position[None, :]
    distance = tf.sqrt(x ** 2 + y ** 2)
    ray = (tf.atan2(y, x) + math.pi) / (2 * math.pi) * points  # in [0, points]
    gap = tf.abs(ray[..., None] - tf.range(points, dtype=tf.float32))
    gap = tf.minimum(gap, points - gap)  # ray 0 and ray points - 1 are neighbours
    return distance, tf.nn.relu(1.0 - gap)


class StarOutline(keras.layers.Layer):
    """[B, content] codes -> [B, size, size, 1] masks written as tanh values in [-1, 1], the
    frame generator's convention (mask = (x + 1) / 2 = sigmoid((r(angle) - d) / edge)).

    The outline is a mean radius, max_radius * sigmoid(.), times a closed walk in log radius:
    from ray to ray the log radius changes by max_slope * 2 pi / points * tanh(.) (and by at most
    twice that once the walk is closed), so the edge cannot fold into sub-pixel spikes. Free radii per ray
    made spikes and notches narrower than a pixel, which the pixel grid cuts into pieces and
    holes (61 of 64 random outlines at initialisation had a hole); with slope 1.5, 26 of 256
    saturated ones had a hole, with 1.0 none. A square needs slopes up to 1 (d log r / d angle
    = tan(angle), 1 at its corners). `edge` (pixels) is the
    soft band's width in training; the 0/1 mask at sampling (hard_at_sampling) is the outline.
    """

    def __init__(self, size: int, max_radius: float, points: int = 64, hidden: int = 128,
                 edge: float = 1.0, max_slope: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if points < 3 or max_radius <= 0 or edge <= 0 or max_slope <= 0:
            raise ValueError(f"StarOutline needs points >= 3 and max_radius, edge and max_slope "
                             f"> 0, got {points}, {max_radius}, {edge}, {max_slope}")
        self.max_radius, self.edge = float(max_radius), float(edge)
        self.step = max_slope * 2 * math.pi / points  # the largest log-radius change a ray
        self.hidden = keras.layers.Dense(hidden, activation="relu", dtype="float32", name="hidden")
        self.size = keras.layers.Dense(1, dtype="float32", name="size")
        self.turns = keras.layers.Dense(points, dtype="float32", name="turns")
        self.distance, self.ray_weights = polar_grid(size, points)

    def outline_radii(self, content):
        """[B, points] radii in pixels, ray k at angle 2 pi k / points - pi (atan2's, y down)."""
        features = self.hidden(tf.cast(content, tf.float32))
        changes = self.step * tf.tanh(self.turns(features))
        changes -= tf.reduce_mean(changes, axis=-1, keepdims=True)  # the walk closes
        log_radius = tf.cumsum(changes, axis=-1)
        log_radius -= tf.reduce_mean(log_radius, axis=-1, keepdims=True)
        return self.max_radius * tf.sigmoid(self.size(features)) * tf.exp(log_radius)

    def call(self, content, training=False):
        radius = tf.einsum("bk,hwk->bhw", self.outline_radii(content), self.ray_weights)
        return tf.tanh((radius - self.distance) / (2 * self.edge))[..., None]
