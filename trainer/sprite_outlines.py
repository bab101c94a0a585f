"""A sprite's mask drawn as an outline around its centre, not painted pixel by pixel.

Three outlines (--sprite_shape): `StarOutline`, a radius for each angle; `ConvexOutline`, a
convex polygon with facets in fixed directions; `SuperellipseOutline`, one size and one exponent
that run from a disc to a square.

StarOutline:

The canvas a frame generator paints can hold holes, ragged edges and second pieces, and under a
class network that pushes for corners it does (BUILD.md, twelfth and thirteenth sessions). A
star-convex outline cannot: every pixel nearer the centre than the outline at its own angle is
inside, so the mask is one piece, while discs and squares are both in reach. Outlines described
by their radii along rays are StarDist's (Schmidt et al., MICCAI 2018, for cell nuclei).

The log radius is a mean plus a Fourier series of `harmonics` terms. Free radii per ray (the
first version) made spikes and notches narrower than a pixel, which the pixel grid cuts into
pieces and holes, and zigzag edges in training (`today_star_adc`'s contact sheet); a series has
no wiggle finer than 360 / harmonics degrees, and its slope d log r / d angle is held to at most
`max_slope` by scaling the coefficients down when sum n (|a_n| + |b_n|) exceeds it. A square's
log radius, -log max(|cos|, |sin|), needs slopes up to 1 at its corners; 8 harmonics draw it to
within 0.85 pixel at half side 10 with sum n (|a_n| + |b_n|) = 0.85.
"""

import math

import keras
import tensorflow as tf

from trainer import layers


def polar_grid(size: int):
    """(distance, angle), each [size, size]: every pixel centre's distance in pixels from the
    frame's centre and its angle (atan2's, in (-pi, pi], y pointing down)."""
    position = tf.range(size, dtype=tf.float32) + 0.5 - size / 2
    y, x = position[:, None], position[None, :]
    return tf.sqrt(x ** 2 + y ** 2), tf.atan2(y, x)


def fourier_basis(angle, harmonics: int):
    """[..., 2 * harmonics]: cos(n angle) for n = 1..harmonics, then sin(n angle)."""
    n_angle = angle[..., None] * tf.range(1, harmonics + 1, dtype=tf.float32)
    return tf.concat([tf.cos(n_angle), tf.sin(n_angle)], axis=-1)


