"""MoCoGAN's networks (Tulyakov et al., CVPR 2018): what they are and how they are built.

- `model_config.py`: `ModelConfig` (the architecture) and `PRESETS` (sizes by name).
- `generator.py`: the content code, the GRU's motion codes and the frame generator.
- `discriminators.py`: the image discriminator (single frames) and the video discriminator
  (whole clips, with a class head when conditional).
- `layers.py`: blocks both sides use (spectral norm, minibatch standard deviation).

`build_models(config, num_frames, image_size)` returns all three with their weights created, so a
`tf.train.Checkpoint` can restore into them at once.
"""

import dataclasses

import tensorflow as tf

from trainer.networks.discriminators import ImageDiscriminator, VideoDiscriminator
from trainer.networks.generator import Generator, build_generator
from trainer.networks.model_config import PRESETS, ModelConfig

__all__ = ["ModelConfig", "PRESETS", "Models", "Generator", "build_generator", "build_models"]


@dataclasses.dataclass(frozen=True)
class Models:
    generator: Generator
    image_discriminator: ImageDiscriminator
    video_discriminator: VideoDiscriminator


def build_models(config: ModelConfig, num_frames: int, image_size: int) -> Models:
    """The three networks with weights created, ready for a checkpoint restore or training."""
    generator = build_generator(config, num_frames, image_size)
    image_disc = ImageDiscriminator(config, image_size, name="image_discriminator")
    video_disc = VideoDiscriminator(config, num_frames, image_size, name="video_discriminator")
    frame = tf.zeros([1, image_size, image_size, 3])
    image_disc.with_classes(frame) if image_disc.has_class_head else image_disc(frame)
    video_disc(tf.zeros([1, num_frames, image_size, image_size, 3]), training=False)
    return Models(generator, image_disc, video_disc)
