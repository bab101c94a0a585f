"""Fréchet distance between Gaussian fits of clip features, and the I3D features of standard FVD.

FVD (Unterthiner et al. 2018) is the Fréchet distance between Gaussians fitted to I3D (Kinetics-400)
logits of real and generated clips:

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr( (S1^1/2 S2 S1^1/2)^1/2 )

The last trace equals tr((S1 S2)^1/2); it is computed from the symmetric positive semi-definite
matrix S1^1/2 S2 S1^1/2 with eigendecompositions only (no scipy), in float64.

`I3DFeatures` reads an I3D SavedModel folder (trainer/evaluation/pretrained.py says where it comes from) and
feeds it the input of the FVD reference implementation (google-research `frechet_video_distance`):
every frame resized to 224x224 by TF1's bilinear resize (no half-pixel centres, no antialiasing)
and values scaled to [-1, 1]. That preprocessing, not TF2's `tf.image.resize`, because FVD values
are only comparable with published ones when the network sees the same pixels; it is defined once,
in trainer/evaluation/i3d.py, the project's own I3D, which FVD uses when no SavedModel is given.
"""

from typing import Callable

import numpy as np
import tensorflow as tf

from trainer.evaluation import i3d
from trainer.pixels import as_model_range

# Signature names tried in order: the TF1 hub format of the published I3D, then a TF2 export.
I3D_SIGNATURES = ("default", "serving_default")
I3D_OUTPUT_KEYS = ("default", "logits", "output_0")

FeatureExtractor = Callable[[np.ndarray], np.ndarray]  # videos [N,T,H,W,3] -> features [N, D]


def fit_gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and unbiased covariance [D, D] of features [N, D] (N >= 2), float64."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need features [N >= 2, D] to fit a Gaussian, got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False, ddof=1).reshape(
        features.shape[1], features.shape[1])


def psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix; rounding's tiny negative
    eigenvalues are clipped to zero."""
    matrix = (matrix + matrix.T) / 2
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"mismatched Gaussians: means {mu1.shape}, {mu2.shape}; "
                         f"covariances {sigma1.shape}, {sigma2.shape}")
    root1 = psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    distance = np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * cross
    return float(max(distance, 0.0))


def feature_frechet_distance(features1: np.ndarray, features2: np.ndarray) -> float:
    """Fréchet distance between Gaussian fits of two feature sets [N1, D] and [N2, D]."""
    return frechet_distance(*fit_gaussian(features1), *fit_gaussian(features2))


def i3d_preprocess(videos: np.ndarray) -> tf.Tensor:
    """The FVD reference's input: float32 [N, T, 224, 224, 3] in [-1, 1] (i3d.resize)."""
    return i3d.resize(tf.constant(as_model_range(videos)))


class I3DFeatures:
    """Logits of an I3D SavedModel folder, as the standard FVD uses them: videos -> float64 [N, 400].

    The model is called through its signature ("default", the published TF1 hub format, else
    "serving_default") with one float32 [N, T, 224, 224, 3] input in [-1, 1], `batch_size` clips at
    a time; the output named "default", "logits" or "output_0" (or the only one) is flattened to
    [N, D].
    """

    def __init__(self, path: str, batch_size: int = 8):
        try:
            self._model = tf.saved_model.load(path)
        except (OSError, ValueError) as error:
            raise ValueError(f"--i3d_model={path} is not a loadable SavedModel: {error}") from error
        found = [name for name in I3D_SIGNATURES if name in self._model.signatures]
        if not found:
            raise ValueError(f"the SavedModel at {path} has no signature named {I3D_SIGNATURES}; "
                             f"it has {sorted(self._model.signatures)}")
        self._signature = self._model.signatures[found[0]]
        inputs = self._signature.structured_input_signature[1]
        if len(inputs) != 1:
            raise ValueError(f"the I3D signature {found[0]!r} of {path} must take one input, "
                             f"it takes {sorted(inputs)}")
        self._input_name = next(iter(inputs))
        self._path = path
        self._batch_size = batch_size

    def _pick_output(self, outputs: dict) -> tf.Tensor:
        if len(outputs) == 1:
            return next(iter(outputs.values()))
        for key in I3D_OUTPUT_KEYS:
            if key in outputs:
                return outputs[key]
        raise ValueError(f"cannot tell which output of {self._path} holds the features: "
                         f"{sorted(outputs)}; expected one of {I3D_OUTPUT_KEYS}")

    def __call__(self, videos: np.ndarray) -> np.ndarray:
        batches = []
        for start in range(0, len(videos), self._batch_size):
            inputs = i3d_preprocess(videos[start:start + self._batch_size])
            output = self._pick_output(self._signature(**{self._input_name: inputs}))
            batches.append(tf.reshape(output, [output.shape[0], -1]).numpy())
        return np.concatenate(batches).astype(np.float64)
