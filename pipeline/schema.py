"""The shard format: the one definition of a clip record and of a shard set's manifest.

Both halves import this module: the Beam job writes records with `encode_clip` and a manifest with
the keys defined here; the trainer parses records with `parse_clip` and reads manifests with
`read_manifest`. Changing a key or a meaning here is a format change and bumps `SCHEMA_VERSION`;
readers keep accepting the versions in `READABLE_SCHEMA_VERSIONS`. Where the files of a set sit and
how they are named (and versioned sets under a dataset root) is pipeline/shard_layout.py.

A record is a `tf.train.Example`:

    clip/frames    bytes     raw: one value of T*H*W*C uint8 bytes; png/jpeg: T values, one image each
    clip/encoding  bytes     b"raw", b"png" or b"jpeg"
    clip/shape     int64 x4  T, H, W, C
    clip/label     int64     class index, -1 when unlabelled
    clip/video_id  bytes     stable id of the source video (its path relative to the input root)
    clip/start     int64     index of the clip's first frame in the resampled video
"""

import dataclasses
import json
import os
from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow as tf

from pipeline import files, shard_layout

# 2 added the manifest's `data_generator`; a version-1 manifest is still read (see `_v1_data_generator`).
# 3 moved `producer["incremental"]`, an untyped dict, to the typed `incremental`; older manifests'
# dicts are converted on reading.
# 4 added each split's `file_bytes` (the size of each file as written): a shard cut exactly between
# two records reads as a valid shorter file, and only its size gives it away. Older sets have none.
SCHEMA_VERSION = 4
READABLE_SCHEMA_VERSIONS = (1, 2, 3, 4)
MANIFEST_NAME = shard_layout.MANIFEST_NAME
ENCODINGS = ("raw", "png", "jpeg")
COMPRESSIONS = shard_layout.COMPRESSIONS
UNLABELLED = -1

FRAMES = "clip/frames"
ENCODING = "clip/encoding"
SHAPE = "clip/shape"
LABEL = "clip/label"
VIDEO_ID = "clip/video_id"
START = "clip/start"

JPEG_QUALITY = 95

# `Manifest.data_generator` of a set made from the built-in Shape Motion generator
# (pipeline/datasets/shapes.py), which writes SHAPE_MOTION_GROUND_TRUTH beside its videos. The
# shape scores of trainer.evaluation.evaluate apply only to such sets; "" means recorded footage.
SHAPE_MOTION = "shape_motion"
SHAPE_MOTION_GROUND_TRUTH = "shapes.json"


class ShardFormatError(ValueError):
    """A shard set or record does not follow this format; the message says what to run."""


@dataclasses.dataclass(frozen=True)
class Clip:
    """One decoded clip as the pipeline produces it and tests read it back."""

    frames: np.ndarray  # uint8 [T, H, W, C]
    label: int
    video_id: str
    start: int


# ----------------------------------------------------------------------------------------------
# Records


