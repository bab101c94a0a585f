"""What the three MoCoGAN networks are: `ModelConfig`, their architecture, saved in every run's
config.json, and `PRESETS`, the paper's sizes ("mocogan") and a narrow variant for CPU tests and
demos ("small"). Fields with help text are also trainer.main flags (trainer/flag_fields.py).
"""

import dataclasses

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
    # classes apart (their sizes, say) without drawing what makes each class. "projection": the
    # one-hot also joins the content code, so the frame generator and its content-set norms see
    # the class, and both discriminators are projection discriminators
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
