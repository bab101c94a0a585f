"""Which real clips a quality metric compares against, read from a shard set.

The pick depends on the clips' names only (video id and start frame), never on the order the
shards hold the records in, so two runs of the pipeline on the same videos give the same sets.
"""

import hashlib

import numpy as np
import tensorflow as tf

from pipeline import schema
from trainer import data as data_lib

# Pick this many times --num_videos clips (at least READ_MIN), then sample from them: clips of one
# video sit together in a shard, so the first few clips would come from few videos.
READ_CAP_FACTOR = 4
READ_MIN = 512

def _parse_with_id(serialized, shape, encoding):
    clip = schema.parse_clip(serialized, shape, encoding)  # one parse gives both
    return clip["frames"], clip["video_id"]


def _clip_key(serialized):
    """"<video id>:<start frame>", a clip's name, parsed without decoding its frames."""
    parsed = tf.io.parse_single_example(serialized, {
        schema.VIDEO_ID: tf.io.FixedLenFeature([], tf.string),
        schema.START: tf.io.FixedLenFeature([], tf.int64)})
    return tf.strings.join([parsed[schema.VIDEO_ID], tf.strings.as_string(parsed[schema.START])], ":")


def _stable_rank(key: bytes) -> bytes:
    # sha256, not crc32: crc32 is linear, so keys that differ in one digit land together.
    return hashlib.sha256(key).digest()


def _picked_keys(records: tf.data.Dataset, count: int) -> list[bytes]:
    """The `count` clip keys of lowest stable rank: the same clips however the shards are ordered
    (Beam writes the same clips in another order each run). Reads every record's name, no frames."""
    keys = records.map(_clip_key, num_parallel_calls=tf.data.AUTOTUNE).as_numpy_iterator()
    return sorted(set(keys), key=_stable_rank)[:count]


def load_real_clips(tfrecords: str, split: str, num_videos: int, seed: int = 0,
                    extra: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two disjoint sets of real clips (uint8), split by a stable hash of the video id so that no
    video is in both, each of up to `num_videos` clips sampled with `seed` from a pick of
    max(READ_CAP_FACTOR * num_videos, READ_MIN, extra) clips; plus every clip picked, for training
    the feature net. The pick and its order depend on the clips' names only, not on the order of
    the shards' records, so two runs of the pipeline on the same videos give the same sets."""
    shards = data_lib.resolve_shards(tfrecords, split)
    manifest = shards.manifest
    records = data_lib.read_records(shards)  # every complete set of a dataset root, superseded clips left out
    picked = _picked_keys(records, max(READ_CAP_FACTOR * num_videos, READ_MIN, extra))
    wanted = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(picked or [b""], tf.string), tf.range(max(len(picked), 1), dtype=tf.int64)), -1)
    ranked = records.map(lambda s: (wanted.lookup(_clip_key(s)), s))  # each name parsed once
    dataset = ranked.filter(lambda rank, _: rank >= 0).map(
        lambda rank, s: (*_parse_with_id(s, tuple(manifest.clip_shape), manifest.encoding), rank))
    clips = sorted(dataset.as_numpy_iterator(), key=lambda clip: clip[2])  # in rank order
    halves = ([], [])
    for frames, video_id, _ in clips:
        halves[hashlib.sha256(video_id).digest()[0] % 2].append(frames)
    if min(len(h) for h in halves) < 2:
        raise ValueError(f"{tfrecords} ({split}) has too few videos to form two disjoint sets of real "
                         f"clips ({len(halves[0])} and {len(halves[1])} clips); give it more videos")
    count = min(num_videos, *(len(h) for h in halves))
    rng = np.random.default_rng(seed)
    picked = [np.stack([h[i] for i in sorted(rng.permutation(len(h))[:count])]) for h in halves]
    return picked[0], picked[1], np.stack(halves[0] + halves[1])


def is_shape_motion(tfrecords: str, split: str = "train") -> bool:
    """Whether the shard set's manifest says the Shape Motion generator made its videos."""
    return data_lib.resolve_shards(tfrecords, split).manifest.is_shape_motion

