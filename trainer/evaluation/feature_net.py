"""A small video CNN trained on real Shape Motion clips; its penultimate layer gives clip features.

Without a user-supplied I3D model, the Fréchet video distance of this project is computed on these
features. The network learns two things a good generator must get right on this data: which shape
is moving (circle or square) and in which diagonal direction (the quadrant of its displacement over
the first frames, read from the blob's centroid track, so no label file is needed). It looks at
pairs of consecutive frames with 2-D convolutions and pools over space and time; 300 steps train
in under a minute on a free 2-core CPU. It is saved once and reused:

    <cache_dir>/feature_net.keras    the classifier (Keras 3 format)
    <cache_dir>/feature_net.json     what it was trained on and its held-out accuracies

`load_or_train(cache_dir, clips)` is the entry point; `FeatureNet(model)(videos)` returns
features [N, FEATURE_DIM].
"""

import json
import math
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from pipeline import files
from trainer.evaluation import shape_metrics
from trainer.pixels import as_model_range

FEATURE_DIM = 64
NUM_SHAPES = 2
NUM_DIRECTIONS = 4
FEATURE_LAYER = "features"
MODEL_NAME = "feature_net.keras"
INFO_NAME = "feature_net.json"
# Frames between which the direction of motion is read; short, so that a bounce rarely intervenes.
DIRECTION_SPAN = 2
# A first frame whose foreground fills more of its bounding box than this shows a square.
SQUARE_FILL = 0.9


def direction_labels(videos: np.ndarray) -> np.ndarray:
    """Quadrant 0-3 of the largest blob's displacement from frame 0 to frame DIRECTION_SPAN:
    2 * (moving left) + (moving up). A clip with no blob in those frames gets 0."""
    stats = shape_metrics.blob_stats(videos[:, :DIRECTION_SPAN + 1])
    displacement = np.nan_to_num(stats.centroid[:, DIRECTION_SPAN] - stats.centroid[:, 0])
    return (2 * (displacement[:, 0] < 0) + (displacement[:, 1] < 0)).astype(np.int64)


def shape_labels_from_pixels(videos: np.ndarray) -> np.ndarray:
    """0 circle, 1 square, from how fully the first frame's foreground fills its bounding box
    (pi/4 for a disc, 1 for a square); for shard sets without labels."""
    fill, _ = shape_metrics.box_fill(shape_metrics.foreground_mask(videos[:, :1])[:, 0])
    return (np.nan_to_num(fill) > SQUARE_FILL).astype(np.int64)


