"""The class probe: D_I's architecture trained alone to tell real frames' classes apart."""

import os

import numpy as np
import pytest
import tensorflow as tf

from pipeline import schema, shape_drawing
from trainer.evaluation import class_probe

CLIP = (4, 32, 32, 3)


def write_split_shards(directory, per_split=64):
    """A dim disc or a bright square of radius 7 (the class) per clip, at a random place, in a
    train and a test split: a task any working classifier learns in a few steps."""
    rng = np.random.default_rng(0)
    splits = {}
    for split in ("train", "test"):
        name = f"{split}-00000-of-00001.tfrecord"
        with tf.io.TFRecordWriter(os.path.join(directory, name)) as writer:
            for k in range(per_split):
                label = k % 2
                centres = np.repeat(rng.uniform(8, 24, (1, 2)), CLIP[0], axis=0)
                frames = shape_drawing.render_frames(shape_drawing.SHAPES[label],
                                                     rng.integers(40, 80, 3) + 170 * label, 7.0,
                                                     centres, 32)
                writer.write(schema.encode_clip(schema.Clip(
                    frames=frames, label=label, video_id=f"{split}{k}.avi", start=0)))
        splits[split] = schema.SplitInfo(files=(name,), num_videos=per_split, num_clips=per_split)
    schema.write_manifest(directory, schema.Manifest(
        clip_shape=CLIP, encoding="raw", compression="none", class_names=shape_drawing.SHAPES,
        splits=splits, dataset="folder"))
    return str(directory)


def test_frames_are_picked_clip_by_clip_with_their_labels():
    videos = tf.reshape(tf.range(4 * 3, dtype=tf.float32), [4, 3, 1, 1, 1])  # value = 3 * clip + t
    frames, labels = class_probe.picked_frames(videos, tf.constant([5, 6, 7, 8]), 8, [0, 1])
    clips = frames.numpy().ravel() // 3
    np.testing.assert_array_equal(clips, [0, 0, 1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(labels.numpy(), [5, 5, 6, 6, 7, 7, 8, 8])


def test_it_learns_the_classes_of_held_out_frames(tmp_path):
    shards = write_split_shards(tmp_path)
    curve = class_probe.train_classifier(shards, "demo", steps=150, every=75, test_batches=8,
                                         batch_size=8, image_batch_size=16)
    assert [step for step, _ in curve] == [0, 75, 150]
    assert curve[-1][1] >= 0.9, curve


def test_it_refuses_a_shard_set_without_classes(tmp_path):
    from tests.trainer_shards import write_shards
    shards = write_shards(tmp_path / "unlabelled", labelled=False)
    with pytest.raises(ValueError, match="no classes to tell apart"):
        class_probe.train_classifier(shards, "demo", steps=1, every=1)
