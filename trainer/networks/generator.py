"""MoCoGAN's generator (Tulyakov et al., CVPR 2018) as a Keras 3 model on the TensorFlow backend.

A content code per video, a GRU that turns fresh noise at every step into motion codes, and a
frame generator that renders all B*T frames as one batch (time folded into batch). Outputs are
float32 under any `keras.mixed_precision` policy.
"""

import math

import keras
import tensorflow as tf

from trainer.networks import layers
from trainer.networks.model_config import ModelConfig


def _upsamplings(image_size: int, max_stages: int) -> int:
    """Number of 2x stages from the 4x4 seed to image_size; image_size must be 4 * 2**k."""
    stages = int(round(math.log2(image_size / 4))) if image_size >= 8 else 0
    if image_size < 8 or 4 * 2**stages != image_size or stages > max_stages:
        raise ValueError(
            f"image_size={image_size} is not supported: it must be 4 * 2**k with 1 <= k <= "
            f"{max_stages} (the number of generator widths), e.g. 32 or 64"
        )
    return stages


def _upsampling_conv(kind: str, width: int, use_bias: bool, name: str, dtype=None):
    """A 2x upsampling convolution: transposed (the paper's) or nearest resize + 3x3 conv."""
    if kind == "transpose":
        return keras.layers.Conv2DTranspose(width, layers.KERNEL, strides=2, padding="same",
                                            use_bias=use_bias, name=name, dtype=dtype)
    return keras.Sequential([
        keras.layers.UpSampling2D(2, interpolation="nearest", dtype=dtype),
        keras.layers.Conv2D(width, 3, padding="same", use_bias=use_bias, dtype=dtype),
    ], name=name)


class ContentNorm(keras.layers.Layer):
    """Batch norm whose scale and shift come from the content code: x_hat * (1 + g(c)) + b(c).

    g and b are linear and start at zero, so a new layer is plain batch norm (scale 1, shift 0).
    """

    def __init__(self, width: int, **kwargs):
        super().__init__(**kwargs)
        self.norm = keras.layers.BatchNormalization(center=False, scale=False, name="norm")
        self.gain = keras.layers.Dense(width, kernel_initializer="zeros", name="gain")
        self.shift = keras.layers.Dense(width, kernel_initializer="zeros", name="shift")

    def call(self, x, content, training=False):
        x = self.norm(x, training=training)
        gain = tf.cast(1.0 + self.gain(content), x.dtype)[:, None, None, :]
        return x * gain + tf.cast(self.shift(content), x.dtype)[:, None, None, :]


class FrameBatchNorm(keras.layers.BatchNormalization):
    """The paper's batch norm, called like ContentNorm: the content code is not used.

    A subclass, not a wrapper, so its variables keep the paths of older checkpoints.
    """

    def call(self, x, content=None, training=False):
        del content
        return super().call(x, training=training)


def _frame_norm(kind: str, width: int, name: str):
    if kind == "content":
        return ContentNorm(width, name=name)
    return FrameBatchNorm(name=name)


class FrameGenerator(keras.layers.Layer):
    """[N, content+motion] codes -> [N, H, W, 3] frames in [-1, 1], float32."""

    def __init__(self, config: ModelConfig, image_size: int, **kwargs):
        super().__init__(**kwargs)
        stages = _upsamplings(image_size, len(config.gen_channels))
        widths = config.gen_channels[:stages]
        self.seed_width = widths[0]
        self.num_upconvs = stages
        # With projection conditioning the class one-hot is part of the content code.
        self.content_dim = config.content_dim + (config.num_classes if config.projection else 0)
        # A dense layer onto 4x4 equals the paper's transposed conv on a 1x1 input.
        self.project = keras.layers.Dense(4 * 4 * widths[0], use_bias=False, name="project")
        self.bn0 = _frame_norm(config.gen_norm, widths[0], "bn0")
        for i, width in enumerate(widths[1:] + (3,), start=1):
            last = i == stages
            layers.set_numbered(self, "upconv", i, _upsampling_conv(
                config.gen_upsample, width, use_bias=last, name=f"upconv{i}",
                dtype="float32" if last else None))
            if not last:
                layers.set_numbered(self, "bn", i, _frame_norm(config.gen_norm, width, f"bn{i}"))
        self.to_rgb_half = None
        if config.progressive:
            self.to_rgb_half = keras.layers.Conv2D(3, 1, dtype="float32", name="to_rgb_half")
            # 0: half-size frames (upsampled), 1: full size. The loop sets it; a finished or a
            # restored model keeps it, so samples show what training was judged on.
            self.blend = self.add_weight(shape=(), initializer="ones", trainable=False,
                                         name="resolution_blend", dtype="float32")

    def call(self, codes, training=False):
        content = codes[:, :self.content_dim]  # codes are [content, motion] (Generator.call)
        x = tf.reshape(self.project(codes), [-1, 4, 4, self.seed_width])
        x = tf.nn.relu(self.bn0(x, content, training=training))
        for i in range(1, self.num_upconvs):
            upconv, norm = getattr(self, f"upconv{i}"), getattr(self, f"bn{i}")
            x = tf.nn.relu(norm(upconv(x), content, training=training))
        full = tf.tanh(getattr(self, f"upconv{self.num_upconvs}")(x))
        if self.to_rgb_half is None:
            return full
        half = upsample_frames(tf.tanh(self.to_rgb_half(x)))
        return half + self.blend * (full - half)


def downsample_frames(frames):
    """[..., H, W, C] -> [..., H/2, W/2, C], the mean of each 2x2 block (what a half-size frame is)."""
    shape = tf.shape(frames)
    flat = tf.reshape(frames, tf.concat([[-1], shape[-3:]], 0))
    small = tf.nn.avg_pool2d(flat, 2, 2, "VALID")
    return tf.reshape(small, tf.concat([shape[:-3], tf.shape(small)[1:]], 0))


