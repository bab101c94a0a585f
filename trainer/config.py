"""One frozen run configuration: the model (a preset plus overrides) and every training option.

Each training option is written once, as a field here (or of networks.ModelConfig) with its help
text; `trainer.main` makes its flags from these fields (trainer/flag_fields.py) and the parsed flags
back into a `Config` with `from_options`. Everything else takes a `Config` (or a part of it).
The resolved config is saved as <model_dir>/config.json on every run, so a model directory says how
it was made, and tools that only have the directory rebuild the networks from it:

    config = load_config("runs/ucf101")
    models = config.build_models()          # generator, image and video discriminators
    generator = config.build_generator()     # just the generator, e.g. to restore the EMA copy

Resuming into a directory whose saved architecture differs is refused with the fields that differ.
"""

import dataclasses
import json
import os
from typing import Any

import tensorflow as tf

from pipeline import files
from trainer import networks
from trainer import flag_fields
from trainer import strategy as strategy_lib
from trainer.flag_fields import option

CONFIG_NAME = "config.json"
LOSSES = ("bce", "hinge", "wgan")
MIXED_PRECISION = ("none", "bf16", "fp16", "auto")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")


class ConfigError(ValueError):
    """A configuration that cannot run, or cannot resume the model directory it names."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything a run needs. Fields after `model` and the clip description are training options;
    those with help text are also `python -m trainer.main` flags (trainer/flag_fields.py)."""

    model: networks.ModelConfig
    clip_shape: tuple[int, int, int, int]  # T, H, W, C of the shard set
    class_names: tuple[str, ...] = ()      # of the shard set; used when conditional
    conditional: bool = option(False, "Class-conditional generator and video discriminator "
                               "class head (the manifest must have classes).")
    # Both flags are required by trainer.main, so their flags default to None.
    tfrecords: str = option("", "Shard-set folder (with manifest.json) or a glob of its shard "
                            "files.", flag_default=None)
    model_dir: str = option("", "Where checkpoints, config.json and TensorBoard summaries go.",
                            flag_default=None)
    train_steps: int = option(100_000, "Total iterations (D_I, D_V, G).")
    batch_size: int = option(16, "Global batch of clips, over all replicas.")
    image_batch_size: int = option(32, "Global batch of single frames for the image "
                                   "discriminator.")
    learning_rate: float = option(2e-4, "Adam learning rate, all three nets.")
    beta_1: float = 0.5
    beta_2: float = 0.999
    loss: str = option("bce", "Adversarial loss.", choices=LOSSES)
    d_learning_rate: float = option(0.0, "Adam rate of both discriminators (TTUR); 0: the same "
                                    "as --learning_rate.")
    r1_gamma: float = option(0.0, "R1 penalty weight on real inputs (0: off).")
    r1_gamma_image: float | None = option(None, "R1 weight of the image discriminator alone "
                                          "(its batch is --image_batch_size frames); default: "
                                          "--r1_gamma.")
    # WGAN-GP (Gulrajani et al., NeurIPS 2017): (||grad D(x_hat)|| - 1)^2 on random points
    # between a real and a generated input, the Lipschitz constraint --loss=wgan needs.
    gp_weight: float = option(0.0, "Gradient penalty weight on real/fake interpolates, for both "
                              "discriminators (WGAN-GP uses 10 with --loss=wgan; 0: off).")
    # Keras' own global-norm clipping, per network, before Adam's update.
    grad_clip_norm: float = option(0.0, "Clip each network's gradient to this global norm "
                                   "(0: off).")
    # Real clips change by a typical amount from frame to frame; flicker or frozen videos do not.
    temporal_weight: float = option(0.0, "Weight of a temporal consistency term in G's loss: "
                                    "the gap between the mean frame-to-frame change of the "
                                    "generated clips and of the real batch (0: off).")
    grow_steps: int = option(0, "With --progressive: steps trained on half-size frames before "
                             "the full size fades in.")
    grow_fade_steps: int = option(0, "With --progressive: steps over which the full size fades "
                                  "in after --grow_steps.")
    r1_every: int = option(1, "Lazy R1: the penalty every k steps, weighted by k (StyleGAN2 "
                           "uses 16).")
    # The noise is in the model range [-1, 1], added to real and fake inputs alike.
    instance_noise: float = option(0.0, "Sigma of Gaussian noise added to every discriminator "
                                   "input in training (0: off).")
    instance_noise_steps: int = option(0, "Steps over which the instance noise falls linearly "
                                       "to 0 (0: constant).")
    augment: str = option("", "Augment every discriminator input, real and fake, the same in "
                          "each frame of a clip: translation, cutout or both, comma-separated "
                          "(DiffAugment); empty: off.")
    image_class_weight: float = option(1.0, "With --image_class_head: weight of its "
                                       "cross-entropy in D_I's loss and in the generator's.")
    image_warmup_steps: int = option(0, "First steps train the frame generator against the "
                                     "image discriminator alone.")
    # With neither a decay nor a half-life there is no EMA generator.
    ema_decay: float = option(0.0, "EMA of the generator's weights for samples and export "
                              "(e.g. 0.999; 0: off).")
    ema_half_life_videos: float = option(0.0, "Instead of --ema_decay: the EMA's half-life in "
                                         "training videos (StyleGAN2-ADA).")
    ema_rampup: float = option(0.0, "Cap the half-life at this times the videos seen so far "
                               "(StyleGAN2-ADA uses 0.05; 0: no ramp-up).")
    # "auto" is resolved when the config is made, so config.json says which precision ran.
    mixed_precision: str = option("none", "bf16 (TPUs, Ampere+ GPUs, CPUs with AMX/AVX512-BF16), "
                                  "fp16 (GPUs; with loss scaling), or auto: bf16 where the "
                                  "hardware computes it natively, else none.",
                                  choices=MIXED_PRECISION)
    jit: bool = option(False, "XLA-compile the step (for GPU/TPU; slower on CPU).")
    reuse_fakes: bool = option(True, "Score the D steps' fakes again for the G step instead of "
                               "rendering new ones.")
    sync_batch_norm: bool = option(True, "With several replicas, batch norm uses the statistics "
                                   "of the global batch.")
    seed: int = option(0, "Seed of the initial weights, latents, frame choice and data order.")
    strategy: str = option("auto", "tf.distribute strategy.", choices=STRATEGIES)
    tpu: str = option("", "TPU name or address (implies --strategy=tpu under auto).")
    checkpoint_every: int = option(500, "Steps between checkpoints.")
    summary_every: int = option(50, "Steps between scalar summaries and progress lines.")
    sample_every: int = option(500, "Steps between GIF samples.")
    num_samples: int = 8
    max_to_keep: int = option(3, "Checkpoints kept.")
    eval_every: int = option(0, "Steps between evaluations on the chief (TensorBoard eval/*, "
                             "best checkpoint); 0: none.")
    eval_videos: int = option(64, "N: generated videos, and real clips (one per video), per "
                              "evaluation; FVD is comparable only at equal N.")
    best_metric: str = option("", "Metric the best checkpoint (<model_dir>/best) is kept by: "
                              "any the evaluation reports; default: fvd (fd_shapes here makes "
                              "the evaluation compute the Shape Motion net's distance instead).")
    skip_corrupt_shards: bool = option(False, "Leave out (and name) corrupt shard files instead "
                                       "of stopping.")

    def __post_init__(self):
        if self.mixed_precision == "auto":
            native = strategy_lib.native_bf16(self.tpu)
            object.__setattr__(self, "mixed_precision", "bf16" if native else "none")
        augment_error = _augment_policy_error(self.augment)
        flag_fields.check_choices(self, ConfigError)
        checks = [
            (self.batch_size > 0, f"batch_size={self.batch_size} must be > 0"),
            (self.image_batch_size > 0, f"image_batch_size={self.image_batch_size} must be > 0"),
            (self.train_steps >= 0, f"train_steps={self.train_steps} must be >= 0"),
            (0.0 <= self.beta_1 < 1.0, f"beta_1={self.beta_1} must be in [0, 1)"),
            (0.0 <= self.beta_2 < 1.0, f"beta_2={self.beta_2} must be in [0, 1)"),
            (min(self.checkpoint_every, self.summary_every, self.sample_every) > 0,
             f"checkpoint_every={self.checkpoint_every}, summary_every={self.summary_every} and "
             f"sample_every={self.sample_every} must be > 0"),
            (self.eval_every >= 0 and self.eval_videos >= 2,
             f"eval_every={self.eval_every} must be >= 0 and eval_videos={self.eval_videos} >= 2"),
            (self.num_samples > 0 and self.max_to_keep > 0,
             f"num_samples={self.num_samples} and max_to_keep={self.max_to_keep} must be > 0"),
            (0.0 <= self.ema_decay < 1.0, f"ema_decay={self.ema_decay} must be in [0, 1)"),
            (not (self.ema_decay and self.ema_half_life_videos),
             "give --ema_decay or --ema_half_life_videos, not both"),
            (self.ema_half_life_videos >= 0 and self.ema_rampup >= 0,
             f"ema_half_life_videos={self.ema_half_life_videos} and ema_rampup={self.ema_rampup} "
             "must be >= 0"),
            (self.learning_rate > 0, f"learning_rate={self.learning_rate} must be > 0"),
            (self.d_learning_rate >= 0,
             f"d_learning_rate={self.d_learning_rate} must be > 0 (or 0: the same as learning_rate)"),
            (self.r1_gamma >= 0, f"r1_gamma={self.r1_gamma} must be >= 0"),
            (self.r1_gamma_image is None or self.r1_gamma_image >= 0,
             f"r1_gamma_image={self.r1_gamma_image} must be >= 0"),
            (self.r1_every >= 1, f"r1_every={self.r1_every} must be >= 1"),
            (min(self.gp_weight, self.grad_clip_norm, self.temporal_weight) >= 0,
             f"gp_weight={self.gp_weight}, grad_clip_norm={self.grad_clip_norm} and "
             f"temporal_weight={self.temporal_weight} must be >= 0 (0: off)"),
            (min(self.grow_steps, self.grow_fade_steps) >= 0,
             f"grow_steps={self.grow_steps} and grow_fade_steps={self.grow_fade_steps} must be >= 0"),
            (self.model.progressive or not (self.grow_steps or self.grow_fade_steps),
             "--grow_steps and --grow_fade_steps need --progressive (the half-size frames)"),
            (self.loss != "wgan" or self.gp_weight > 0,
             "--loss=wgan needs a Lipschitz constraint: give --gp_weight (10 is WGAN-GP's)"),
            (self.instance_noise >= 0 and self.instance_noise_steps >= 0,
             f"instance_noise={self.instance_noise} and instance_noise_steps="
             f"{self.instance_noise_steps} must be >= 0"),
            (augment_error is None, augment_error),
            (self.image_warmup_steps >= 0,
             f"image_warmup_steps={self.image_warmup_steps} must be >= 0"),
            (not self.conditional or self.class_names,
             "conditional training needs a shard set whose manifest has class names"),
            (self.image_class_weight >= 0,
             f"image_class_weight={self.image_class_weight} must be >= 0"),
            (self.model.image_class_head == "none" or self.conditional,
             "--image_class_head needs --conditional (a shard set with class names)"),
            (self.model.num_classes == (len(self.class_names) if self.conditional else 0),
             "model.num_classes must equal the number of classes when conditional, else 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    @property
    def use_ema(self) -> bool:
        return self.ema_decay > 0 or self.ema_half_life_videos > 0

    @property
    def image_r1_gamma(self) -> float:
        return self.r1_gamma if self.r1_gamma_image is None else self.r1_gamma_image

    @property
    def discriminator_learning_rate(self) -> float:
        return self.d_learning_rate or self.learning_rate

    @property
    def num_frames(self) -> int:
        return self.clip_shape[0]

    @property
    def image_size(self) -> int:
        return self.clip_shape[1]

    def build_models(self) -> "networks.Models":
        """The three networks of this config, built (under the current strategy scope, if any)."""
        with _precision_policy(self.mixed_precision):
            return networks.build_models(self.model, self.num_frames, self.image_size)

    def build_generator(self):
        """A generator with this config's architecture (e.g. to restore `ema_generator` into)."""
        with _precision_policy(self.mixed_precision):
            return networks.build_generator(self.model, self.num_frames, self.image_size)

    # -- JSON -------------------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = CONFIG_NAME) -> "Config":
        """The config `where` (a config.json) holds. Keys a run of an older version did not write
        take their defaults; a key no field has is refused, since dropping it would train
        something other than what the file says."""
        data = json.loads(text)
        if not isinstance(data.get("model"), dict):
            raise ConfigError(f"{where} has no model section: it is not a trainer.main config")
        try:
            model = networks.ModelConfig.from_dict(_tuples(data.pop("model")))
        except ValueError as error:  # an unknown key or a bad value
            raise ConfigError(f"{where}: {error}") from error
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"{where}: unknown config fields {unknown}; was it written by "
                              "another version of trainer.main? Remove them or retrain.")
        return cls(model=model, **_tuples(data))

    def architecture(self) -> dict[str, Any]:
        """What a checkpoint's variables depend on; changing any of it breaks a resume."""
        return {
            **{f"model.{k}": v for k, v in dataclasses.asdict(self.model).items()},
            "clip_shape": tuple(self.clip_shape),
            "conditional": self.conditional,
            "class_names": tuple(self.class_names) if self.conditional else (),
            "ema": self.use_ema,
            "loss_scaling": self.mixed_precision == "fp16",
        }


def _augment_policy_error(policy: str) -> str | None:
    from trainer import augment

    try:
        augment.parse_policy(policy)
    except ValueError as error:
        return str(error)
    return None


def _tuples(data: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


class _precision_policy:
    """Builds layers under a Keras dtype policy, restoring the previous one afterwards."""

    POLICIES = {"none": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}

    def __init__(self, mixed_precision: str):
        self.policy = self.POLICIES[mixed_precision]

    def __enter__(self):
        import keras
        self.previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.policy)

    def __exit__(self, *exc):
        import keras
        keras.config.set_dtype_policy(self.previous)


def model_config(preset: str, **overrides) -> "networks.ModelConfig":
    """A preset's ModelConfig with some fields replaced (None values are left as the preset has them)."""
    if preset not in networks.PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(networks.PRESETS)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(networks.PRESETS[preset], **overrides)


def from_options(options: dict, clip_shape, class_names=()) -> Config:
    """The Config of options named as trainer.main's flags and the recipes (trainer/configs/)
    name them: `preset` and the ModelConfig flags choose the networks, the rest are Config fields.
    The classes (of the shard set) count only when `conditional` is on."""
    options = dict(options)
    model_options = {k: options.pop(k) for k in flag_fields.flag_names(networks.ModelConfig)
                     if k in options}
    class_names = tuple(class_names)
    num_classes = len(class_names) if options.get("conditional") else 0
    model = model_config(options.pop("preset", "mocogan"), num_classes=num_classes,
                         **model_options)
    return Config(model=model, clip_shape=tuple(clip_shape), class_names=class_names, **options)


def config_path(model_dir: str) -> str:
    return os.path.join(model_dir, CONFIG_NAME)


def load_config(model_dir: str) -> Config:
    """The config a model directory was trained with."""
    path = config_path(model_dir)
    if not tf.io.gfile.exists(path):
        raise ConfigError(f"{path} does not exist: {model_dir} is not a model directory written "
                          "by `python -m trainer.main`")
    with tf.io.gfile.GFile(path) as f:
        return Config.from_json(f.read(), where=path)


def save_config(config: Config) -> str:
    tf.io.gfile.makedirs(config.model_dir)
    path = config_path(config.model_dir)
    return files.atomic_write(path, config.to_json())


def check_resumable(saved: Config, config: Config) -> None:
    """Refuses to resume `saved`'s checkpoints with a different architecture, naming the fields."""
    old, new = saved.architecture(), config.architecture()
    differ = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if differ:
        details = "; ".join(f"{k}: saved {old.get(k)!r}, now {new.get(k)!r}" for k in differ)
        raise ConfigError(
            f"{config.model_dir} holds a run with a different architecture ({details}). Use a new "
            "--model_dir, or pass the same preset and model options as that run.")
