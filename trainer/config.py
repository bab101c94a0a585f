"""One frozen run configuration: the model (a preset plus overrides) and every training option.

`trainer.main` turns its flags into a `Config`; everything else takes a `Config` (or a part of it).
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

from trainer import models as models_lib

CONFIG_NAME = "config.json"
LOSSES = ("bce", "hinge")
MIXED_PRECISION = ("none", "bf16", "fp16")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")


class ConfigError(ValueError):
    """A configuration that cannot run, or cannot resume the model directory it names."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything a run needs. Fields after `model` and the clip description are training options."""

    model: models_lib.ModelConfig
    clip_shape: tuple[int, int, int, int]  # T, H, W, C of the shard set
    class_names: tuple[str, ...] = ()      # of the shard set; used when conditional
    conditional: bool = False
    tfrecords: str = ""
    model_dir: str = ""
    train_steps: int = 1000
    batch_size: int = 16
    image_batch_size: int = 32
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    loss: str = "bce"
    d_learning_rate: float = 0.0  # the discriminators' Adam rate; 0: --learning_rate (TTUR when not)
    r1_gamma: float = 0.0
    r1_every: int = 1  # lazy R1 (StyleGAN2): the penalty every k steps, weighted by k
    # Gaussian noise of this sigma (model range [-1, 1]) added to every discriminator input in
    # training, real and fake alike; it falls linearly to 0 over instance_noise_steps (0: constant).
    instance_noise: float = 0.0
    instance_noise_steps: int = 0
    augment: str = ""  # discriminator-input augmentation per clip, e.g. "translation,cutout"
    image_warmup_steps: int = 0  # first steps train the frame generator against D_I alone
    ema_decay: float = 0.0  # a fixed EMA decay per step; 0 turns the EMA off unless a half-life is set
    # StyleGAN2-ADA's EMA: the half-life in training videos, growing with ema_rampup * videos seen.
    ema_half_life_videos: float = 0.0
    ema_rampup: float = 0.0
    mixed_precision: str = "none"
    jit: bool = False
    reuse_fakes: bool = True
    sync_batch_norm: bool = True  # batch statistics over the global batch when replicated
    seed: int = 0
    strategy: str = "auto"
    tpu: str = ""
    checkpoint_every: int = 500
    summary_every: int = 50
    sample_every: int = 500
    num_samples: int = 8
    max_to_keep: int = 3
    eval_every: int = 0  # steps between evaluations on the chief (0: none)
    eval_videos: int = 64  # generated and real videos per evaluation
    best_metric: str = ""  # the metric the best checkpoint is kept by; "": the Fréchet distance
    skip_corrupt_shards: bool = False  # leave out (and name) corrupt shard files instead of stopping

    def __post_init__(self):
        augment_error = _augment_policy_error(self.augment)
        checks = [
            (self.loss in LOSSES, f"loss={self.loss!r}: choose one of {LOSSES}"),
            (self.mixed_precision in MIXED_PRECISION,
             f"mixed_precision={self.mixed_precision!r}: choose one of {MIXED_PRECISION}"),
            (self.strategy in STRATEGIES, f"strategy={self.strategy!r}: choose one of {STRATEGIES}"),
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
            (self.r1_every >= 1, f"r1_every={self.r1_every} must be >= 1"),
            (self.instance_noise >= 0 and self.instance_noise_steps >= 0,
             f"instance_noise={self.instance_noise} and instance_noise_steps="
             f"{self.instance_noise_steps} must be >= 0"),
            (augment_error is None, augment_error),
            (self.image_warmup_steps >= 0,
             f"image_warmup_steps={self.image_warmup_steps} must be >= 0"),
            (not self.conditional or self.class_names,
             "conditional training needs a shard set whose manifest has class names"),
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
    def discriminator_learning_rate(self) -> float:
        return self.d_learning_rate or self.learning_rate

    @property
    def num_frames(self) -> int:
        return self.clip_shape[0]

    @property
    def image_size(self) -> int:
        return self.clip_shape[1]

    def build_models(self) -> "models_lib.Models":
        """The three networks of this config, built (under the current strategy scope, if any)."""
        with _precision_policy(self.mixed_precision):
            return models_lib.build_models(self.model, self.num_frames, self.image_size)

    def build_generator(self):
        """A generator with this config's architecture (e.g. to restore `ema_generator` into)."""
        with _precision_policy(self.mixed_precision):
            return models_lib.build_generator(self.model, self.num_frames, self.image_size)

    # -- JSON -------------------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Config":
        data = json.loads(text)
        model = models_lib.ModelConfig(**_tuples(data.pop("model")))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(model=model, **{k: v for k, v in _tuples(data).items() if k in known})

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


def model_config(preset: str, **overrides) -> "models_lib.ModelConfig":
    """A preset's ModelConfig with some fields replaced (None values are left as the preset has them)."""
    if preset not in models_lib.PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(models_lib.PRESETS)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(models_lib.PRESETS[preset], **overrides)


def config_path(model_dir: str) -> str:
    return os.path.join(model_dir, CONFIG_NAME)


def load_config(model_dir: str) -> Config:
    """The config a model directory was trained with."""
    path = config_path(model_dir)
    if not tf.io.gfile.exists(path):
        raise ConfigError(f"{path} does not exist: {model_dir} is not a model directory written "
                          "by `python -m trainer.main`")
    with tf.io.gfile.GFile(path) as f:
        return Config.from_json(f.read())


def save_config(config: Config) -> str:
    tf.io.gfile.makedirs(config.model_dir)
    path = config_path(config.model_dir)
    with tf.io.gfile.GFile(path + ".tmp", "w") as f:
        f.write(config.to_json())
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
    return path


def check_resumable(saved: Config, config: Config) -> None:
    """Refuses to resume `saved`'s checkpoints with a different architecture, naming the fields."""
    old, new = saved.architecture(), config.architecture()
    differ = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if differ:
        details = "; ".join(f"{k}: saved {old.get(k)!r}, now {new.get(k)!r}" for k in differ)
        raise ConfigError(
            f"{config.model_dir} holds a run with a different architecture ({details}). Use a new "
            "--model_dir, or pass the same preset and model options as that run.")