def upsample_frames(frames):
    """[..., H, W, C] -> [..., 2H, 2W, C], each pixel repeated 2x2."""
    return tf.repeat(tf.repeat(frames, 2, axis=-3), 2, axis=-2)


def at_resolution(videos, blend):
    """Real frames or clips as the generator renders them at a resolution blend (0: half-size
    frames shown at full size, 1: as they are): what the discriminators compare fakes with."""
    half = upsample_frames(downsample_frames(videos))
    return half + tf.cast(blend, videos.dtype) * (videos - half)


class _Draws:
    """Random draws from a seed (stateless, one stream per draw), a tf.random.Generator, or TF's
    global random ops, in that order of preference."""

    def __init__(self, seed=None, rng: tf.random.Generator | None = None):
        self.seed = None if seed is None else tf.cast(seed, tf.int64)
        self.rng, self.stream = rng, 0

    def _next_seed(self):
        self.stream += 1
        return tf.stack([self.seed, tf.constant(self.stream - 1, tf.int64)])

    def normal(self, shape):
        if self.seed is not None:
            return tf.random.stateless_normal(shape, self._next_seed())
        return self.rng.normal(shape) if self.rng is not None else tf.random.normal(shape)

    def classes(self, shape, num_classes):
        kw = dict(minval=0, maxval=num_classes, dtype=tf.int32)
        if self.seed is not None:
            return tf.random.stateless_uniform(shape, self._next_seed(), **kw)
        return self.rng.uniform(shape, **kw) if self.rng is not None else tf.random.uniform(shape, **kw)


class Generator(keras.Model):
    """Latent dict -> videos float32 [B, T, H, W, 3] in [-1, 1]."""

    def __init__(self, config: ModelConfig, num_frames: int, image_size: int, **kwargs):
        super().__init__(**kwargs)
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        self.config = config
        self.num_frames = int(num_frames)
        self.image_size = int(image_size)
        # The GRU is tiny and recurrent: keep it float32 under mixed precision.
        self.motion_cell = keras.layers.GRUCell(config.motion_dim, dtype="float32", name="motion_gru")
        self.frame_generator = FrameGenerator(config, image_size, name="frame_generator")

    def sample_latents(self, batch_size, labels=None, seed=None,
                       rng: tf.random.Generator | None = None, num_frames: int | None = None):
        """Draws {content, motion_noise, h0[, labels]} for batch_size videos.

        seed (int or int scalar tensor) makes the draw a pure function of the seed (stateless ops),
        rng (a tf.random.Generator) draws from its state; neither: TF's global random ops.
        Random labels are drawn when the model is conditional and labels is None. num_frames
        (default: the training clips' length) sets the videos' length: the GRU unrolls that far.
        """
        c, draw = self.config, _Draws(seed, rng)
        num_frames = int(num_frames or self.num_frames)
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        latents = {
            "content": draw.normal([batch_size, c.content_dim]),
            "motion_noise": draw.normal([batch_size, num_frames, c.motion_noise_dim]),
            "h0": draw.normal([batch_size, c.motion_dim]),
        }
        if c.conditional:
            if labels is None:
                labels = draw.classes([batch_size], c.num_classes)
            latents["labels"] = tf.broadcast_to(tf.cast(labels, tf.int32), [batch_size])
        return latents

    def _class_onehot(self, latents):
        return tf.one_hot(tf.cast(latents["labels"], tf.int32), self.config.num_classes,
                          dtype=tf.float32)

    def motion_codes(self, latents):
        """[B, T, motion_dim]: the GRU unrolled over T steps, fed fresh noise (and the category
        when conditional) at every step.

        T is the length of latents["motion_noise"], so videos may be longer than the clips.
        """
        noise = tf.cast(latents["motion_noise"], tf.float32)
        num_frames = noise.shape[1]
        if self.config.conditional:  # the category, fed at every step
            onehot = self._class_onehot(latents)[:, None]
            noise = tf.concat([noise, tf.repeat(onehot, num_frames, axis=1)], axis=-1)
        state = tf.cast(latents["h0"], tf.float32)
        codes = []
        for t in range(num_frames):
            code, state = self.motion_cell(noise[:, t], state)
            state = state[0] if isinstance(state, (list, tuple)) else state
            codes.append(code)
        return tf.stack(codes, axis=1)

    def call(self, latents, training=False):
        """Videos [B, T, H, W, 3] in [-1, 1]."""
        if self.config.conditional and "labels" not in latents:
            raise ValueError("this generator is class-conditional: latents need 'labels'")
        motion = self.motion_codes(latents)
        num_frames = motion.shape[1]
        content = tf.cast(latents["content"], tf.float32)
        if self.config.projection:  # the class is part of what stays fixed in a video
            content = tf.concat([content, self._class_onehot(latents)], axis=-1)
        codes = tf.concat([tf.repeat(content[:, None], num_frames, axis=1), motion], axis=-1)
        codes = tf.reshape(codes, [-1, codes.shape[-1]])  # time folded into batch
        frames = tf.cast(self.frame_generator(codes, training=training), tf.float32)
        size = self.image_size
        return tf.reshape(frames, [-1, num_frames, size, size, 3])


def build_generator(config: ModelConfig, num_frames: int, image_size: int) -> Generator:
    """A Generator with its weights created (e.g. the EMA copy, or one to restore into)."""
    generator = Generator(config, num_frames, image_size, name="generator")
    generator(generator.sample_latents(1, seed=0), training=False)
    return generator
