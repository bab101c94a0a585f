"""The shard-set layout: how shard files are named, and how versioned sets sit under a dataset root.

A shard set is one folder: its shard files `<split>-SSSSS-of-NNNNN.tfrecord[.gz]` and, written
last, `manifest.json` (pipeline/schema.py). A job that replaces a set in the same folder names its
files `<split>-SSSSS-of-NNNNN.<tag>.tfrecord[.gz]` (8 hex digits) so that they never overwrite the
set they replace (pipeline/set_swap.py); readers take the names from the manifest. Incremental preprocessing (pipeline/incremental.py)
writes one set per run under a dataset root, named by the UTC time the run started:

    <root>/20261121T224512.123456Z/manifest.json, train-00000-of-00001.tfrecord, ...
    <root>/20261122T030000.000000Z/...

Version names sort as text in time order. A set is complete only when its manifest exists; a
version folder without one is what a killed run leaves. Each versioned set's manifest carries an
`IncrementalEntry`: what the run processed and which earlier sets' clips it replaced.

This module imports nothing else from the pipeline, so the schema and the trainer both build on it.
All listing goes through tf.io.gfile, so a root on gs:// (or ram://) reads like a local one.
"""

import dataclasses
import datetime
import posixpath
import re
from typing import Any, Mapping

import tensorflow as tf

MANIFEST_NAME = "manifest.json"
COMPRESSIONS = ("none", "gzip")
VERSION_FORMAT = "%Y%m%dT%H%M%S.%fZ"
_VERSION_RE = re.compile(r"^\d{8}T\d{6}\.\d{6}Z$")
_SHARD_RE = re.compile(
    r"^(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})(?:\.(?P<tag>[0-9a-f]{8}))?\.tfrecord(?P<gz>\.gz)?$")
TAG_RE = re.compile(r"^[0-9a-f]{8}$")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)$")
# What every set of one dataset root must share for the trainer to read them as one data set.
SHARED_FIELDS = ("dataset", "clip_shape", "encoding", "compression", "fps", "frame_stride",
                 "class_names")


# ----------------------------------------------------------------------------------------------
# Shard file names


def shard_suffix(compression: str) -> str:
    """The file name ending of a shard: `.tfrecord` or `.tfrecord.gz`."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}; choose one of {COMPRESSIONS}")
    return ".tfrecord.gz" if compression == "gzip" else ".tfrecord"


@dataclasses.dataclass(frozen=True)
class ShardName:
    """What a shard file's name says: shard `index` of `count` of a split."""

    split: str
    index: int
    count: int
    compression: str
    tag: str = ""  # "" or the 8 hex digits of a set written beside an earlier one


def shard_file_name(split: str, index: int, count: int, compression: str, tag: str = "") -> str:
    """`<split>-SSSSS-of-NNNNN[.<tag>].tfrecord[.gz]`: without a tag, the names Beam's
    WriteToTFRecord gives."""
    if tag and not TAG_RE.match(tag):
        raise ValueError(f"shard tag {tag!r} must be 8 hex digits")
    tagged = f".{tag}" if tag else ""
    return f"{split}-{index:05d}-of-{count:05d}{tagged}{shard_suffix(compression)}"


def parse_shard_file_name(name: str) -> ShardName | None:
    """The parts of a shard file name (a bare name, no folder), or None when it is not one."""
    match = _SHARD_RE.match(name)
    if not match:
        return None
    return ShardName(match["split"], int(match["index"]), int(match["count"]),
                     "gzip" if match["gz"] else "none", match["tag"] or "")


def shard_glob(split: str, compression: str, tag: str = "") -> str:
    """A glob matching every untagged (or `tag`-tagged) shard file name of a split."""
    return f"{split}-?????-of-?????{'.' + tag if tag else ''}{shard_suffix(compression)}"


# ----------------------------------------------------------------------------------------------
# Paths


