"""MoCoGAN networks (Tulyakov et al., CVPR 2018) as Keras 3 models on the TensorFlow backend.

- `Generator`: a content code per video, a GRU that turns fresh noise at every step into motion
  codes, and a frame generator that renders all B*T frames as one batch (time folded into batch).
- `ImageDiscriminator` and `VideoDiscriminator` (trainer/discriminators.py): patch logits for
  single frames; 3-D convolutions over whole clips with a class head when conditional.

`build_models(config, num_frames, image_size)` returns all three with their weights created, so a
`tf.train.Checkpoint` can restore into them at once. Final outputs are float32 under any
`keras.mixed_precision` policy. Sizes come from a frozen `ModelConfig`; `PRESETS` names the
paper's sizes ("mocogan") and a narrow variant for CPU tests and demos ("small").
"""

import dataclasses
import math

import keras
import tensorflow as tf

from trainer import layers
from trainer.discriminators import ImageDiscriminator, VideoDiscriminator
from trainer.flag_fields import check_choices, option

IMAGE_DISC_LOGITS = ("patch", "global")
GEN_UPSAMPLE = ("transpose", "resize")
GEN_NORM = ("batch", "content")
CONDITIONING = ("paper", "projection")
IMAGE_CLASS_HEAD = ("none", "shared", "separate", "adc")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture of the three networks. Saved in the run's config.json. Fields with help text
    are also trainer.main flags; those whose flag defaults to None take the preset's value."""

    content_dim: int = 50
    motion_dim: int = 10  # GRU hidden size, i.e. the size of each per-frame motion code.
    motion_noise_dim: int = 10  # fresh noise fed to the GRU at every step
    gen_channels: tuple[int, ...] = option(
        (512, 256, 128, 64), "Frame generator widths at 4, 8, 16 and 32 pixels, e.g. "
        "128,64,32,16 (default: the preset's).", flag_default=None)
    image_disc_channels: tuple[int, ...] = option(
        (64, 128, 256), "Image discriminator widths, one per stride-2 convolution, e.g. "
        "32,64,128 (default: the preset's).", flag_default=None)
    video_disc_channels: tuple = (64, 128, 256, 512)
    num_classes: int = 0  # 0: unconditional; else the category is fed to the GRU and D_V
    # How a conditional model uses the class. "paper": one-hot into the GRU and a class head on
    # D_V (an auxiliary classifier), which a generator can satisfy with any cue that tells the
    # classes apart (their sizes, say) without drawing what makes each class. "projection": the one-hot also joins the content code, so the frame generator and its
    # content-set norms see the class, and both discriminators are projection discriminators
    # (Miyato & Koyama, ICLR 2018): the logit of a frame or clip gains <embed(y), features>, so D
    # asks whether it is a real member of its class, not which class it resembles, and D_I asks
    # it of every frame at full resolution.
    conditioning: str = option(
        "paper", "With --conditional: the class into the GRU and a class head on the video "
        "discriminator (the paper's), or also into the content code, with both discriminators "
        "projection discriminators (default: the preset's).", choices=CONDITIONING,
        flag_default=None)
    spectral_norm: bool = option(False, "Spectral norm in the discriminators.")
    # After the discriminators' first convolution.
    disc_batch_norm: bool = option(True, "Batch norm in the discriminators (default: the "
                                   "preset's).", flag_default=None)
    # "patch": the paper's PatchGAN logits (4x4 at 64x64, each seeing a 46-pixel window);
    # "global": one logit per frame, whose window is the whole frame.
    image_disc_logits: str = option(
        "patch", "Image discriminator output: the paper's 4x4 patch logits or one logit per "
        "frame (default: the preset's).", choices=IMAGE_DISC_LOGITS, flag_default=None)
    # AC-GAN's auxiliary classifier (Odena et al., ICML 2017) on D_I: it learns the class of
    # real frames, and the generator pays the cross-entropy of its frames against their own
    # class. Unlike a projection, it must tell the classes apart. "shared" reads D_I's own
    # features, as AC-GAN does, where the realness task can keep it from learning the classes.
    # "separate" gives it a body of its own, of D_I's widths, trained on real frames only, which
    # a generator can fool with frames unlike any real one. "adc" is that network with 2K
    # classes, real k and generated k (ADC-GAN, Hou et al., ICML 2022): it also learns the
    # generated frames of each class, so what fools it must look like the real frames of that
    # class.
    image_class_head: str = option(
        "none", "With --conditional: a class head on the image discriminator, trained on real "
        "frames, whose cross-entropy on generated frames the generator pays (AC-GAN), reading "
        "D_I's features (shared) or a network of its own (separate); adc: a network of its own "
        "that also learns generated frames as K classes more.", choices=IMAGE_CLASS_HEAD)
    # StyleGAN's minibatch standard deviation before each discriminator's logits: a batch's
    # spread is one more feature, against a generator that covers one mode of the data.
    disc_minibatch_std: int = option(
        0, "Group size of a minibatch standard deviation channel before both discriminators' "
        "logits (StyleGAN uses 4; 0: off).")
    # D_V sees clips average-pooled by this factor in space (DVD-GAN's temporal discriminator
    # works on 2x-downsampled clips): motion and colour constancy survive, the Conv3Ds cost
    # about factor**2 less, and D_I still judges every frame at full resolution.
    # Progressive growing (Karras et al., ICLR 2018), as MoCoGAN's authors advise ("start at
    # 32x32"): a to-RGB layer at half the image size gives frames to train at first; the
    # full-size layer fades in over them (trainer.config's --grow_steps, --grow_fade_steps).
    progressive: bool = option(False, "Progressive growing: the frame generator also renders "
                               "half-size frames, which training starts on before fading in "
                               "the full size (see --grow_steps).")
    video_disc_pool: int = option(1, "Average-pool factor of the video discriminator's input in "
                                  "space (default: the preset's; 1 is the paper's).",
                                  flag_default=None)
    # "transpose": the paper's 4x4 stride-2 transposed convolutions; "resize": nearest-neighbour
    # 2x upsampling then a 3x3 convolution, which has no uneven kernel overlap and so no
    # checkerboard or colour fringes (Odena et al., Distill 2016).
    gen_upsample: str = option(
        "transpose", "Frame generator upsampling: the paper's transposed convolutions or nearest "
        "resize + 3x3 conv (no colour fringes); default: the preset's.", choices=GEN_UPSAMPLE,
        flag_default=None)
    # "batch": the paper's batch norm with learned scale and shift; "content": batch norm whose
    # scale and shift are functions of the video's content code (BigGAN's conditional batch
    # norm, with the code as the condition). A colour is then a per-channel gain that content
    # sets on the whole frame, where the paper's frame generator must build it from ReLU
    # features whose edges move with motion.
    gen_norm: str = option(
        "batch", "Frame generator normalisation: the paper's batch norm, or batch norm whose "
        "scale and shift the content code sets (default: the preset's).", choices=GEN_NORM,
        flag_default=None)
    def __post_init__(self):
        # JSON gives lists; tuples keep the config hashable and comparable with a saved one.
        for name in ("gen_channels", "image_disc_channels", "video_disc_channels"):
            value = tuple(int(c) for c in getattr(self, name))
            if not value or min(value) <= 0:
                raise ValueError(f"ModelConfig.{name} must be positive widths, got {value}")
            object.__setattr__(self, name, value)
        for name in ("content_dim", "motion_dim", "motion_noise_dim"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"ModelConfig.{name} must be positive, got {getattr(self, name)}")
        if self.num_classes < 0:
            raise ValueError(f"ModelConfig.num_classes must be >= 0, got {self.num_classes}")
        check_choices(self)
        if int(self.disc_minibatch_std) < 0:
            raise ValueError(f"ModelConfig.disc_minibatch_std must be >= 0 (0: off), got "
                             f"{self.disc_minibatch_std}")
        if int(self.video_disc_pool) < 1:
            raise ValueError(f"ModelConfig.video_disc_pool must be >= 1, got {self.video_disc_pool}")

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    @property
    def projection(self) -> bool:
        """Conditional with projection discriminators and the class in the content code."""
        return self.conditional and self.conditioning == "projection"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, where: str = "") -> "ModelConfig":
        """A saved ModelConfig (from the file `where`, named in errors); fields it lacks take
        their defaults, as in the config of a run older than the field."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{where + ': ' if where else ''}unknown ModelConfig fields "
                             f"{unknown}; known: {sorted(known)}")
        return cls(**values)


PRESETS = {
    # The paper's networks: G ~3.3M, D_I ~0.66M, D_V ~11M parameters at 64x64.
    "mocogan": ModelConfig(),
    # Narrow layers for CPU tests and a laptop demo; the same structure.
    "small": ModelConfig(
        gen_channels=(64, 32, 16, 8),
        image_disc_channels=(16, 32, 64),
        video_disc_channels=(16, 32, 64, 128),
    ),
}


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


@dataclasses.dataclass(frozen=True)
class Models:
    generator: Generator
    image_discriminator: ImageDiscriminator
    video_discriminator: VideoDiscriminator


def build_generator(config: ModelConfig, num_frames: int, image_size: int) -> Generator:
    """A Generator with its weights created (e.g. the EMA copy, or one to restore into)."""
    generator = Generator(config, num_frames, image_size, name="generator")
    generator(generator.sample_latents(1, seed=0), training=False)
    return generator


def build_models(config: ModelConfig, num_frames: int, image_size: int) -> Models:
    """The three networks with weights created, ready for a checkpoint restore or training."""
    generator = build_generator(config, num_frames, image_size)
    image_disc = ImageDiscriminator(config, image_size, name="image_discriminator")
    video_disc = VideoDiscriminator(config, num_frames, image_size, name="video_discriminator")
    frame = tf.zeros([1, image_size, image_size, 3])
    image_disc.with_classes(frame) if image_disc.has_class_head else image_disc(frame)
    video_disc(tf.zeros([1, num_frames, image_size, image_size, 3]), training=False)
    return Models(generator, image_disc, video_disc)
