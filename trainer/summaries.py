"""TensorBoard output of a run (<model_dir>/train), written by the chief only.

Scalars: losses, discriminator logits on real and fake, gradient norms, steps/s and clips/s.
Samples: the generator (its EMA copy when there is one) on fixed latents, as one animated GIF grid.
TensorBoard's image dashboard shows whatever encoded image an image summary holds, and browsers
animate GIFs, so the GIF bytes go into a raw image summary ([width, height, encoded] strings);
`tf.summary.image` would re-encode single frames as PNG.
"""

import numpy as np
import tensorflow as tf

from trainer import pixels

SAMPLE_SEED_OFFSET = 7919
SAMPLE_FPS = 8
IMAGES_PLUGIN = "images"
SCALARS_PLUGIN = "scalars"


def _metadata(plugin_name: str):
    metadata = tf.compat.v1.SummaryMetadata()
    metadata.plugin_data.plugin_name = plugin_name
    return metadata


def write_scalar(tag: str, value, step: int) -> None:
    """What tf.summary.scalar writes, without needing the tensorboard package installed."""
    tf.summary.write(tag, tf.constant(value, tf.float32), step=step,
                     metadata=_metadata(SCALARS_PLUGIN))


def sample_latents(generator, config):
    """The fixed latents of the sample grid; labels cycle through the classes when conditional."""
    labels = None
    if config.conditional:
        labels = tf.range(config.num_samples) % len(config.class_names)
    return generator.sample_latents(config.num_samples, labels=labels,
                                    seed=config.seed + SAMPLE_SEED_OFFSET)


def write_gif(tag: str, gif: bytes, width: int, height: int, step: int) -> None:
    """An image summary holding an encoded GIF (the images plugin's [w, h, image...] layout)."""
    tensor = tf.constant([str(width).encode(), str(height).encode(), gif], dtype=tf.string)
    tf.summary.write(tag, tensor, step=step, metadata=_metadata(IMAGES_PLUGIN))


class Writer:
    """Writes scalars and samples on the chief; does nothing on the other workers."""

    def __init__(self, config, state, chief: bool):
        self.config, self.enabled = config, chief
        self.generator = state.ema_generator or state.models.generator
        if chief:
            self.writer = tf.summary.create_file_writer(f"{config.model_dir}/train")
            self.latents = sample_latents(self.generator, config)

    def scalars(self, step: int, values: dict, **rates) -> None:
        if not self.enabled:
            return
        with self.writer.as_default(step=step):
            for name, value in {**values, **{f"speed/{k}": v for k, v in rates.items()}}.items():
                write_scalar(name, value, step)

    def samples(self, step: int) -> None:
        if not self.enabled:
            return
        from pipeline import media  # imported when first needed: it brings the GIF encoder
        from trainer import grids

        videos = pixels.to_uint8(self.generator(self.latents, training=False))
        grid = grids.video_grid(videos, cols=int(np.ceil(np.sqrt(len(videos)))))
        gif = media.encode_gif(grid, fps=SAMPLE_FPS)
        with self.writer.as_default(step=step):
            write_gif("samples", gif, width=grid.shape[2], height=grid.shape[1], step=step)

    def close(self) -> None:
        if self.enabled:
            self.writer.flush()
            self.writer.close()
