"""The BAIR robot pushing data set (softmotion30_44k) as a source of videos, without ffmpeg.

The release is `train/` and `test/` folders of `traj_<a>_to_<b>.tfrecords` files. Each record is
a `tf.train.Example` of one 30-step trajectory; `{i}/image_aux1/encoded` (i = 0..29) holds frame i
as raw 64x64x3 uint8 bytes (not PNG, whatever the key says), beside `{i}/image_main/encoded`,
`{i}/action` and `{i}/endeffector_pos`, which the job does not use. Like the papers that train
video GANs on BAIR, the clips come from the aux1 camera.

The driver lists files (`list_bair_files`); workers read one file per element (`ReadBairFileFn`)
and yield the same `DecodedVideo`s as the ffmpeg path, so clips, records and shards are shared.
"""

import dataclasses
import os

import apache_beam as beam
import numpy as np
import tensorflow as tf
from apache_beam.metrics import Metrics

from pipeline import schema
from pipeline.transforms import FAILED, NAMESPACE, VIDEOS, DecodedVideo, Progress, SplitByTag, failure

SPLITS = ("train", "test")
FILE_PATTERN = "traj_*_to_*.tfrecords"
FRAMES_PER_TRAJECTORY = 30
NATIVE_SIZE = 64
IMAGE_KEY = "{}/image_aux1/encoded"
# Both cameras' images plus a few floats: used to estimate trajectories per file from its size.
APPROX_BYTES_PER_TRAJECTORY = FRAMES_PER_TRAJECTORY * NATIVE_SIZE * NATIVE_SIZE * 3 * 2


@dataclasses.dataclass(frozen=True)
class BairFile:
    """One TFRecord file of the release; video ids are f"{relpath}#{record index}"."""

    relpath: str
    path: str
    split: str
    size_bytes: int = 0


def list_bair_files(input_root: str) -> list[BairFile]:
    """Every `<split>/traj_*_to_*.tfrecords` under input_root (local or gs://), sorted."""
    files = []
    for split in SPLITS:
        for path in sorted(tf.io.gfile.glob(os.path.join(input_root, split, FILE_PATTERN))):
            size = tf.io.gfile.stat(path).length
            files.append(BairFile(f"{split}/{os.path.basename(path)}", path, split, size))
    return files


def trajectory_frames(serialized: bytes) -> np.ndarray:
    """uint8 [T,64,64,3] from one record's `{i}/image_aux1/encoded` features, i = 0, 1, ..."""
    feature = tf.train.Example.FromString(serialized).features.feature
    frames = []
    while IMAGE_KEY.format(len(frames)) in feature:
        raw = feature[IMAGE_KEY.format(len(frames))].bytes_list.value[0]
        if len(raw) != NATIVE_SIZE * NATIVE_SIZE * 3:
            raise ValueError(f"{IMAGE_KEY.format(len(frames))} holds {len(raw)} bytes, expected "
                             f"{NATIVE_SIZE}x{NATIVE_SIZE}x3 = {NATIVE_SIZE * NATIVE_SIZE * 3} raw bytes")
        frames.append(np.frombuffer(raw, np.uint8).reshape(NATIVE_SIZE, NATIVE_SIZE, 3))
    if not frames:
        raise ValueError(f"record has no {IMAGE_KEY.format(0)} feature: not a BAIR softmotion record")
    return np.stack(frames)


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """Square frames to size x size (area averaging when shrinking), uint8 in and out."""
    if frames.shape[1] == size and frames.shape[2] == size:
        return frames
    method = "area" if size < frames.shape[1] else "bilinear"
    resized = tf.image.resize(frames, (size, size), method=method, antialias=True)
    return np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)


class ReadBairFileFn(beam.DoFn):
    """BairFile -> (VIDEOS, DecodedVideo) per trajectory; unreadable records or files go to FAILED."""

    def __init__(self, size: int, frame_stride: int | None):
        self._size, self._frame_stride = size, frame_stride or 1
        self._decoded = Metrics.counter(NAMESPACE, "videos_decoded")
        self._failed = Metrics.counter(NAMESPACE, "videos_failed")

    def setup(self):
        self._progress = Progress("bair")

    def process(self, bair_file: BairFile):
        read = 0
        try:
            for serialized in tf.data.TFRecordDataset(bair_file.path).as_numpy_iterator():
                yield from self._one(bair_file, read, serialized)
                read += 1
        except Exception as error:  # pylint: disable=broad-except
            # A truncated or corrupt file: the records read so far are kept, the rest is reported.
            self._failed.inc()
            reason = (f"unreadable TFRecord file after {read} good records: {type(error).__name__}: "
                      f"{str(error)[:300]} (re-download the file)")
            yield FAILED, failure(f"{bair_file.relpath}#{read}..", bair_file.path, bair_file.split, reason)

    def _one(self, bair_file: BairFile, index: int, serialized: bytes):
        video_id = f"{bair_file.relpath}#{index}"
        try:
            frames = resize_frames(trajectory_frames(serialized)[::self._frame_stride], self._size)
        except ValueError as error:
            self._failed.inc()
            self._progress.add(failed=True)
            yield FAILED, failure(video_id, bair_file.path, bair_file.split, str(error))
            return
        self._decoded.inc()
        self._progress.add(frames=len(frames))
        yield VIDEOS, DecodedVideo(video_id, bair_file.path, schema.UNLABELLED, bair_file.split, frames,
                                   source_size=(NATIVE_SIZE, NATIVE_SIZE))


class ReadBairFiles(beam.PTransform):
    """PCollection[BairFile] -> {VIDEOS: DecodedVideo, FAILED: reports}, as DecodeVideos gives."""

    def __init__(self, size: int, frame_stride: int | None):
        super().__init__()
        self._fn = ReadBairFileFn(size, frame_stride)

    def expand(self, files):
        return files | "ReadTrajectories" >> beam.ParDo(self._fn) | "Route" >> SplitByTag(VIDEOS, FAILED)


def write_bair_file(path: str, trajectories: np.ndarray) -> str:
    """Writes uint8 [B,T,64,64,3] trajectories as a softmotion-format TFRecord file.

    The layout of the release (aux1 and main images as raw bytes, a 4-d action and a 3-d end
    effector position per step), for tests and demos that need BAIR-shaped input.
    """
    trajectories = np.asarray(trajectories)
    if trajectories.dtype != np.uint8 or trajectories.shape[2:] != (NATIVE_SIZE, NATIVE_SIZE, 3):
        raise ValueError(f"trajectories for {path} must be uint8 [B,T,64,64,3], got "
                         f"{trajectories.dtype} {trajectories.shape}")
    tf.io.gfile.makedirs(os.path.dirname(path) or ".")
    with tf.io.TFRecordWriter(path) as writer:
        for trajectory in trajectories:
            feature = {}
            for i, frame in enumerate(trajectory):
                image = tf.train.Feature(bytes_list=tf.train.BytesList(value=[frame.tobytes()]))
                feature[IMAGE_KEY.format(i)] = image
                feature[f"{i}/image_main/encoded"] = image
                feature[f"{i}/action"] = tf.train.Feature(float_list=tf.train.FloatList(value=[0.0] * 4))
                feature[f"{i}/endeffector_pos"] = tf.train.Feature(
                    float_list=tf.train.FloatList(value=[0.0] * 3))
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    return path
