"""uint8 pixels [0, 255] <-> the model's range [-1, 1] (the generator's tanh), in one place.

    floats = pixels.to_model_range(uint8_videos)       # numpy; tensor_to_model_range in graphs
    uint8_videos = pixels.to_uint8(generator(latents))  # numpy; tensor_to_uint8 in graphs

The numpy functions take anything numpy can read (arrays, eager tensors) and return numpy; the
tensor ones stay in TensorFlow, for tf.function graphs (the training step, the exported model).
Both pairs compute the same numbers, bit for bit: x * (2 / 255) - 1 one way, in float32 (the
training step's rule; a division by 127.5 would be one ulp closer for 111 of the 256 values in
numpy and eager mode, but TensorFlow's graph optimiser turns it into this multiplication inside a
tf.function, so only the multiplication is the same everywhere), and round half to even, then
clip, the other way.
"""

import numpy as np
import tensorflow as tf

HALF_RANGE = 127.5  # 255 / 2: [0, 255] is [-1, 1] shifted by 1 and scaled by it
TO_MODEL = 2.0 / 255.0  # 1 / HALF_RANGE, as a factor (see the module docstring)


def to_model_range(pixels) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return np.asarray(pixels).astype(np.float32) * np.float32(TO_MODEL) - np.float32(1.0)


def as_model_range(videos) -> np.ndarray:
    """float32 in [-1, 1] from uint8 pixels, or from floats already in that range (clipped)."""
    videos = np.asarray(videos)
    if videos.dtype == np.uint8:
        return to_model_range(videos)
    return np.clip(videos.astype(np.float32), -1.0, 1.0)


def to_pixel_scale(videos) -> np.ndarray:
    """[-1, 1] floats -> float32 on the 0-255 scale, clipped and not rounded (for measuring)."""
    return (np.clip(np.asarray(videos).astype(np.float32), -1.0, 1.0) + 1.0) * HALF_RANGE


def to_uint8(videos) -> np.ndarray:
    """[-1, 1] floats -> uint8 [0, 255], rounded half to even."""
    return np.clip(np.round((np.asarray(videos) + 1.0) * HALF_RANGE), 0, 255).astype(np.uint8)


def tensor_to_model_range(pixels: tf.Tensor) -> tf.Tensor:
    """to_model_range in TensorFlow: uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(pixels, tf.float32) * TO_MODEL - 1.0


def tensor_to_uint8(videos: tf.Tensor) -> tf.Tensor:
    """to_uint8 in TensorFlow (tf.round is half to even too)."""
    scaled = tf.round((videos + 1.0) * HALF_RANGE)
    return tf.cast(tf.clip_by_value(scaled, 0.0, 255.0), tf.uint8)
