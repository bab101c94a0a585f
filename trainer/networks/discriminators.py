"""MoCoGAN's two discriminators (Tulyakov et al., CVPR 2018).

- `ImageDiscriminator`: patch logits for single frames (or one logit per frame).
- `VideoDiscriminator`: 3-D convolutions with stride (1, 2, 2) over whole clips (one logit per
  16-frame 64x64 clip, as in the paper), on clips pooled in space if asked, and a class head when
  conditional (the paper's conditioning).

Either may see its batch's spread as one more feature before the logits (`disc_minibatch_std`),
and with `conditioning="projection"` both are projection discriminators, given the labels.

Both are built from a `trainer.networks.ModelConfig` by `trainer.networks.build_models`.
"""

import keras
import tensorflow as tf

from trainer.networks.layers import KERNEL, LEAKY_SLOPE, SpectralNorm, minibatch_std, set_numbered


def _check_disc_size(image_size: int, channels: tuple, name: str):
    # Every discriminator layer halves the frame, and a patch of logits must remain.
    if image_size % 2 ** (len(channels) + 1):
        raise ValueError(
            f"image_size={image_size} is too small or odd for the {name} with {len(channels)} "
            f"layers: it must be a multiple of {2 ** (len(channels) + 1)}"
        )


def _disc_conv(rank, filters, kernel, strides, padding, spectral_norm, name, use_bias, dtype=None):
    conv_class = keras.layers.Conv2D if rank == 2 else keras.layers.Conv3D
    conv = conv_class(filters, kernel, strides=strides, padding=padding, use_bias=use_bias,
                      name=name, dtype=dtype)
    return SpectralNorm(conv) if spectral_norm else conv


class _Discriminator(keras.Model):
    """Shared body: strided convs, leaky ReLU, batch norm after the first layer, a logits conv.

    `layers_spec` gives (kernel, strides, padding) for each body layer and then the logits layer;
    `pad` is an explicit zero padding applied before every body conv (None: none).
    """

    def __init__(self, config, channels, rank, layers_spec, pad=None, **kwargs):
        super().__init__(**kwargs)
        self.num_layers, self.pad = len(channels), pad
        self.minibatch_std = int(config.disc_minibatch_std)
        for i, (width, (kernel, strides, padding)) in enumerate(zip(channels, layers_spec)):
            use_norm = i > 0 and config.disc_batch_norm
            conv = _disc_conv(rank, width, kernel, strides, padding, config.spectral_norm,
                              f"conv{i}", not use_norm)
            set_numbered(self, "conv", i, conv)
            set_numbered(self, "bn", i, keras.layers.BatchNormalization(name=f"bn{i}") if use_norm else None)
        kernel, strides, padding = layers_spec[-1]
        self.logits_conv = _disc_conv(rank, 1, kernel, strides, padding, config.spectral_norm,
                                      "logits", True, dtype="float32")
        self.class_embedding = None
        if config.projection:  # y -> a vector the pooled features are projected on
            self.class_embedding = keras.layers.Embedding(
                config.num_classes, channels[-1], dtype="float32", name="class_embedding")
            self.class_embedding.build((None,))  # its weights exist for a checkpoint to restore

    @property
    def convs(self):
        return [getattr(self, f"conv{i}") for i in range(self.num_layers)]

    @property
    def norms(self):
        return [getattr(self, f"bn{i}") for i in range(self.num_layers)]

    def features(self, x, training):
        # Written around two faults of TF's grappler remapper with oneDNN: it fuses a Pad into the
        # next Conv3D and a conv's BiasAdd into a following LeakyRelu, deleting nodes that the
        # gradient graph still reads (the conv gradient's ShapeN, LeakyReluGrad); the pass then
        # fails ("remapper failed ... missing node") and every other fusion of the graph is lost.
        # A PadV2 (zero given as a tensor) and maximum(x, slope * x) compute the same values
        # without matching those patterns.
        for conv, norm in zip(self.convs, self.norms):
            if self.pad is not None:
                x = tf.pad(x, self.pad, constant_values=tf.constant(0, x.dtype))
            x = conv(x, training=training)
            if norm is not None:
                x = norm(x, training=training)
            x = tf.maximum(x, LEAKY_SLOPE * x)  # leaky ReLU, slope < 1
        return x

    def logits(self, features, training, labels=None):
        """Realness logits; a projection discriminator adds <embed(y), pooled features> to each
        (none where y is -1, unknown, or labels is None, as when the network is built)."""
        spread = minibatch_std(features, self.minibatch_std) if self.minibatch_std else features
        logits = tf.cast(self.logits_conv(spread, training=training), tf.float32)
        if self.class_embedding is None or labels is None:
            return logits
        space = list(range(1, features.shape.rank - 1))
        pooled = tf.reduce_mean(tf.cast(features, tf.float32), axis=space)
        labels = tf.cast(labels, tf.int32)
        embedded = self.class_embedding(tf.maximum(labels, 0))
        embedded *= tf.cast(labels >= 0, tf.float32)[:, None]
        projection = tf.reduce_sum(embedded * pooled, axis=-1)
        return logits + tf.reshape(projection, [-1] + [1] * (logits.shape.rank - 1))


