"""Per-frame FID: Inception-v3 pool features of single frames, real against generated.

Content quality as StyleGAN-V and DIGAN report it beside FVD: frames are taken from the clips,
fed to Inception-v3 without its classifier (global average pooling, 2048 features), and the Fréchet
distance of the two Gaussian fits is the FID. Frames are resized bilinearly to 299x299 and scaled
to [-1, 1], which is what `keras.applications.inception_v3.preprocess_input` does to 0-255 pixels.

`InceptionFrameFeatures(path)` takes what trainer/evaluation/pretrained.py finds: a whole `.keras` feature model
(as `python -m trainer.evaluation.pretrained --save_inception` writes it), or an `.h5` weights file of Keras'
`InceptionV3(include_top=False, pooling='avg')`.
"""

import keras
import numpy as np
import tensorflow as tf

from trainer.pixels import as_model_range

INCEPTION_SIZE = 299


def load_model(path: str) -> keras.Model:
    """The feature model: images [N, 299, 299, 3] in [-1, 1] -> features [N, D]."""
    if path.endswith(".keras"):
        return keras.models.load_model(path, compile=False)
    model = keras.applications.InceptionV3(include_top=False, pooling="avg", weights=None,
                                           input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3))
    try:
        model.load_weights(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"--inception_weights={path} holds no weights of InceptionV3(include_top=False): "
                         f"{error}; give Keras' ImageNet notop .h5 file or a .keras feature model") from error
    return model


def pick_frames(videos: np.ndarray, frames_per_video: int) -> np.ndarray:
    """`frames_per_video` frames of each video, evenly spaced from the first to the last:
    [N, T, H, W, 3] -> [N * frames_per_video, H, W, 3]. All frames when T is smaller."""
    num_frames = videos.shape[1]
    count = min(frames_per_video, num_frames)
    times = np.round(np.linspace(0, num_frames - 1, count)).astype(int)
    return videos[:, times].reshape((-1,) + videos.shape[2:])


class InceptionFrameFeatures:
    """Callable: videos [N, T, H, W, 3] (uint8 or [-1, 1]) -> float64 [N * frames, D]."""

    def __init__(self, path: str, frames_per_video: int = 4, batch_size: int = 32):
        if frames_per_video < 1:
            raise ValueError(f"--fid_frames_per_video={frames_per_video} must be at least 1")
        self.model = load_model(path)
        self._frames_per_video = frames_per_video
        self._batch_size = batch_size

    def __call__(self, videos: np.ndarray) -> np.ndarray:
        frames = as_model_range(pick_frames(np.asarray(videos), self._frames_per_video))
        batches = []
        for start in range(0, len(frames), self._batch_size):
            resized = tf.image.resize(frames[start:start + self._batch_size], [INCEPTION_SIZE, INCEPTION_SIZE],
                                      method="bilinear")
            features = self.model(resized, training=False)
            batches.append(np.asarray(features).reshape(len(resized), -1))
        return np.concatenate(batches).astype(np.float64)