class StarOutline(keras.layers.Layer):
    """[B, content] codes -> [B, size, size, 1] masks written as tanh values in [-1, 1], the
    frame generator's convention (mask = (x + 1) / 2 = sigmoid((r(angle) - d) / edge)).

    The mean radius is max_radius * sigmoid(.), and the series' layer starts at zero, so every
    outline starts as a disc near half the sprite window. `edge` (pixels) is the soft band's width
    in training; the 0/1 mask at sampling (hard_at_sampling) is the outline itself.
    """

    def __init__(self, size: int, max_radius: float, harmonics: int = 8, hidden: int = 128,
                 edge: float = 1.0, max_slope: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if harmonics < 1 or max_radius <= 0 or edge <= 0 or max_slope <= 0:
            raise ValueError(f"StarOutline needs harmonics >= 1 and max_radius, edge and "
                             f"max_slope > 0, got {harmonics}, {max_radius}, {edge}, {max_slope}")
        self.harmonics, self.max_radius = int(harmonics), float(max_radius)
        self.edge, self.max_slope = float(edge), float(max_slope)
        self.hidden = keras.layers.Dense(hidden, activation="relu", dtype="float32", name="hidden")
        self.size = keras.layers.Dense(1, dtype="float32", name="size")
        self.series = keras.layers.Dense(2 * harmonics, kernel_initializer="zeros",
                                         dtype="float32", name="series")
        self.distance, angle = polar_grid(size)
        self.pixel_basis = fourier_basis(angle, self.harmonics)  # [size, size, 2 * harmonics]

    def coefficients(self, content):
        """(mean radius [B, 1] in pixels, series [B, 2 * harmonics]) with slope <= max_slope."""
        features = self.hidden(tf.cast(content, tf.float32))
        series = self.series(features)
        order = tf.tile(tf.range(1, self.harmonics + 1, dtype=tf.float32), [2])
        slope_bound = tf.reduce_sum(order * tf.abs(series), axis=-1, keepdims=True)
        series *= self.max_slope / tf.maximum(slope_bound, self.max_slope)
        return self.max_radius * tf.sigmoid(self.size(features)), series

    def outline_radii(self, content, angles):
        """[B, A] radii in pixels at the angles [A] (radians, atan2's convention)."""
        radius, series = self.coefficients(content)
        return radius * tf.exp(series @ tf.transpose(fourier_basis(angles, self.harmonics)))

    def call(self, content, training=False):
        radius, series = self.coefficients(content)
        log_shape = tf.einsum("bk,hwk->bhw", series, self.pixel_basis)
        outline = radius[:, :, None] * tf.exp(log_shape)
        return tf.tanh((outline - self.distance) / (2 * self.edge))[..., None]


class ConvexOutline(keras.layers.Layer):
    """[B, content] codes -> [B, size, size, 1] masks as tanh values (mask = (x + 1) / 2): a
    convex polygon {p : u_k . p <= d_k for every k}, one facet each `360 / facets` degrees
    (u_k fixed, the first along x), at distances d_k = max_radius * (0.1 + 0.9 sigmoid(.)) read
    off the content code (the floor keeps the centre pixels inside: no video without a shape). A half-plane intersection, as CvxNet's convexes (Deng et al., CVPR 2020).

    Convex, so one piece without holes, by construction; straight edges and sharp corners, so an
    axis-aligned square is exact (four facets at its half side, the rest beyond them) and a
    disc of radius r is within r (1 - cos(180 / facets degrees)) of one (0.19 pixel at r = 10
    with 16 facets). Where the 4-fold Fourier outline drew four-pointed stars (`today_star_adc`),
    a polygon cannot bend inwards. The mask is sigmoid of the nearest facet's margin over `edge`
    pixels, so in training a facet gets gradients where it is the binding one; all facets start at
    0.55 of the window (their layer starts at zero): a regular polygon.
    """

    def __init__(self, size: int, max_radius: float, facets: int = 16, hidden: int = 128,
                 edge: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if facets < 3 or max_radius <= 0 or edge <= 0:
            raise ValueError(f"ConvexOutline needs facets >= 3 and max_radius and edge > 0, got "
                             f"{facets}, {max_radius}, {edge}")
        self.max_radius, self.edge = float(max_radius), float(edge)
        self.hidden = keras.layers.Dense(hidden, activation="relu", dtype="float32", name="hidden")
        self.distances = keras.layers.Dense(facets, kernel_initializer="zeros", dtype="float32",
                                            name="distances")
        position = tf.range(size, dtype=tf.float32) + 0.5 - size / 2
        angles = tf.range(facets, dtype=tf.float32) * (2 * math.pi / facets)
        # u_k . p for every pixel centre p and facet k: [size, size, facets].
        self.projections = (position[None, :, None] * tf.cos(angles)
                            + position[:, None, None] * tf.sin(angles))

    def facet_distances(self, content):
        """[B, facets] distances of the facets from the centre, in pixels."""
        features = self.hidden(tf.cast(content, tf.float32))
        return self.max_radius * (0.1 + 0.9 * tf.sigmoid(self.distances(features)))

    def call(self, content, training=False):
        margins = self.facet_distances(content)[:, None, None, :] - self.projections
        return tf.tanh(tf.reduce_min(margins, axis=-1) / (2 * self.edge))[..., None]


class SuperellipseOutline(keras.layers.Layer):
    """[B, content] codes -> [B, size, size, 1] masks as tanh values (mask = (x + 1) / 2): the
    superellipse |x|^n + |y|^n <= r^n (Lame's curve; Barr's superquadrics, 1981), a disc at
    n = 2 and a square as n grows (at n = 32 the corner lies within 2.2% of the square's).

    The free outlines (star, convex) can draw discs and squares but settled on other shapes in
    the demo's steps (four-pointed stars, wedges: BUILD.md, fourteenth session). This family holds
    only shapes between the two, so a class needs to set just one number for its shape: a strong
    prior, for data made of such shapes. r = max_radius * (0.1 + 0.9 sigmoid(.)) pixels;
    n = min_exponent * (max_exponent / min_exponent) ** sigmoid(.), both read off the content
    code; their layer starts at zero, so every outline starts at half the window and at the
    geometric mean of the exponents (8, a rounded square), or at `start_exponent`. The mask is
    sigmoid of r minus the pixel's n-norm over `edge` pixels.

    direct: the size and exponent also read the content code itself, linearly, beside the hidden
    layer, so each class has weights of its own to its shape rather than a share of the hidden
    units; and the exponent's unit is the linear output clipped to [0, 1] with the gradient
    passed straight through, where a sigmoid passes almost none at its ends. Without it, both
    classes of a demo run moved together to one end (both discs or both squares) in six runs of
    ten and stayed there (BUILD.md, "The demo").
    """

    def __init__(self, size: int, max_radius: float, min_exponent: float = 2.0,
                 max_exponent: float = 32.0, hidden: int = 128, edge: float = 1.0,
                 start_exponent: float | None = None, direct: bool = False, **kwargs):
        super().__init__(**kwargs)
        if max_radius <= 0 or edge <= 0 or not 1 <= min_exponent < max_exponent:
            raise ValueError(f"SuperellipseOutline needs max_radius and edge > 0 and "
                             f"1 <= min_exponent < max_exponent, got {max_radius}, {edge}, "
                             f"{min_exponent}, {max_exponent}")
        start_exponent = start_exponent or math.sqrt(min_exponent * max_exponent)
        if not min_exponent < start_exponent < max_exponent:
            raise ValueError(f"SuperellipseOutline's start_exponent must lie strictly between "
                             f"{min_exponent} and {max_exponent}, got {start_exponent}")
        self.max_radius, self.edge = float(max_radius), float(edge)
        self.min_exponent, self.max_exponent = float(min_exponent), float(max_exponent)
        self.direct = bool(direct)
        self.hidden = keras.layers.Dense(hidden, activation="relu", dtype="float32", name="hidden")
        # The exponent's unit starts at the value (direct) or logit that gives start_exponent;
        # the size's logit at 0.
        fraction = math.log(start_exponent / min_exponent) / math.log(max_exponent / min_exponent)
        start = [0.0, fraction if direct else math.log(fraction / (1 - fraction))]
        self.shape_code = keras.layers.Dense(
            2, kernel_initializer="zeros", dtype="float32", name="shape_code",
            bias_initializer=lambda shape, dtype=None: tf.constant(start, dtype or tf.float32))
        position = tf.abs(tf.range(size, dtype=tf.float32) + 0.5 - size / 2)
        self.abs_x, self.abs_y = position[None, :], position[:, None]  # [1, size], [size, 1]

    def radius_and_exponent(self, content):
        """(r [B], n [B]): the half side or radius in pixels and the exponent."""
        content = tf.cast(content, tf.float32)
        features = self.hidden(content)
        if self.direct:
            features = tf.concat([features, content], axis=-1)
        raw = self.shape_code(features)
        size_unit = tf.sigmoid(raw[:, 0])
        if self.direct:  # clipped forward, the identity backward
            exponent_unit = layers.straight_through(raw[:, 1],
                                                    tf.clip_by_value(raw[:, 1], 0.0, 1.0))
        else:
            exponent_unit = tf.sigmoid(raw[:, 1])
        radius = self.max_radius * (0.1 + 0.9 * size_unit)
        exponent = self.min_exponent * (self.max_exponent / self.min_exponent) ** exponent_unit
        return radius, exponent

    def call(self, content, training=False):
        radius, exponent = self.radius_and_exponent(content)
        n = exponent[:, None, None]
        # The n-norm through the larger coordinate, so no power overflows or underflows to 0/0.
        larger = tf.maximum(tf.maximum(self.abs_x, self.abs_y), 1e-6)
        ratio_sum = (self.abs_x / larger) ** n + (self.abs_y / larger) ** n
        norm = larger * ratio_sum ** (1.0 / n)
        return tf.tanh((radius[:, None, None] - norm) / (2 * self.edge))[..., None]