class _ClassBranch(keras.layers.Layer):
    """A class head with a body of its own: D_I's strided convolutions (batch norm after the
    first, leaky ReLU), pooled, then one dense layer of class logits."""

    def __init__(self, config, channels, num_outputs, **kwargs):
        super().__init__(**kwargs)
        self.convs, self.norms = [], []
        for i, width in enumerate(channels):
            use_norm = i > 0 and config.disc_batch_norm
            self.convs.append(_disc_conv(2, width, KERNEL, 2, "same", config.spectral_norm,
                                         f"conv{i}", not use_norm))
            self.norms.append(keras.layers.BatchNormalization(name=f"bn{i}") if use_norm else None)
        self.head = keras.layers.Dense(num_outputs, dtype="float32", name="class_head")

    def call(self, x, training=False):
        for conv, norm in zip(self.convs, self.norms):
            x = conv(x, training=training)
            if norm is not None:
                x = norm(x, training=training)
            x = tf.maximum(x, LEAKY_SLOPE * x)  # as _Discriminator.features, for the same reason
        return self.head(tf.reduce_mean(tf.cast(x, tf.float32), axis=[1, 2]))


class ImageDiscriminator(_Discriminator):
    """frames [N, H, W, 3] -> patch logits float32 [N, H/2^(L+1), W/2^(L+1), 1] (the paper's
    PatchGAN: kernel 4, stride 2, padding 1 everywhere, which 'same' gives inside the conv op),
    or [N, 1, 1, 1] with image_disc_logits="global". With `image_class_head`, `with_classes`
    also gives class logits [N, K], from the pooled features ("shared") or from a network of
    their own ("separate"), or [N, 2K] (real classes, then generated ones: "adc")."""

    def __init__(self, config, image_size: int, **kwargs):
        _check_disc_size(image_size, config.image_disc_channels, "image discriminator")
        layers = len(config.image_disc_channels)
        spec = [(KERNEL, 2, "same")] * layers
        if config.image_disc_logits == "global":  # one window over the whole last feature map
            spec.append((image_size // 2 ** layers, 1, "valid"))
        else:
            spec.append((KERNEL, 2, "same"))
        super().__init__(config, config.image_disc_channels, 2, spec, **kwargs)
        self.class_head = self.class_branch = None
        mode = config.image_class_head if config.conditional else "none"
        if mode == "shared":
            self.class_head = keras.layers.Dense(config.num_classes, dtype="float32", name="class_head")
        elif mode in ("separate", "adc"):  # adc: classes 0..K-1 real, K..2K-1 generated
            outputs = config.num_classes * (2 if mode == "adc" else 1)
            self.class_branch = _ClassBranch(config, config.image_disc_channels, outputs,
                                             name="class_branch")
        self.classifies_fakes = mode == "adc"

    @property
    def has_class_head(self) -> bool:
        return self.class_head is not None or self.class_branch is not None

    def call(self, frames, training=False, labels=None):
        return self.logits(self.features(frames, training), training, labels)

    def with_classes(self, frames, training=False, labels=None):
        """(realness logits, class logits [N, K]); needs a class head."""
        features = self.features(frames, training)
        logits = self.logits(features, training, labels)
        if self.class_branch is not None:
            return logits, self.class_branch(frames, training=training)
        pooled = tf.reduce_mean(tf.cast(features, tf.float32), axis=[1, 2])
        return logits, self.class_head(pooled)


def _video_disc_spec(num_frames: int, image_size: int, layers: int):
    """The paper's D_V: kernel 4, stride (1, 2, 2), padding (0, 1, 1), then a 'valid' logits conv.

    Time is not padded, so it shrinks by 3 per layer (16 -> 13 -> 10 -> 7 -> 4 -> 1 logit) and
    costs less than half of a time-padded stack; shorter clips use kernels as long as the time
    left. Space is padded explicitly before each conv (see _Discriminator.features).
    """
    spec, frames, size = [], num_frames, image_size
    for _ in range(layers):
        kernel_t = min(KERNEL, frames)
        spec.append(((kernel_t, KERNEL, KERNEL), (1, 2, 2), "valid"))
        frames, size = frames - kernel_t + 1, size // 2
    spec.append(((min(KERNEL, frames), min(KERNEL, size), min(KERNEL, size)), (1, 1, 1), "valid"))
    return spec


class VideoDiscriminator(_Discriminator):
    """clips [B, T, H, W, 3] -> (logits float32 [B, t, h, w, 1], class logits [B, K] or None).

    With the paper's 16 frames at 64x64 and four layers, t = h = w = 1: one logit per clip.
    """

    def __init__(self, config, num_frames: int, image_size: int, **kwargs):
        pool = int(config.video_disc_pool)
        if image_size % pool:
            raise ValueError(f"image_size={image_size} is not a multiple of video_disc_pool={pool}")
        _check_disc_size(image_size // pool, config.video_disc_channels, "video discriminator")
        channels = config.video_disc_channels
        spec = _video_disc_spec(num_frames, image_size // pool, len(channels))
        pad = [[0, 0], [0, 0], [1, 1], [1, 1], [0, 0]]
        super().__init__(config, channels, 3, spec, pad=pad, **kwargs)
        self.pool = pool
        self.class_head = None
        if config.conditional and not config.projection:
            self.class_head = keras.layers.Dense(config.num_classes, dtype="float32", name="class_head")

    def call(self, clips, training=False, labels=None):
        if self.pool > 1:
            clips = tf.nn.avg_pool3d(clips, [1, 1, self.pool, self.pool, 1],
                                     [1, 1, self.pool, self.pool, 1], "VALID")
        features = self.features(clips, training)
        logits = self.logits(features, training, labels)
        if self.class_head is None:
            return logits, None
        pooled = tf.reduce_mean(features, axis=[1, 2, 3])
        return logits, tf.cast(self.class_head(pooled), tf.float32)
