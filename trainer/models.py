"""MoCoGAN networks (Tulyakov et al., CVPR 2018) as Keras 3 models on the TensorFlow backend.

- `Generator`: a content code per video, a GRU that turns fresh noise per step into motion codes,
  and a frame generator that renders all B*T frames as one batch (time folded into batch);
  optionally an appearance from the content code alone (an image or one colour per video) that a
  mask per frame reveals over the frame generator's own pixels.
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
from trainer.sprite_outlines import ConvexOutline, StarOutline, SuperellipseOutline

IMAGE_DISC_LOGITS = ("patch", "global")
GEN_UPSAMPLE = ("transpose", "resize")
GEN_NORM = ("batch", "content")
GEN_APPEARANCE = ("none", "image", "colour", "grey", "black")
GEN_MASK = ("soft", "hard", "hard_smooth", "hard_at_sampling")
MOTION_NOISE = ("every_frame", "first_frame")
GEN_MOTION = ("draw", "translate")
MOTION_PATH = ("free", "bounce", "constant_velocity")
VELOCITY_FORM = ("cartesian", "polar", "quadrant")
SPRITE_SHAPE = ("canvas", "star", "convex", "superellipse")
SPRITE_CODE = ("hidden", "direct")
COLOUR_FORM = ("rgb", "chroma", "hsv")
TRACK_HEAD_READS = ("track", "track_heading", "track_colour", "track_colour_size")
CONDITIONING = ("paper", "projection")
IMAGE_CLASS_HEAD = ("none", "shared", "separate", "adc")
# On a bouncing path (motion_path other than "free"), a velocity is at most image_size / this
# pixels a frame (8 at 64; Shape Motion's are 1.5-3.5).
MAX_SPEED_DIVISOR = 8
# The appearances that are one colour per video (a Dense layer on the content code).
ONE_COLOUR_APPEARANCES = ("colour", "grey", "black")
# What the frame generator renders under each: RGB; RGB and a mask; grey and a mask; a mask.
_FRAME_CHANNELS = {"none": 3, "image": 4, "colour": 4, "grey": 2, "black": 1}


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
    # D_V (an auxiliary classifier), which the tenth session's generator satisfied with the
    # blobs' area (a square of half-side r covers 4r^2, a disc pi r^2) and never drew a square.
    # "projection": the one-hot also joins the content code, so the frame generator and its
    # content-set norms see the class, and both discriminators are projection discriminators
    # (Miyato & Koyama, ICLR 2018): the logit of a frame or clip gains <embed(y), features>, so D
    # asks whether it is a real member of its class, not which class it resembles, and D_I asks
    # it of every frame at full resolution, where corners are seen.
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
    # "global": one logit per frame, so a second blob or a noisy background anywhere is punished.
    image_disc_logits: str = option(
        "patch", "Image discriminator output: the paper's 4x4 patch logits or one logit per "
        "frame (default: the preset's).", choices=IMAGE_DISC_LOGITS, flag_default=None)
    # AC-GAN's auxiliary classifier (Odena et al., ICML 2017) on D_I: it learns the class of
    # real frames, and the generator pays the cross-entropy of its frames against their own
    # class. Unlike a projection, it must tell the classes apart, so on data where only the
    # shape does that (Shape Motion with equal areas) it has to learn corners. "shared" reads
    # D_I's own features, as AC-GAN does; inside the GAN the realness task kept it from learning
    # the classes (0.4-0.9 on real frames after 1,800 steps, where the same network alone reads
    # 0.9 after 300-400). "separate" gives it a body of its own, of D_I's widths, trained on
    # real frames only: it learnt the classes by step 300, and the generator fooled it with
    # stripes it had never seen. "adc" is that network with 2K classes, real k and generated k
    # (ADC-GAN, Hou et al., ICML 2022): it also learns the generated frames of each class, so
    # what fools it must look like the real frames of that class.
    image_class_head: str = option(
        "none", "With --conditional: a class head on the image discriminator, trained on real "
        "frames, whose cross-entropy on generated frames the generator pays (AC-GAN), reading "
        "D_I's features (shared) or a network of its own (separate); adc: a network of its own "
        "that also learns generated frames as K classes more.", choices=IMAGE_CLASS_HEAD)
    # StyleGAN's minibatch standard deviation before each discriminator's logits: a batch's
    # spread is one more feature, against a generator that covers one mode of the data (the
    # demo's draw discs only, where 41% of the real shapes are squares).
    disc_minibatch_std: int = option(
        0, "Group size of a minibatch standard deviation channel before both discriminators' "
        "logits (StyleGAN uses 4; 0: off).")
    # D_V sees clips average-pooled by this factor in space (DVD-GAN's temporal discriminator
    # works on 2x-downsampled clips): motion and colour constancy survive, the Conv3Ds cost
    # about factor**2 less, and D_I still judges every frame at full resolution.
    video_disc_pool: int = option(1, "Average-pool factor of the video discriminator's input in "
                                  "space (default: the preset's; 1 is the paper's).",
                                  flag_default=None)
    # The demo's generators spread their velocities over every angle with a Gaussian's speeds,
    # where Shape Motion's lie on a ring (1.5-3.5 px a frame) with none within 15 degrees of an
    # axis, and D_V's convolutions over pooled pixels did not tell them apart. A track head reads
    # each clip's path as numbers: where the foreground's centroid starts and how far it moves
    # over the first frames, through a small MLP whose logit joins D_V's. One velocity, not a
    # frame-by-frame path: the data's whole-pixel positions jitter where a drawn path does not.
    track_head_units: int = option(
        0, "Width of a track head on the video discriminator: an MLP on each clip's "
        "foreground-centroid start and its velocity over the first 4 frames, whose logit joins "
        "D_V's patch logits as one more, with its own loss (0: off).")
    # A quarter to a third of the demo's colours were paler than Shape Motion's palest, and the
    # attribution charged them as much as the tracks: the head can read the foreground's
    # colour (with its brightest and dimmest channels) and size as numbers too. Or the heading,
    # the velocity over its length: the head learnt speeds but hardly the data's gap at the axes,
    # which in x and y alone is a ratio for its two layers to work out.
    # Reading colour and size broke the class split (discs in both classes) twice of two:
    # "track_colour" leaves the size out.
    track_head_reads: str = option(
        "track", "With --track_head_units: the track head reads the foreground's track alone, or "
        "its heading as a unit vector as well (track_heading), or its colour (track_colour), or "
        "its colour and size as well (track_colour_size).", choices=TRACK_HEAD_READS)
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
    # features whose edges move with motion, and draws channels that disagree at every edge.
    gen_norm: str = option(
        "batch", "Frame generator normalisation: the paper's batch norm, or batch norm whose "
        "scale and shift the content code sets (default: the preset's).", choices=GEN_NORM,
        flag_default=None)
    # Two layers per frame (VGAN's foreground, mask and background, with MoCoGAN's split): the
    # content code alone renders an appearance A, one per video, and the frame generator renders
    # a mask m and a frame F from [content, motion]; a frame is m * A + (1 - m) * F. What the
    # mask reveals of A is the same in every frame. "image": A is a whole image, which the mask
    # can still cross (a blob moving over a colour gradient changes colour); "colour": A is one
    # colour per video, an inductive bias for objects of one colour, such as Shape Motion's.
    # "grey": as "colour", but the frame generator's own pixels F are grey, so a blob's colour can
    # come through the mask alone (under "colour" some runs left the mask at 0 and painted
    # blobs whose colour drifts). "black": as "grey" with F black everywhere, so the frame
    # generator draws the mask alone: a black background by construction, for data such as
    # Shape Motion's (the grey F showed through soft masks inside the blobs, and a hard mask's
    # edges showed it as pale rims).
    gen_appearance: str = option(
        "none", "Frame = mask * A + (1 - mask) * frame, with A an appearance the content code "
        "alone renders: an image or one colour per video (grey: over grey frames; black: over "
        "black, the frame generator drawing the mask alone) "
        "(default: the preset's).",
        choices=GEN_APPEARANCE, flag_default=None)
    # "soft": the mask is a sigmoid, so inside a blob some of F shows through and its colour
    # wanders with F. "hard": the mask is 0 or 1 in the forward pass (m > 0.5) and the sigmoid's
    # in the backward pass (a straight-through estimator, Bengio et al. 2013): a blob is exactly
    # the video's colour, while G still learns where to move the mask's edge. "hard_smooth": the
    # same 0/1 decision on the sigmoid's mean over each 3x3 neighbourhood, which a lone pixel
    # near 0.5 does not cross (the hard mask scattered such specks over one run's backgrounds).
    # "hard_at_sampling": soft in training, hard outside it (samples, evaluation, export). Under
    # a mask that is hard in training, a background pixel's sigmoid gets no gradient while it
    # stays below 0.5, so it drifts up to the threshold and flips: specks. Trained soft, D sees
    # a faint colour wherever the mask is not 0 and G drives it there; the samples then show
    # each blob in its exact colour, on exact black. Specks need a painted canvas: an outline
    # (--sprite_shape other than canvas) is one piece by construction, and under it "hard" lets
    # D see in training the crisp sprites G samples, where a soft outline's edge dims a halo.
    gen_mask: str = option(
        "soft", "The --gen_appearance mask: a sigmoid, or 0/1 with the sigmoid's gradient "
        "(straight-through), decided per pixel or on 3x3 means, or soft in training and 0/1 "
        "when sampling (default: the preset's).",
        choices=GEN_MASK, flag_default=None)

    # "every_frame": the paper's fresh GRU input at every step, so a motion may turn at any frame;
    # "first_frame": the noise enters at the first step only (zeros after), so the GRU unrolls a
    # motion its start fixes, as for objects that keep their velocity (Shape Motion's, which
    # bounce): the generator need not learn to ignore the later noise first.
    motion_noise: str = option(
        "every_frame", "The GRU's noise input: fresh at every frame (the paper's) or at the "
        "first frame only (default: the preset's).", choices=MOTION_NOISE, flag_default=None)

    # "draw": the paper's frame generator draws every frame from [content, motion code], so an
    # object must be drawn again, and may change, at each position. "translate": it draws one
    # image per video from the content code alone, and each frame is that image moved by an
    # offset a linear layer reads off the frame's motion code (a sprite; bilinear, so the offset
    # gets gradients). An inductive bias for rigid objects that move across the frame, such as
    # Shape Motion's: the shape cannot change from frame to frame, and the frame generator need
    # not learn to draw it at every position.
    gen_motion: str = option(
        "draw", "How motion enters a frame: the frame generator draws each frame from content "
        "and motion (the paper's), or draws one image per video from content and each frame "
        "translates it by an offset read off the motion code (default: the preset's).",
        choices=GEN_MOTION, flag_default=None)
    # With "translate": "free", each frame's offset is read off its own motion code, so a path
    # can jump or wander; "bounce", the first code sets where the sprite starts and every code
    # a velocity, the velocities are summed and the path mirrored at the frame's borders (the
    # sprite's own size inside them): objects that keep moving and bounce off the walls, as
    # Shape Motion's do (BUILD.md, "The demo", measures what it buys). "constant_velocity": the
    # same with one velocity, the first code's, for every frame: straight tracks between bounces
    # by construction.
    motion_path: str = option(
        "free", "With --gen_motion=translate: each frame's offset read off its motion code "
        "(free), or a start from the first code and a velocity from each, summed and mirrored "
        "at the frame's borders (bounce), or the same with the first code's velocity in every "
        "frame (constant_velocity).", choices=MOTION_PATH)
    # How a one-colour appearance is read off the content code. "rgb": R, G and B each through a
    # tanh; a linear map of Gaussian codes then puts most colours near their mean, a greyish one
    # (a quarter of the demo's were paler than Shape Motion's palest). "chroma": a lightness and a
    # chroma, each through a sigmoid, and a hue, the unit vector of a linear 2-vector in the plane
    # across the grey axis (about uniform in angle): bright colours of every hue from the start.
    # Chroma's sums leave the RGB cube and are clipped, where no gradient passes. "hsv": a hue,
    # the angle of a linear 2-vector, and a saturation and a value through sigmoids: every
    # output is a colour, and how pale it is is one number of its own.
    colour_form: str = option(
        "rgb", "With a one-colour --gen_appearance: the colour's R, G and B each through a tanh "
        "(rgb), a lightness, a chroma and a hue angle, each from its own output (chroma), or a "
        "hue angle, a saturation and a value (hsv).", choices=COLOUR_FORM)
    # MoCoGAN's motion has a categorical part (its z_A) beside the GRU's noise. Drawn at random
    # (no labels), it gives the generator a discrete switch between kinds of motion, which a
    # smooth map of Gaussian noise lacks: Shape Motion's directions are four separate quadrants
    # (none within 15 degrees of an axis), and the demo's generators spread theirs over every
    # angle. The mode is read off the motion noise itself (the largest of its first K numbers at
    # the first frame, so uniform over K), and its one-hot joins the GRU's input at every step:
    # the latents and everything that samples them stay as they are.
    motion_modes: int = option(
        0, "Feed the GRU a one-hot of this many random motion modes, read off the motion noise "
        "(0: off; at most the motion noise's size).")
    # How a bouncing path's velocity is read off a motion code. "cartesian": x and y each through
    # a tanh, so a direction and a speed come out of the same two numbers, and a ring of
    # velocities (Shape Motion's: any direction, a speed in a band) is a hard shape for them.
    # "polar": a direction, the unit vector of a linear 2-vector (about uniform in angle for
    # Gaussian codes), and a speed through a sigmoid of its own: each set on its own.
    # "quadrant": MoCoGAN's categorical motion read directly by the velocity. The signs of x and
    # y are a random quadrant, read off the motion noise, and only their sizes are learnt, each
    # through a sigmoid. A smooth map of Gaussian noise cannot split into Shape Motion's four
    # quadrants with gaps at the axes; with the split given, what is left is one sector.
    velocity_form: str = option(
        "cartesian", "With a --motion_path other than free: a velocity's x and y each through a "
        "tanh (cartesian), a unit direction and a speed each from its own output (polar), or "
        "the sizes of x and y through sigmoids with random signs (quadrant).",
        choices=VELOCITY_FORM)
    # With "translate", the drawn image fades to black (mask 0) beyond this fraction of the
    # frame from its centre, so specks the canvas holds far from its object do not come into
    # view as the object moves (today_translate's single blob 0.667). 0.3 of 64 pixels is well
    # outside the data's largest shape (a square's corner at 14 pixels): the window does not
    # draw the object's outline.
    sprite_radius: float = option(
        0.0, "With --gen_motion=translate: fade the drawn image to black beyond this fraction "
        "of the frame from its centre, e.g. 0.3 (0: the whole canvas).")
    # "canvas": the frame generator paints the sprite's mask pixel by pixel, so it can hold
    # holes, ragged edges and second pieces (ADC's squares came with all three). "star": the
    # mask is a star-convex outline, a radius per angle read off the content code; "convex": a
    # convex polygon with facets in fixed directions; "superellipse": one size and one exponent,
    # from a disc to a square (trainer/sprite_outlines.py). Each is one piece without holes by
    # construction, and holds discs and squares alike.
    sprite_shape: str = option(
        "canvas", "With --gen_motion=translate, --gen_appearance=black and a --sprite_radius: "
        "the sprite's mask painted by the frame generator, or a star-convex outline (a radius "
        "per angle from the content code), or a convex polygon (16 facets at distances from the "
        "content code), or a superellipse (a size and an exponent from the content code: a disc "
        "at 2, a square as it grows), within the sprite radius.", choices=SPRITE_SHAPE)

    # Where every superellipse starts: 8 (the geometric mean of 2 and 32) is a rounded square,
    # from which both classes of the demo's generators went on to squares (BUILD.md); nearer 2
    # every outline starts as a disc, and the squares must pull their exponent up.
    sprite_start_exponent: float = option(
        8.0, "With --sprite_shape=superellipse: the exponent every outline starts at, between 2 "
        "(a disc) and 32 (a square); 8 is a rounded square.")
    # "hidden": a superellipse's size and exponent read a hidden layer of the content code (and
    # class), whose units the classes share, and a sigmoid sets the exponent: four demo runs of
    # eight moved both classes to one end together and stayed there. "direct": they read the
    # code itself too, so each class has its own weights to its shape, and the exponent is
    # clipped to its range with the gradient passed through (SuperellipseOutline's `direct`).
    sprite_code: str = option(
        "hidden", "With --sprite_shape=superellipse: the size and exponent read a hidden layer of "
        "the content code (hidden), or that and the code itself, with the exponent clipped to "
        "its range and its gradient passed through (direct).", choices=SPRITE_CODE)

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
        if self.gen_mask != "soft" and self.gen_appearance == "none":
            raise ValueError(f"ModelConfig.gen_mask={self.gen_mask!r} needs a mask: give "
                             "gen_appearance=grey, black, colour or image, or gen_mask='soft'")
        if int(self.disc_minibatch_std) < 0:
            raise ValueError(f"ModelConfig.disc_minibatch_std must be >= 0 (0: off), got "
                             f"{self.disc_minibatch_std}")
        if self.motion_path != "free" and self.gen_motion != "translate":
            raise ValueError(f"ModelConfig.motion_path={self.motion_path!r} moves a sprite: it "
                             f"needs gen_motion='translate' (got {self.gen_motion!r})")
        if self.velocity_form != "cartesian" and self.motion_path == "free":
            raise ValueError(f"ModelConfig.velocity_form={self.velocity_form!r} shapes a bouncing "
                             "path's velocity: it needs a motion_path other than 'free'")
        if self.velocity_form == "quadrant" and self.motion_noise_dim < 2:
            raise ValueError("ModelConfig.velocity_form='quadrant' reads a velocity's signs off "
                             f"two motion noise numbers: motion_noise_dim is {self.motion_noise_dim}")
        if self.sprite_radius < 0 or (self.sprite_radius and self.gen_motion != "translate"):
            raise ValueError(f"ModelConfig.sprite_radius={self.sprite_radius} needs "
                             "gen_motion='translate' and a value > 0 (0: off)")
        if self.sprite_shape != "canvas" and not (self.sprite_radius
                                                and self.gen_appearance == "black"):
            raise ValueError(f"ModelConfig.sprite_shape={self.sprite_shape!r} outlines a mask "
                             "inside the sprite window: it needs gen_motion='translate', gen_appearance='black' and "
                             f"a sprite_radius > 0 (got {self.gen_appearance!r}, "
                             f"{self.sprite_radius})")
        if not 2.0 < self.sprite_start_exponent < 32.0:
            raise ValueError(f"ModelConfig.sprite_start_exponent={self.sprite_start_exponent}: "
                             "choose a value between 2 (a disc) and 32 (a square)")
        if not 0 <= int(self.motion_modes) <= self.motion_noise_dim or self.motion_modes == 1:
            raise ValueError(f"ModelConfig.motion_modes={self.motion_modes}: choose 0 (off) or "
                             f"2 to motion_noise_dim ({self.motion_noise_dim})")
        if self.colour_form != "rgb" and self.gen_appearance not in ONE_COLOUR_APPEARANCES:
            raise ValueError(f"ModelConfig.colour_form={self.colour_form!r} shapes one colour "
                             f"per video: it needs gen_appearance in {ONE_COLOUR_APPEARANCES} "
                             f"(got {self.gen_appearance!r})")
        if self.sprite_code != "hidden" and self.sprite_shape != "superellipse":
            raise ValueError(f"ModelConfig.sprite_code={self.sprite_code!r} shapes a "
                             f"superellipse: it needs sprite_shape='superellipse' (got "
                             f"{self.sprite_shape!r})")
        if int(self.track_head_units) < 0:
            raise ValueError(f"ModelConfig.track_head_units must be >= 0 (0: off), got "
                             f"{self.track_head_units}")
        if self.track_head_reads != "track" and not self.track_head_units:
            raise ValueError(f"ModelConfig.track_head_reads={self.track_head_reads!r} shapes a "
                             "track head: give --track_head_units too")
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
    """[N, content+motion] codes -> [N, H, W, channels] frames in [-1, 1], float32 (channels: 3,
    or 4 with a mask)."""

    def __init__(self, config: ModelConfig, image_size: int, channels: int = 3, **kwargs):
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
        for i, width in enumerate(widths[1:] + (channels,), start=1):
            last = i == stages
            layers.set_numbered(self, "upconv", i, _upsampling_conv(
                config.gen_upsample, width, use_bias=last, name=f"upconv{i}",
                dtype="float32" if last else None))
            if not last:
                layers.set_numbered(self, "bn", i, _frame_norm(config.gen_norm, width, f"bn{i}"))

    def call(self, codes, training=False):
        content = codes[:, :self.content_dim]  # codes are [content, motion] (Generator.call)
        x = tf.reshape(self.project(codes), [-1, 4, 4, self.seed_width])
        x = tf.nn.relu(self.bn0(x, content, training=training))
        for i in range(1, self.num_upconvs):
            upconv, norm = getattr(self, f"upconv{i}"), getattr(self, f"bn{i}")
            x = tf.nn.relu(norm(upconv(x), content, training=training))
        return tf.tanh(getattr(self, f"upconv{self.num_upconvs}")(x))


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
        if config.sprite_shape != "canvas":  # the outline is the whole drawing
            outline = {"star": StarOutline, "convex": ConvexOutline,
                       "superellipse": SuperellipseOutline}[config.sprite_shape]
            extra = ({"start_exponent": config.sprite_start_exponent,
                      "direct": config.sprite_code == "direct"}
                     if config.sprite_shape == "superellipse" else {})
            self.outline = outline(image_size, config.sprite_radius * image_size, name="outline",
                                   **extra)
        else:
            self.frame_generator = FrameGenerator(config, image_size,
                                                  _FRAME_CHANNELS[config.gen_appearance],
                                                  name="frame_generator")
        if config.gen_motion == "translate":  # motion code -> (x, y) offset (or start) in [-1, 1]
            self.offset = keras.layers.Dense(2, activation="tanh", dtype="float32", name="offset")
            if config.motion_path != "free":  # motion code -> (x, y) velocity in [-1, 1]
                polar = config.velocity_form == "polar"  # (x, y, speed), through polar_velocity
                activation = {"cartesian": "tanh", "quadrant": "sigmoid"}.get(config.velocity_form)
                self.velocity = keras.layers.Dense(3 if polar else 2, activation=activation,
                                                   dtype="float32", name="velocity")
            # A constant of the config, made once rather than at every call.
            self.window = (sprite_window(image_size, config.sprite_radius)[None, :, :, None]
                           if config.sprite_radius else None)
        if config.gen_appearance == "image":  # codes of the content alone
            self.appearance = FrameGenerator(config, image_size, name="appearance")
        elif config.gen_appearance in ONE_COLOUR_APPEARANCES:
            self.appearance = (
                keras.layers.Dense(3, activation="tanh", dtype="float32", name="appearance")
                if config.colour_form == "rgb" else
                {"chroma": ChromaColour, "hsv": HsvColour}[config.colour_form](name="appearance"))

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
        """[B, T, motion_dim]: the GRU unrolled over T steps, fresh noise (or, "first_frame":
        noise at step 0 and zeros after) and the category each step.

        T is the length of latents["motion_noise"], so videos may be longer than the clips.
        """
        noise = tf.cast(latents["motion_noise"], tf.float32)
        num_frames = noise.shape[1]
        onehots = []
        if self.config.motion_modes:
            onehots.append(motion_mode_onehot(noise, self.config.motion_modes))
        if self.config.motion_noise == "first_frame":
            noise = noise * tf.one_hot(0, num_frames)[None, :, None]
        if self.config.conditional:
            onehots.append(self._class_onehot(latents))
        if onehots:  # fed at every step
            onehot = tf.concat(onehots, axis=-1)[:, None]
            noise = tf.concat([noise, tf.repeat(onehot, num_frames, axis=1)], axis=-1)
        state = tf.cast(latents["h0"], tf.float32)
        codes = []
        for t in range(num_frames):
            code, state = self.motion_cell(noise[:, t], state)
            state = state[0] if isinstance(state, (list, tuple)) else state
            codes.append(code)
        return tf.stack(codes, axis=1)

    def call(self, latents, training=False, with_masks=False):
        """Videos [B, T, H, W, 3]; with_masks (a --gen_appearance generator only): (videos, the
        masks that revealed the appearance, [B, T, H, W, 1] in [0, 1])."""
        if self.config.conditional and "labels" not in latents:
            raise ValueError("this generator is class-conditional: latents need 'labels'")
        if with_masks and self.config.gen_appearance == "none":
            raise ValueError("with_masks: this generator has no masks (gen_appearance='none')")
        motion = self.motion_codes(latents)
        num_frames = motion.shape[1]
        content = tf.cast(latents["content"], tf.float32)
        if self.config.projection:  # the class is part of what stays fixed in a video
            content = tf.concat([content, self._class_onehot(latents)], axis=-1)
        if self.config.gen_motion == "translate":
            frames = self._translated_frames(content, motion, latents["motion_noise"], training)
        else:
            codes = tf.concat([tf.repeat(content[:, None], num_frames, axis=1), motion], axis=-1)
            codes = tf.reshape(codes, [-1, codes.shape[-1]])  # time folded into batch
            frames = tf.cast(self.frame_generator(codes, training=training), tf.float32)
        if self.config.gen_appearance != "none":
            frames, masks = self._reveal(frames, content, num_frames, training)
        size = self.image_size
        videos = tf.reshape(frames, [-1, num_frames, size, size, 3])
        if with_masks:
            return videos, tf.reshape(masks, [-1, num_frames, size, size, 1])
        return videos

    def _translated_frames(self, content, motion, noise, training):
        """[B*T, H, W, C]: one image per video from the content code, moved in each frame by the
        offset of its motion code (up to half the frame each way); -1 (black, or mask 0) is
        shifted in at the edges."""
        drawing = self.frame_generator if self.config.sprite_shape == "canvas" else self.outline
        image = tf.cast(drawing(content, training=training), tf.float32) + 1.0
        if self.window is not None:
            image *= self.window
        moved = translate(image, self.offsets(content, motion, noise)) - 1.0
        return tf.reshape(moved, [-1, *moved.shape[2:]])

    def offsets(self, content, motion, noise):
        """[B, T, 2] pixels (x, y) each frame moves the sprite from the frame's centre, from the
        motion codes (and, for quadrant velocities, the motion noise [B, T, D])."""
        if self.config.motion_path == "free":
            return self.offset(motion) * (self.image_size / 2)
        limit = self.image_size / 2 - self.sprite_extent(content)[:, None]  # [B, 1]
        start = self.offset(motion[:, 0]) * limit
        return bounce(start, self.velocities(motion, noise), limit)

    def velocities(self, motion, noise):
        """[B, T, 2] pixels a frame (x, y) a bouncing path moves before each frame's bounces:
        each frame's own, or (constant_velocity) the first frame's throughout."""
        if self.config.motion_path == "constant_velocity":
            motion = tf.repeat(motion[:, :1], motion.shape[1], axis=1)
        velocity = self.velocity(motion)
        if self.config.velocity_form == "polar":
            velocity = polar_velocity(velocity)
        elif self.config.velocity_form == "quadrant":
            velocity *= quadrant_signs(noise)
        return velocity * (self.image_size / MAX_SPEED_DIVISOR)

    def sprite_extent(self, content):
        """[B] pixels the sprite reaches from its centre along an axis: a superellipse's own
        radius, else the sprite window's."""
        if self.config.sprite_shape == "superellipse":
            return self.outline.radius_and_exponent(content)[0]
        radius = self.config.sprite_radius * self.image_size
        return tf.fill([tf.shape(content)[0]], float(radius))

    def _reveal(self, frames, content, num_frames, training):
        """[B*T, H, W, 4] frames and masks (grey: 2, a grey F and m; black: m alone, F = -1) ->
        (m * A + (1 - m) * F, m), [B*T, H, W, 3 and 1].

        Written F + m * (A - F) with one split, on 4-D tensors: on CPU, channel slices and 5-D
        broadcasts made a demo step 1.19x as long as without the layer, against 1.06x this way
        (python -m trainer.benchmark --only_demo).
        """
        appearance = self.appearance(content, training=training)  # [B, H, W, 3] or [B, 3]
        if appearance.shape.rank == 2:  # one colour everywhere
            appearance = appearance[:, None, None, :]
        appearance = tf.repeat(appearance, num_frames, axis=0)  # frames are video-major
        if self.config.gen_appearance == "black":
            pixels, mask = tf.constant(-1.0), frames
        else:
            pixels, mask = tf.split(frames, [frames.shape[-1] - 1, 1], axis=-1)  # grey: 1 + 1
        mask = (mask + 1.0) / 2.0  # tanh(x) -> sigmoid(2x)
        if self._mask_is_hard(training):
            mask = hard_mask(mask, smooth=self.config.gen_mask == "hard_smooth")
        return pixels + mask * (appearance - pixels), mask

    def _mask_is_hard(self, training) -> bool:
        """hard_at_sampling: 0/1 outside training only; hard and hard_smooth: always."""
        if self.config.gen_mask == "hard_at_sampling":
            return not training
        return self.config.gen_mask != "soft"