def _bytes_feature(values: Sequence[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _int64_feature(values: Sequence[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _encode_frames(frames: np.ndarray, encoding: str) -> list[bytes]:
    if encoding == "raw":
        return [np.ascontiguousarray(frames).tobytes()]
    if encoding == "png":
        return [tf.io.encode_png(frame).numpy() for frame in frames]
    if encoding == "jpeg":
        return [tf.io.encode_jpeg(frame, quality=JPEG_QUALITY).numpy() for frame in frames]
    raise ValueError(f"unknown encoding {encoding!r}; choose one of {ENCODINGS}")


def encode_clip(clip: Clip, encoding: str = "raw") -> bytes:
    """Serialises a clip as a `tf.train.Example`."""
    frames = clip.frames
    if frames.dtype != np.uint8 or frames.ndim != 4:
        raise ValueError(
            f"clip of {clip.video_id!r} must be uint8 [T,H,W,C], got {frames.dtype} {frames.shape}")
    features = {
        FRAMES: _bytes_feature(_encode_frames(frames, encoding)),
        ENCODING: _bytes_feature([encoding.encode()]),
        SHAPE: _int64_feature(frames.shape),
        LABEL: _int64_feature([clip.label]),
        VIDEO_ID: _bytes_feature([clip.video_id.encode("utf-8")]),
        START: _int64_feature([clip.start]),
    }
    example = tf.train.Example(features=tf.train.Features(feature=features))
    return example.SerializeToString()


def decode_clip(serialized: bytes) -> Clip:
    """Parses one record eagerly into numpy; for tests, tools and validation, not the input path."""
    example = tf.train.Example.FromString(serialized)
    feature = example.features.feature
    shape = tuple(feature[SHAPE].int64_list.value)
    encoding = feature[ENCODING].bytes_list.value[0].decode()
    values = feature[FRAMES].bytes_list.value
    if encoding == "raw":
        frames = np.frombuffer(values[0], dtype=np.uint8).reshape(shape)
    elif encoding in ("png", "jpeg"):
        frames = np.stack([tf.io.decode_image(v, channels=shape[3]).numpy() for v in values])
    else:
        raise ShardFormatError(f"record has unknown clip/encoding {encoding!r}")
    return Clip(
        frames=frames,
        label=int(feature[LABEL].int64_list.value[0]),
        video_id=feature[VIDEO_ID].bytes_list.value[0].decode("utf-8"),
        start=int(feature[START].int64_list.value[0]),
    )


def feature_spec() -> dict[str, Any]:
    """The `tf.io.parse_example` spec of a record."""
    return {
        FRAMES: tf.io.RaggedFeature(tf.string),
        ENCODING: tf.io.FixedLenFeature([], tf.string),
        SHAPE: tf.io.FixedLenFeature([4], tf.int64),
        LABEL: tf.io.FixedLenFeature([], tf.int64, default_value=UNLABELLED),
        VIDEO_ID: tf.io.FixedLenFeature([], tf.string),
        START: tf.io.FixedLenFeature([], tf.int64),
    }


def parse_clip(serialized: tf.Tensor, shape: Sequence[int], encoding: str) -> dict[str, tf.Tensor]:
    """Parses one serialized record in graph mode (inside tf.data).

    `shape` and `encoding` come from the manifest, so the output has a static shape. Returns
    {"frames": uint8 [T,H,W,C], "label": int64 [], "video_id": string [], "shape": int64 [4]}
    where "shape" is what the record itself says, for validation against the manifest.
    """
    parsed = tf.io.parse_single_example(serialized, feature_spec())
    frames = parsed[FRAMES]
    if encoding == "raw":
        video = tf.reshape(tf.io.decode_raw(frames[0], tf.uint8), shape)
    elif encoding in ("png", "jpeg"):
        decode = tf.io.decode_png if encoding == "png" else tf.io.decode_jpeg
        video = tf.map_fn(
            lambda image: decode(image, channels=shape[3]), frames,
            fn_output_signature=tf.TensorSpec(shape[1:], tf.uint8))
        video = tf.ensure_shape(video, shape)
    else:
        raise ShardFormatError(f"unknown encoding {encoding!r} in the manifest; choose one of {ENCODINGS}")
    return {"frames": video, "label": parsed[LABEL], "video_id": parsed[VIDEO_ID],
            "shape": parsed[SHAPE]}


# ----------------------------------------------------------------------------------------------
# Manifest


def tf_compression_type(compression: str) -> str:
    """The `compression_type` argument of `tf.data.TFRecordDataset` for a manifest's compression."""
    return "GZIP" if compression == "gzip" else ""


@dataclasses.dataclass(frozen=True)
class SplitInfo:
    files: tuple[str, ...]  # shard file names, relative to the shard-set folder
    num_videos: int
    num_clips: int
    file_bytes: tuple[int, ...] = ()  # the size of each of `files` as written; () before version 4


@dataclasses.dataclass(frozen=True)
class Manifest:
    """What a whole shard set shares. Written last: a set is complete only when it exists."""

    clip_shape: tuple[int, int, int, int]  # T, H, W, C
    encoding: str
    compression: str
    class_names: tuple[str, ...]
    splits: Mapping[str, SplitInfo]
    dataset: str = ""
    fps: float | None = None
    frame_stride: int | None = None
    failed: tuple[Mapping[str, str], ...] = ()  # {"video_id", "path", "reason"}
    producer: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # version, options
    data_generator: str = ""  # SHAPE_MOTION for generated Shape Motion videos, "" for footage
    incremental: shard_layout.IncrementalEntry | None = None  # a versioned set's; None otherwise
    # Videos whose clips were enlarged from a source smaller than the clip size; None: not recorded
    # (an older set). An added key that older readers ignore, so no version bump.
    upscaled_videos: int | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def is_shape_motion(self) -> bool:
        return self.data_generator == SHAPE_MOTION

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, where: str = "manifest") -> "Manifest":
        """The manifest `text` holds; ShardFormatError naming `where` for anything else (not JSON,
        not an object, a missing key, a value of the wrong type)."""
        try:
            data = json.loads(text)
        except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
            raise ShardFormatError(f"{where} is not JSON ({error}): it was damaged or is not a "
                                   f"manifest. {_REBUILD}") from None
        if not isinstance(data, dict):
            raise ShardFormatError(f"{where} holds a JSON {type(data).__name__}, not a manifest "
                                   f"object. {_REBUILD}")
        try:
            return cls._from_dict(data, where)
        except KeyError as error:
            raise ShardFormatError(f"{where} has no {error.args[0]!r}: it is not a complete "
                                   f"manifest. {_REBUILD}") from None
        except (TypeError, ValueError, AttributeError) as error:
            raise ShardFormatError(f"{where} has a value of the wrong type ({error}). {_REBUILD}") from None

    @classmethod
    def _from_dict(cls, data: Mapping[str, Any], where: str) -> "Manifest":
        version = data.get("schema_version")
        if version not in READABLE_SCHEMA_VERSIONS:
            raise ShardFormatError(
                f"{where} has schema_version {version}, this code reads {READABLE_SCHEMA_VERSIONS}; "
                "re-run `make preprocess` with this version to rewrite the shards")
        splits = {
            name: SplitInfo(files=tuple(s["files"]), num_videos=int(s["num_videos"]),
                            num_clips=int(s["num_clips"]),
                            file_bytes=tuple(int(n) for n in s.get("file_bytes", ())))
            for name, s in data["splits"].items()
        }
        producer, incremental = _incremental_of(data, version)
        return cls(
            clip_shape=_clip_shape(data["clip_shape"]),
            encoding=data["encoding"],
            compression=data["compression"],
            class_names=tuple(data.get("class_names", ())),
            splits=splits,
            dataset=data.get("dataset", ""),
            fps=data.get("fps"),
            frame_stride=data.get("frame_stride"),
            failed=tuple(data.get("failed", ())),
            producer=producer,
            data_generator=data["data_generator"] if version >= 2 else _v1_data_generator(data),
            incremental=incremental,
            upscaled_videos=_optional_count(data.get("upscaled_videos")),
            schema_version=version,
        )

    def split_paths(self, shard_dir: str, split: str) -> list[str]:
        """Absolute shard paths of one split; a clear error when the split is absent."""
        if split not in self.splits:
            raise ShardFormatError(
                f"shard set {shard_dir} has no split {split!r} (it has {sorted(self.splits)})")
        return [os.path.join(shard_dir, name) for name in self.splits[split].files]

    def file_sizes(self, shard_dir: str) -> dict[str, int]:
        """{absolute shard path: its size as written} for every split that recorded sizes."""
        return {os.path.join(shard_dir, name): size for info in self.splits.values()
                for name, size in zip(info.files, info.file_bytes)}


_REBUILD = "Rebuild the shard set with `make preprocess` (or restore the file)."


def _optional_count(value) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ValueError(f"upscaled_videos must be a count (an integer >= 0), got {value!r}")
    return value


def _clip_shape(value) -> tuple[int, int, int, int]:
    if (not isinstance(value, list) or len(value) != 4
            or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in value)):
        raise ValueError(f"clip_shape must be four positive integers [T, H, W, C], got {value!r}")
    return tuple(value)


def _incremental_of(data: Mapping[str, Any], version: int):
    """(producer, incremental entry or None) of a manifest's JSON; before version 3 the entry was
    an untyped dict in the producer, taken out of it here so that it has one home."""
    producer = dict(data.get("producer", {}))
    entry = data.get("incremental") if version >= 3 else producer.pop("incremental", None)
    return producer, shard_layout.IncrementalEntry.from_dict(entry) if entry else None


def _v1_data_generator(data: Mapping[str, Any]) -> str:
    """What made a version-1 set, which did not record it: Shape Motion when the folder job read a
    folder that still holds the generator's ground truth file, else "" (footage, or unknown)."""
    options = data.get("producer", {}).get("options", {})
    root = str(options.get("input", "")).rstrip("/")
    if options.get("dataset") != "folder" or not root or any(c in root for c in "*?["):
        return ""
    return folder_data_generator(root)


def folder_data_generator(root: str) -> str:
    """SHAPE_MOTION when the folder `root` holds the Shape Motion generator's ground truth file,
    else "": what the folder job records as the `data_generator` of the videos under `root`."""
    return SHAPE_MOTION if tf.io.gfile.exists(os.path.join(root, SHAPE_MOTION_GROUND_TRUTH)) else ""


def read_manifest(shard_dir: str) -> Manifest:
    """Reads `<shard_dir>/manifest.json` (local or gs://) with an actionable error when absent."""
    path = os.path.join(shard_dir, MANIFEST_NAME)
    if not tf.io.gfile.exists(path):
        raise ShardFormatError(
            f"no {MANIFEST_NAME} in {shard_dir}: the shard set is missing or incomplete (a killed run "
            "writes no manifest). Run `make preprocess OUTPUT=...` to (re)build it.")
    with tf.io.gfile.GFile(path, "r") as f:
        return Manifest.from_json(f.read(), where=path)


def write_manifest(shard_dir: str, manifest: Manifest) -> str:
    """Writes the manifest atomically (temporary name, then rename), so a reader never sees half."""
    return files.atomic_write(os.path.join(shard_dir, MANIFEST_NAME), manifest.to_json())


@dataclasses.dataclass(frozen=True)
class ShardSet:
    """One complete versioned set under a dataset root."""

    name: str  # its version
    path: str
    manifest: Manifest


def read_sets(root: str) -> tuple[list[ShardSet], list[str]]:
    """(the complete versioned sets under `root` oldest first, with their manifests; the paths of
    version folders without a manifest). Listing follows pipeline/shard_layout.py."""
    listing = shard_layout.list_versions(root)
    sets = [ShardSet(name, listing.path(name), read_manifest(listing.path(name)))
            for name in listing.complete]
    return sets, [listing.path(name) for name in listing.incomplete]