@keras.saving.register_keras_serializable(package="shape_motion")
class FramePairEncoder(keras.layers.Layer):
    """2-D convolutions on every pair of consecutive frames, time folded into the batch.

    Each step sees frame t and the difference to frame t+1 (6 channels); the difference's leading
    and trailing edges show the direction of motion. [B, T, H, W, 3] -> [B, T-1, H/8, W/8, 64].
    3-D convolutions would say the same, but their gradients are an order of magnitude slower on
    a CPU here, and this net has to train in well under a minute.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.patches = keras.layers.Conv2D(16, 4, strides=4, activation="relu")
        self.down = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")
        self.mix = keras.layers.Conv2D(64, 3, padding="same", activation="relu")

    def build(self, input_shape):
        # Building the children here is what lets a saved model load its weights back.
        height, width, channels = input_shape[2:]
        self.patches.build((None, height, width, 2 * channels))
        self.down.build((None, height // 4, width // 4, 16))
        self.mix.build((None, height // 8, width // 8, 32))
        super().build(input_shape)

    def call(self, clips):
        pairs = keras.ops.concatenate([clips[:, :-1], clips[:, 1:] - clips[:, :-1]], axis=-1)
        shape = keras.ops.shape(pairs)
        frames = keras.ops.reshape(pairs, (-1, shape[2], shape[3], shape[4]))
        maps = self.mix(self.down(self.patches(frames)))
        map_shape = keras.ops.shape(maps)
        return keras.ops.reshape(maps, (shape[0], shape[1], map_shape[1], map_shape[2], map_shape[3]))

    def compute_output_shape(self, input_shape):
        batch, time, height, width, _ = input_shape
        return (batch, None if time is None else time - 1, height // 8, width // 8, 64)


def build(size: int = 64) -> keras.Model:
    """The classifier: frame-pair convolutions, global max pooling over time and space (the blob
    is small; averaging would drown it in background), a FEATURE_DIM layer and two heads. Any clip
    length of two frames or more works."""
    if size % 8:
        raise ValueError(f"the feature net needs a frame size divisible by 8, got {size}")
    inputs = keras.Input(shape=(None, size, size, 3), name="clips")
    x = FramePairEncoder(name="frame_pairs")(inputs)
    x = keras.layers.GlobalMaxPooling3D()(x)
    features = keras.layers.Dense(FEATURE_DIM, activation="relu", name=FEATURE_LAYER)(x)
    shape = keras.layers.Dense(NUM_SHAPES, name="shape")(features)
    direction = keras.layers.Dense(NUM_DIRECTIONS, name="direction")(features)
    return keras.Model(inputs, {"shape": shape, "direction": direction}, name="shape_motion_features")


def train(clips: np.ndarray, shape_labels: np.ndarray, steps: int = 300, batch_size: int = 16,
          seed: int = 0, holdout: float = 0.2, learning_rate: float = 3e-3) -> tuple[keras.Model, dict]:
    """Trains on uint8 or [-1, 1] clips [N, T, H, W, 3] with shape labels (0 circle, 1 square) and
    direction labels from the clips' own centroid tracks; returns the model and its accuracies on
    a held-out share of the clips."""
    clips = as_model_range(clips)
    targets = {"shape": np.asarray(shape_labels, np.int64), "direction": direction_labels(clips)}
    keras.utils.set_random_seed(seed)
    order = np.random.default_rng(seed).permutation(len(clips))
    num_held = max(1, int(len(clips) * holdout))
    held, fit = order[:num_held], order[num_held:]
    # Whole epochs of at least `steps` updates: the shape head needs about a hundred to take off.
    epochs = max(1, math.ceil(steps * batch_size / len(fit)))
    model = build(clips.shape[2])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss={"shape": loss, "direction": loss},
                  metrics={"shape": ["accuracy"], "direction": ["accuracy"]})
    model.fit(clips[fit], {k: v[fit] for k, v in targets.items()}, epochs=epochs,
              batch_size=batch_size, verbose=0)
    predicted = model.predict(clips[held], batch_size=batch_size, verbose=0)
    info = {
        "num_train_clips": int(len(fit)), "num_heldout_clips": int(len(held)), "epochs": epochs,
        "clip_shape": list(clips.shape[1:]),
        "heldout_shape_accuracy": float(np.mean(predicted["shape"].argmax(-1) == targets["shape"][held])),
        "heldout_direction_accuracy": float(
            np.mean(predicted["direction"].argmax(-1) == targets["direction"][held])),
    }
    return model, info


class FeatureNet:
    """Callable feature extractor: videos [N, T, H, W, 3] (uint8 or [-1, 1]) -> float64 [N, 64]."""

    def __init__(self, classifier: keras.Model, batch_size: int = 32):
        self.classifier = classifier
        self._features = keras.Model(classifier.input, classifier.get_layer(FEATURE_LAYER).output)
        self._batch_size = batch_size

    def __call__(self, videos: np.ndarray) -> np.ndarray:
        features = self._features.predict(as_model_range(videos), batch_size=self._batch_size,
                                          verbose=0)
        return np.asarray(features, np.float64)


def save(model: keras.Model, info: dict, cache_dir: str) -> None:
    """Writes the model and its info; through a local file so that gs:// folders work too."""
    tf.io.gfile.makedirs(cache_dir)
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, MODEL_NAME)
        model.save(local)
        with files.atomic_path(os.path.join(cache_dir, MODEL_NAME)) as tmp:
            tf.io.gfile.copy(local, tmp, overwrite=True)
    files.atomic_write(os.path.join(cache_dir, INFO_NAME), json.dumps(info, indent=1))


def load(cache_dir: str) -> tuple[keras.Model, dict] | None:
    """The saved model and info in `cache_dir`, or None when there is none."""
    path = os.path.join(cache_dir, MODEL_NAME)
    if not tf.io.gfile.exists(path):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, MODEL_NAME)
        tf.io.gfile.copy(path, local)
        model = keras.models.load_model(local)
    info_path = os.path.join(cache_dir, INFO_NAME)
    info = json.loads(tf.io.gfile.GFile(info_path).read()) if tf.io.gfile.exists(info_path) else {}
    return model, info


def load_or_train(cache_dir: str, clips: np.ndarray | None, shape_labels: np.ndarray | None = None,
                  **train_kwargs) -> tuple[FeatureNet, dict]:
    """The cached feature net of `cache_dir`, trained on `clips` first if there is none yet.

    `shape_labels` (0 circle, 1 square) default to `shape_labels_from_pixels`, so unlabelled
    shard sets work. A cached net made for another frame size is refused, not silently misused.
    `clips` may be None when the net is known to be cached.
    """
    cached = load(cache_dir)
    if cached is not None:
        model, info = cached
        if clips is not None and tuple(model.input.shape[2:4]) != tuple(clips.shape[2:4]):
            raise ValueError(f"the feature net in {cache_dir} was trained on {model.input.shape[2:4]} "
                             f"frames, these clips are {clips.shape[2:4]}; use another --feature_model_dir")
        return FeatureNet(model), dict(info, reused=True)
    if clips is None:
        raise ValueError(f"no feature net in {cache_dir} and no clips to train one on")
    if shape_labels is None:
        shape_labels = shape_labels_from_pixels(clips)
    model, info = train(clips, shape_labels, **train_kwargs)
    save(model, info, cache_dir)
    return FeatureNet(model), dict(info, reused=False)