def translate(images, offsets):
    """images [B, H, W, C] moved by offsets [B, T, 2] (x, y, in pixels, any real value) ->
    [B, T, H, W, C], bilinear, zeros shifted in.

    A move is separable: each output row is a blend of the input rows it falls between, with
    the hat weights max(0, 1 - |y - dy - i|), and the same for columns. As two small matrix
    products per frame it is differentiable in the offsets (through the weights) and costs
    about H * W * (H + W) multiply-adds per frame and channel.
    """
    def hat_weights(length, shift):  # [B, T, out, in]
        position = tf.range(length, dtype=tf.float32)
        return tf.nn.relu(1.0 - tf.abs(position[:, None] - shift[..., None, None] - position[None, :]))

    rows = hat_weights(images.shape[1], offsets[..., 1])
    cols = hat_weights(images.shape[2], offsets[..., 0])
    return tf.einsum("btyi,bijc,btxj->btyxc", rows, tf.cast(images, tf.float32), cols)


class ChromaColour(keras.layers.Layer):
    """[B, content] -> [B, 3] colours in [-1, 1] from a lightness L and a chroma C (sigmoids) and a
    hue, the unit vector h of a linear 2-vector: rgb = L (1, 1, 1) + C (h_1 e_1 + h_2 e_2), with
    e_1, e_2 an orthonormal basis across the grey axis, clipped to [0, 1]. C runs up to
    sqrt(2/3), a primary's distance from its grey."""

    MAX_CHROMA = math.sqrt(2.0 / 3.0)

    def __init__(self, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.code = keras.layers.Dense(4, dtype="float32", name="code")  # L, C, hue x, hue y
        self.basis = tf.constant([[2.0, -1.0, -1.0], [0.0, 3.0 ** 0.5, -(3.0 ** 0.5)]]) / 6.0 ** 0.5

    def call(self, content):
        code = self.code(tf.cast(content, tf.float32))
        lightness = tf.sigmoid(code[:, :1])
        chroma = self.MAX_CHROMA * tf.sigmoid(code[:, 1:2])
        hue = tf.math.l2_normalize(code[:, 2:], axis=-1, epsilon=1e-6)
        rgb = lightness + chroma * tf.matmul(hue, self.basis)
        return 2.0 * tf.clip_by_value(rgb, 0.0, 1.0) - 1.0


def motion_mode_onehot(noise, modes: int):
    """[B, T, D] motion noise -> [B, modes] one-hot of the largest of its first `modes` numbers
    at the first frame: a uniform random mode, fixed by the noise."""
    return tf.one_hot(tf.argmax(noise[:, 0, :modes], axis=-1), modes, dtype=tf.float32)


class HsvColour(keras.layers.Layer):
    """[B, content] -> [B, 3] colours in [-1, 1] from a hue, the angle of a linear 2-vector, and
    a saturation and a value, each a sigmoid (`hsv_to_rgb`)."""

    def __init__(self, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.code = keras.layers.Dense(4, dtype="float32", name="code")  # hue x, hue y, S, V

    def call(self, content):
        code = self.code(tf.cast(content, tf.float32))
        hue = tf.math.atan2(code[:, 1], code[:, 0]) / (2.0 * math.pi) % 1.0
        rgb = hsv_to_rgb(hue, tf.sigmoid(code[:, 2]), tf.sigmoid(code[:, 3]))
        return 2.0 * rgb - 1.0


def hsv_to_rgb(hue, saturation, value):
    """[B] each, in [0, 1] -> [B, 3] RGB in [0, 1], differentiable: tf.image.hsv_to_rgb has no
    gradient. Channel n (5, 3, 1 for R, G, B) is V - V S clip(min(k, 4 - k), 0, 1) with
    k = (n + 6 H) mod 6."""
    k = (tf.constant([5.0, 3.0, 1.0]) + 6.0 * hue[:, None]) % 6.0
    ramp = tf.clip_by_value(tf.minimum(k, 4.0 - k), 0.0, 1.0)
    return value[:, None] * (1.0 - saturation[:, None] * ramp)


def quadrant_signs(noise):
    """[B, T, D] motion noise -> [B, 1, 2] signs (x, y) of a velocity, each -1 or +1 by the sign
    of one of the first frame's first two numbers: a uniform random quadrant, fixed by the noise."""
    return tf.where(tf.cast(noise[:, :1, :2], tf.float32) < 0.0, -1.0, 1.0)


def polar_velocity(raw):
    """[..., 3] -> [..., 2] velocities: the unit vector of raw's first two numbers times a speed
    in (0, 1), the sigmoid of the third."""
    direction = tf.math.l2_normalize(raw[..., :2], axis=-1, epsilon=1e-6)
    return direction * tf.sigmoid(raw[..., 2:])


def bounce(start, velocities, limit):
    """start [B, 2] + the velocities [B, T, 2] of the frames before each frame, mirrored into
    [-limit, limit] (limit [B, 1] or a number) -> positions [B, T, 2]; frame 0 is at start.

    A path that bounces off two walls is the straight path folded with period 4 * limit, in
    closed form (no stepping); its gradient is +-1, its sign flipping at each bounce.
    """
    limit = tf.convert_to_tensor(limit, tf.float32)
    if limit.shape.rank:  # [B, 1]: one limit a video, for x and y alike
        limit = limit[:, None]
    straight = start[:, None] + tf.cumsum(velocities, axis=1, exclusive=True) + limit
    width = 2.0 * limit  # the straight path from 0 up, folded into [0, width]
    folded = straight - 2.0 * width * tf.stop_gradient(tf.floor(straight / (2.0 * width)))
    return tf.where(folded <= width, folded, 2.0 * width - folded) - limit


def sprite_window(size: int, radius: float, fade: float = 0.05):
    """[size, size] weights: 1 within radius * size pixels of the frame's centre, falling
    linearly to 0 over the next fade * size pixels."""
    position = tf.range(size, dtype=tf.float32) + 0.5 - size / 2
    distance = tf.sqrt(position[:, None] ** 2 + position[None, :] ** 2)
    return tf.clip_by_value(1.0 - (distance - radius * size) / (fade * size), 0.0, 1.0)


def hard_mask(soft, smooth: bool = False):
    """0/1 masks [N, H, W, 1] in the forward pass, m > 0.5, with the gradient of m backward
    (straight-through). smooth: m is the mean of `soft` over each 3x3 neighbourhood (over the
    pixels inside the frame at its edges)."""
    if smooth:
        soft = tf.nn.avg_pool2d(soft, 3, 1, "SAME")
    return layers.straight_through(soft, tf.cast(soft > 0.5, soft.dtype))


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