def normalise(path: str) -> str:
    """One spelling per folder: no trailing slash, no `./` or `//`, a URL scheme kept.

    Used wherever two paths are compared as text (the sets under a root, stale-clip keys)."""
    match = _SCHEME_RE.match(path)
    scheme, rest = (match[1], match[2]) if match else ("", path)
    if not rest.strip("/"):
        return scheme + rest[:1]  # "" or "/": nothing to normalise
    return scheme + posixpath.normpath(rest)


# ----------------------------------------------------------------------------------------------
# Versioned sets under a dataset root


def version_name(now: datetime.datetime) -> str:
    return now.astimezone(datetime.timezone.utc).strftime(VERSION_FORMAT)


def is_version_name(name: str) -> bool:
    return bool(_VERSION_RE.match(name))


def version_folders(root: str) -> list[str]:
    """Names of the version sub-folders of `root`, oldest first; [] when `root` is not a folder."""
    if not tf.io.gfile.isdir(root):
        return []
    names = (name.rstrip("/") for name in tf.io.gfile.listdir(root))  # gs:// lists "name/"
    return sorted(name for name in names if is_version_name(name))


@dataclasses.dataclass(frozen=True)
class Listing:
    """The version folders under a root, split by whether their manifest exists."""

    root: str  # normalised
    complete: tuple[str, ...]  # version names, oldest first
    incomplete: tuple[str, ...]

    def path(self, name: str) -> str:
        return posixpath.join(self.root, name)


def list_versions(root: str) -> Listing:
    """The complete and incomplete versioned sets under `root` (a set is complete when its
    manifest exists)."""
    root = normalise(root)
    complete, incomplete = [], []
    for name in version_folders(root):
        manifest = posixpath.join(root, name, MANIFEST_NAME)
        (complete if tf.io.gfile.exists(manifest) else incomplete).append(name)
    return Listing(root, tuple(complete), tuple(incomplete))


def is_versioned_root(root: str) -> bool:
    """A folder without a manifest of its own holding version folders (complete or not)."""
    if tf.io.gfile.exists(posixpath.join(root, MANIFEST_NAME)):
        return False
    return bool(version_folders(root))


# ----------------------------------------------------------------------------------------------
# The incremental entry of a versioned set's manifest


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """A source video as it was when processed; a video is redone when this changes."""

    size: int
    mtime: float

    def same_as(self, other: "Fingerprint") -> bool:
        # JSON keeps floats exactly, but allow for file systems that round times differently.
        return self.size == other.size and abs(self.mtime - other.mtime) < 1e-3

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Fingerprint":
        return cls(size=int(data.get("size", -1)), mtime=float(data.get("mtime", 0.0)))


@dataclasses.dataclass(frozen=True)
class IncrementalEntry:
    """What one incremental run processed (`Manifest.incremental` of its set)."""

    version: str  # the set's folder name
    listed: int  # videos in the input
    new: tuple[str, ...]  # ids no earlier set held
    changed: tuple[str, ...]  # ids an earlier set held with another fingerprint
    fingerprints: Mapping[str, Fingerprint]  # every video processed, clips or failed
    earlier_sets: tuple[str, ...]  # the sets under the root before this run

    @property
    def superseded(self) -> tuple[str, ...]:
        """Ids whose clips in `earlier_sets` are stale: the changed videos, processed again."""
        return self.changed

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "IncrementalEntry":
        """From a manifest's JSON: version 3's `incremental`, or the untyped dict that versions 1
        and 2 kept in `producer["incremental"]` (same keys, and a `superseded` copy of changed)."""
        changed = data.get("changed", data.get("superseded", ()))
        return cls(version=str(data.get("version", "")), listed=int(data.get("listed", 0)),
                   new=tuple(data.get("new", ())), changed=tuple(changed),
                   fingerprints={video_id: Fingerprint.from_dict(value)
                                 for video_id, value in data.get("fingerprints", {}).items()},
                   earlier_sets=tuple(data.get("earlier_sets", ())))
