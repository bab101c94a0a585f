"""Tiny shard sets for the trainer's tests, written with the pipeline's own schema module.

The clips are moving squares (a bright square sliding one pixel a frame on a dark background), so
they have both content and motion and a 'label' (the direction) the conditional model can use.
"""

import os

import numpy as np
import tensorflow as tf

from pipeline import schema, shard_layout
from pipeline.datasets import shapes

CLASS_NAMES = ("right", "down")


def moving_square_clip(rng: np.random.Generator, shape, label: int) -> np.ndarray:
    t, h, w, c = shape
    frames = np.full(shape, 20, dtype=np.uint8)
    size = max(2, h // 4)
    y, x = rng.integers(0, h - size - t), rng.integers(0, w - size - t)
    colour = rng.integers(128, 256, size=c)
    for i in range(t):
        dy, dx = (0, i) if label == 0 else (i, 0)
        frames[i, y + dy:y + dy + size, x + dx:x + dx + size] = colour
    return frames


def write_shards(directory, num_files: int = 2, clips_per_file: int = 8, shape=(4, 32, 32, 3),
                 encoding: str = "raw", compression: str = "none", labelled: bool = True,
                 seed: int = 0, manifest_shape=None, split: str = "train", data_generator: str = "") -> str:
    """Writes `num_files` shards and a manifest into `directory`; returns the directory."""
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = []
    for i in range(num_files):
        name = shard_layout.shard_file_name(split, i, num_files, compression)
        options = tf.io.TFRecordOptions(compression_type=schema.tf_compression_type(compression))
        with tf.io.TFRecordWriter(os.path.join(directory, name), options) as writer:
            for j in range(clips_per_file):
                label = int((i + j) % 2) if labelled else schema.UNLABELLED
                clip = schema.Clip(frames=moving_square_clip(rng, shape, max(label, 0)),
                                   label=label, video_id=f"video{i}_{j}.avi", start=0)
                writer.write(schema.encode_clip(clip, encoding))
        names.append(name)
    manifest = schema.Manifest(
        clip_shape=tuple(manifest_shape or shape), encoding=encoding, compression=compression,
        class_names=CLASS_NAMES if labelled else (),
        splits={split: schema.SplitInfo(files=tuple(names), num_videos=num_files * clips_per_file,
                                        num_clips=num_files * clips_per_file,
                                        file_bytes=tuple(os.path.getsize(os.path.join(directory, n))
                                                         for n in names))},
        dataset="moving_squares", data_generator=data_generator)
    schema.write_manifest(directory, manifest)
    return directory


def write_shape_shards(directory, num_videos=24, clip_shape=(4, 32, 32, 3), reverse=False):
    """Two clips per Shape Motion video, written with the pipeline's schema, labelled by shape;
    `reverse` writes the same records in the opposite order."""
    t, size = clip_shape[0], clip_shape[1]
    os.makedirs(directory, exist_ok=True)
    name = "train-00000-of-00001.tfrecord"
    records = []
    for k in range(num_videos):
        params = shapes.sample_params(0, k, size)
        frames = shapes.render_video(params, 2 * t, size)
        for start in (0, t):
            clip = schema.Clip(frames=frames[start:start + t], label=shapes.SHAPES.index(params.shape),
                               video_id=f"{params.shape}/video_{k:05d}.avi", start=start)
            records.append(schema.encode_clip(clip))
    with tf.io.TFRecordWriter(os.path.join(directory, name)) as writer:
        for record in reversed(records) if reverse else records:
            writer.write(record)
    schema.write_manifest(directory, schema.Manifest(
        clip_shape=clip_shape, encoding="raw", compression="none", class_names=shapes.SHAPES,
        splits={"train": schema.SplitInfo(files=(name,), num_videos=num_videos, num_clips=2 * num_videos)},
        dataset="folder", data_generator=schema.SHAPE_MOTION))
    return directory
