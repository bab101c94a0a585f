"""Stand-ins for the pretrained networks of FVD and FID, which cannot be downloaded in tests.

`save_i3d_stand_in` writes a SavedModel with the published I3D's interface (a `default` signature
taking float32 [N, T, 224, 224, 3] in [-1, 1] and returning 400 logits under `default`); its logits
are a fixed linear map of 4x4 block means, which `i3d_stand_in_logits` recomputes in numpy from
the raw videos, with the FVD reference's resize written out by hand. It is not I3D: its numbers
only test the loading, preprocessing, batching and Fréchet code around it.
"""

import numpy as np
import tensorflow as tf
import keras

GRID = 4
NUM_LOGITS = 400


def _weights(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(GRID * GRID * 3, NUM_LOGITS)).astype(np.float32), rng.normal(size=NUM_LOGITS).astype(np.float32)


class _I3DStandIn(tf.Module):
    def __init__(self):
        super().__init__()
        weights, bias = _weights()
        self.weights, self.bias = tf.constant(weights), tf.constant(bias)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 224, 224, 3], tf.float32)])
    def default(self, clips):
        shape = tf.shape(clips)
        blocks = tf.reshape(clips, [shape[0], shape[1], GRID, 224 // GRID, GRID, 224 // GRID, 3])
        means = tf.reshape(tf.reduce_mean(blocks, axis=[1, 3, 5]), [shape[0], GRID * GRID * 3])
        return {"default": means @ self.weights + self.bias}


def save_i3d_stand_in(path: str) -> str:
    module = _I3DStandIn()
    tf.saved_model.save(module, path, signatures={"default": module.default})
    return path


def _resize_axis(size_in: int, size_out: int):
    """TF1 resize_bilinear's sampling along one axis (no half-pixel centres): source index, weight."""
    position = np.arange(size_out) * (size_in / size_out)
    low = np.floor(position).astype(int)
    return low, np.minimum(low + 1, size_in - 1), position - low


def reference_resize(frames: np.ndarray, size: int = 224) -> np.ndarray:
    """[..., H, W, C] float -> [..., size, size, C], as the FVD reference resizes."""
    y0, y1, fy = _resize_axis(frames.shape[-3], size)
    x0, x1, fx = _resize_axis(frames.shape[-2], size)
    rows = frames[..., y0, :, :] * (1 - fy)[:, None, None] + frames[..., y1, :, :] * fy[:, None, None]
    return rows[..., x0, :] * (1 - fx)[:, None] + rows[..., x1, :] * fx[:, None]


def i3d_stand_in_logits(videos: np.ndarray) -> np.ndarray:
    """The stand-in's logits of uint8 videos [N, T, H, W, 3], computed in numpy (float64)."""
    scaled = reference_resize(videos.astype(np.float64) * 2 / 255 - 1)
    n, t = scaled.shape[:2]
    blocks = scaled.reshape(n, t, GRID, 224 // GRID, GRID, 224 // GRID, 3).mean(axis=(1, 3, 5))
    weights, bias = _weights()
    return blocks.reshape(n, -1) @ weights.astype(np.float64) + bias


def frechet_numpy(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance of Gaussian fits, written independently of trainer.evaluation.frechet: the trace of
    (S1 S2)^1/2 as the sum of square roots of the eigenvalues of S1 S2."""
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eigenvalues = np.linalg.eigvals(s1 @ s2)
    root_trace = np.sqrt(np.clip(eigenvalues.real, 0, None)).sum()
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1) + np.trace(s2) - 2 * root_trace)


def save_inception_stand_in(path: str) -> str:
    """A tiny `.keras` feature model with Inception-v3's interface (299x299x3 images -> features)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((299, 299, 3))
    x = keras.layers.Conv2D(8, 5, strides=8, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x), name="inception_stand_in")
    model.save(path)
    return path
