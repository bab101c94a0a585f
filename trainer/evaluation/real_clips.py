"""Which real clips a quality metric compares against, read from a shard set (protocol.py says how).

Two sets from disjoint videos: `real`, which generated videos are scored against, and
`reference`, which `real` is scored against (real against real: what a perfect generator would
score at this N). The pick reads every record's name (video id, first frame) without decoding
frames, then decodes only the clips picked; it depends on the names and the seed only, so two runs
of the pipeline on the same videos give the same sets whatever order the shards hold them in.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from pipeline import schema
from trainer import data as data_lib
from trainer.evaluation.protocol import Protocol


@dataclasses.dataclass(frozen=True)
class RealClips:
    """uint8 clips [N, T, H, W, 3], T the protocol's frames: `real` and `reference` (other
    videos), and `pool` (both and more, up to the `extra` asked for: the Shape Motion feature
    net's training clips)."""

    real: np.ndarray
    reference: np.ndarray
    pool: np.ndarray
    num_frames: int
    shards: data_lib.Shards


def _clip_key(serialized):
    """"<video id>:<start frame>", a clip's name, parsed without decoding its frames."""
    parsed = tf.io.parse_single_example(serialized, {
        schema.VIDEO_ID: tf.io.FixedLenFeature([], tf.string),
        schema.START: tf.io.FixedLenFeature([], tf.int64)})
    return tf.strings.join([parsed[schema.VIDEO_ID], tf.strings.as_string(parsed[schema.START])], ":")


def clips_by_video(records: tf.data.Dataset) -> dict[bytes, list[bytes]]:
    """{video id: its clip keys, sorted}: every record's name, no frames decoded."""
    videos = {}
    for key in records.map(_clip_key, num_parallel_calls=tf.data.AUTOTUNE).as_numpy_iterator():
        videos.setdefault(key.rsplit(b":", 1)[0], set()).add(key)
    return {video: sorted(keys) for video, keys in videos.items()}


def _across(videos: list[bytes], clips: dict[bytes, list[bytes]], count: int,
            rng: np.random.Generator) -> list[bytes]:
    """`count` clips drawn at random across `videos`: a round of one unused clip per video, in
    the videos' order, then another round, until there are `count` or none is left."""
    left = {video: list(rng.permutation(clips[video])) for video in videos}
    picked = []
    while len(picked) < count and any(left.values()):
        for video in videos:
            if left[video] and len(picked) < count:
                picked.append(left[video].pop())
    return picked


def pick_clips(clips: dict[bytes, list[bytes]], protocol: Protocol) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(real, reference, the other clips in a random order) as clip keys. Real and reference
    hold no video in common and are of one size: N, or fewer when the split is too small (the
    caller says so)."""
    rng = np.random.default_rng(protocol.seed)
    videos = [v for v in rng.permutation(np.array(sorted(clips), dtype=object))]
    if protocol.pick == "one_per_video":
        chosen = [clips[v][rng.integers(len(clips[v]))] for v in videos]
        count = min(protocol.num_videos, len(chosen) // 2)
        real, reference = chosen[:count], chosen[count:2 * count]
    else:  # across_videos: each set from its half of the videos
        halves = videos[:len(videos) // 2], videos[len(videos) // 2:]
        real, reference = (_across(half, clips, protocol.num_videos, rng) for half in halves)
        count = min(len(real), len(reference))
        real, reference = real[:count], reference[:count]
    used = set(real) | set(reference)
    rest = [key for video in videos for key in clips[video] if key not in used]
    return real, reference, rest


def _read(records: tf.data.Dataset, manifest: schema.Manifest, keys: list[bytes], num_frames: int) -> np.ndarray:
    """The clips named by `keys`, decoded, in the order of `keys`."""
    if not keys:
        return np.zeros((0, num_frames) + tuple(manifest.clip_shape[1:]), np.uint8)
    wanted = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(keys, tf.string), tf.range(len(keys), dtype=tf.int64)), -1)
    shape = tuple(manifest.clip_shape)
    ranked = records.map(lambda s: (wanted.lookup(_clip_key(s)), s)).filter(lambda rank, _: rank >= 0)
    clips = ranked.map(lambda rank, s: (rank, schema.parse_clip(s, shape, manifest.encoding)["frames"][:num_frames]),
                       num_parallel_calls=tf.data.AUTOTUNE)
    out = np.zeros((len(keys), num_frames) + shape[1:], np.uint8)
    for rank, frames in clips.as_numpy_iterator():
        out[rank] = frames
    return out


def load_real_clips(tfrecords: str, protocol: Protocol, extra: int = 0) -> RealClips:
    """The real and reference sets of `protocol` from the shard set `tfrecords` (and `extra`
    clips at most for the pool). A split with fewer than two videos is refused; one with fewer
    than 2N gives smaller sets, which evaluate.check_sample_size refuses or allows."""
    shards = data_lib.resolve_shards(tfrecords, protocol.split)
    num_frames = protocol.frames_for(shards.manifest.clip_shape[0])
    records = data_lib.read_records(shards)  # every complete set of a dataset root, superseded clips left out
    real, reference, rest = pick_clips(clips_by_video(records), protocol)
    if len(real) < 2:
        raise ValueError(f"{tfrecords} ({protocol.split}) has too few videos to form two disjoint sets "
                         f"of real clips ({len(real)} clips each); give it more videos")
    pool_rest = rest[:max(0, extra - len(real) - len(reference))]
    clips = _read(records, shards.manifest, real + reference + pool_rest, num_frames)
    return RealClips(real=clips[:len(real)], reference=clips[len(real):len(real) + len(reference)],
                     pool=clips, num_frames=num_frames, shards=shards)


def is_shape_motion(tfrecords: str, split: str = "train") -> bool:
    """Whether the shard set's manifest says the Shape Motion generator made its videos."""
    return data_lib.resolve_shards(tfrecords, split).manifest.is_shape_motion
