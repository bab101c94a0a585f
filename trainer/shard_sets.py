"""Reading a dataset root of several shard sets, and shard files that may be corrupt.

Incremental preprocessing (`python -m pipeline.main --incremental=on`) writes one shard set per run
under a dataset root:

    shards/mine/20261121T224512.123456Z/manifest.json, train-00000-of-00001.tfrecord, ...
    shards/mine/20261122T030000.000000Z/...

`resolve_root` reads every complete set under the root (sub-folders with a manifest, oldest name
first; one without a manifest is a killed run and is skipped with a warning), checks that they
agree on what a clip is, and returns their files for one split. A set's manifest lists, under
producer["incremental"]["superseded"], the ids of videos it processed again because they changed,
and under "earlier_sets" the sets that were there before it: the clips of those ids in those
earlier sets are stale. They are dropped while reading, by a lookup of (set folder, clip/video_id)
in a hash table inside tf.data: this costs one small parse per record, and only in files of sets
that hold superseded videos, while rewriting old shards would cost a pass over the data.

`validate_file` reads a shard file through (records and their checksums) to find corrupt or
truncated ones; `name_corrupt_files` is what the trainer calls to say which file broke a run.
"""

import concurrent.futures
import dataclasses
import logging
import os

import tensorflow as tf

from pipeline import schema

_log = logging.getLogger("trainer.shard_sets")

INCREMENTAL_KEY = "incremental"  # the key pipeline.incremental writes in Manifest.producer
SHARED_FIELDS = ("clip_shape", "encoding", "compression", "class_names", "dataset", "fps",
                 "frame_stride")
KEY_SEPARATOR = "\x00"
RECORD_HEADER_BYTES, RECORD_FOOTER_BYTES = 12, 4  # length + its CRC; the data's CRC


class ShardSetError(ValueError):
    """The dataset root cannot be read as one data set; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class RootContents:
    manifest: schema.Manifest  # the newest set's: shape, encoding, classes (all sets agree)
    files: tuple[str, ...]
    excluded: tuple[str, ...]  # "<set folder>\\0<video id>" of superseded clips
    sets: tuple[str, ...]


def is_root(directory: str) -> bool:
    """A folder without a manifest of its own whose sub-folders hold shard sets (or killed runs)."""
    if tf.io.gfile.exists(os.path.join(directory, schema.MANIFEST_NAME)):
        return False
    return bool(_set_folders(directory))


def _set_folders(directory: str) -> list[str]:
    if not tf.io.gfile.isdir(directory):
        return []
    names = sorted(n.rstrip("/") for n in tf.io.gfile.listdir(directory))
    return [n for n in names if not n.startswith(".") and tf.io.gfile.isdir(os.path.join(directory, n))]


def resolve_root(root: str, split: str) -> RootContents:
    """The complete sets under `root`, their files of `split`, and the clips to leave out."""
    sets = []
    for name in _set_folders(root):
        path = os.path.join(root, name)
        if not tf.io.gfile.exists(os.path.join(path, schema.MANIFEST_NAME)):
            _log.warning("ignoring %s: no %s (a preprocessing run that did not finish; the next "
                         "incremental run redoes its videos)", path, schema.MANIFEST_NAME)
            continue
        sets.append((name, path, schema.read_manifest(path)))
    if not sets:
        raise ShardSetError(f"{root} holds no complete shard set (no sub-folder with a "
                            f"{schema.MANIFEST_NAME}); run `make preprocess OUTPUT={root}` "
                            "(with --incremental=on for versioned sets)")
    _check_agree(root, sets)
    files = []
    for _, path, manifest in sets:
        if split in manifest.splits:
            files += manifest.split_paths(path, split)
    if not files:
        raise ShardSetError(f"no shard set under {root} has a {split!r} split")
    return RootContents(manifest=sets[-1][2], files=tuple(files),
                        excluded=tuple(sorted(superseded_keys(root, sets))),
                        sets=tuple(name for name, _, _ in sets))


def _check_agree(root: str, sets) -> None:
    first_name, _, first = sets[0]
    for name, _, manifest in sets[1:]:
        differ = [f"{field}: {getattr(first, field)!r} in {first_name}, {getattr(manifest, field)!r} "
                  f"in {name}" for field in SHARED_FIELDS
                  if _normal(getattr(first, field)) != _normal(getattr(manifest, field))]
        if differ:
            raise ShardSetError(f"the shard sets under {root} disagree ({'; '.join(differ)}); "
                                "they cannot be read as one data set. Rebuild them with the same "
                                "options, or point --tfrecords at one set.")


def _normal(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def superseded_keys(root: str, sets) -> set[str]:
    """(earlier set folder, video id) keys of the clips a later set replaced."""
    keys = set()
    for _, _, manifest in sets:
        entry = manifest.producer.get(INCREMENTAL_KEY, {})
        for earlier in entry.get("earlier_sets", ()):
            folder = os.path.join(root, earlier)
            keys.update(f"{folder}{KEY_SEPARATOR}{video_id}" for video_id in entry.get("superseded", ()))
    return keys


# ----------------------------------------------------------------------------------------------
# Reading


def exclusion_table(excluded) -> tf.lookup.StaticHashTable | None:
    if not excluded:
        return None
    keys = tf.constant(list(excluded), tf.string)
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, tf.ones_like(keys, tf.int32)), default_value=0)


def read_file(path: tf.Tensor, compression_type: str, table=None, skip_corrupt: bool = False):
    """One shard file's records, without superseded clips; ends at a corrupt record when
    skip_corrupt (the file was named in a warning when it was validated)."""
    records = tf.data.TFRecordDataset(path, compression_type=compression_type)
    if skip_corrupt:
        records = records.ignore_errors(log_warning=True)
    if table is None:
        return records
    folder = tf.strings.regex_replace(path, "/[^/]*$", "")
    spec = {schema.VIDEO_ID: schema.feature_spec()[schema.VIDEO_ID]}

    def keep(serialized):
        video_id = tf.io.parse_single_example(serialized, spec)[schema.VIDEO_ID]
        return table.lookup(tf.strings.join([folder, video_id], KEY_SEPARATOR)) == 0

    return records.filter(keep)


# ----------------------------------------------------------------------------------------------
# Corrupt files


def validate_file(path: str, compression_type: str) -> str | None:
    """None when every record of `path` reads back with valid checksums, else what is wrong.

    An uncompressed file must also end exactly after its last record: TFRecordDataset stops
    silently when a file is cut inside a record header.
    """
    records = tf.data.TFRecordDataset(path, compression_type=compression_type, buffer_size=1 << 20)
    try:
        count, data = records.reduce(
            (tf.constant(0, tf.int64), tf.constant(0, tf.int64)),
            lambda acc, r: (acc[0] + 1, acc[1] + tf.cast(tf.strings.length(r), tf.int64)))
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        return f"unreadable: {error.message.strip().splitlines()[-1][:200]}"
    if not compression_type:
        expected = int(data) + int(count) * (RECORD_HEADER_BYTES + RECORD_FOOTER_BYTES)
        size = tf.io.gfile.stat(path).length
        if size != expected:
            return f"truncated or padded: {size} bytes, but its {int(count)} records make {expected}"
    return None


def find_corrupt(files, compression_type: str, workers: int = 4) -> dict[str, str]:
    """{path: what is wrong} for the files that fail `validate_file`, read in parallel."""
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        problems = dict(zip(files, pool.map(lambda f: validate_file(f, compression_type), files)))
    return {path: problem for path, problem in problems.items() if problem}


def drop_corrupt(files, compression_type: str) -> tuple[str, ...]:
    """The files that validate; each one left out is named in a warning."""
    bad = find_corrupt(files, compression_type)
    for path, problem in bad.items():
        _log.warning("skipping corrupt shard file %s (%s); rebuild its shard set to get its clips back",
                     path, problem)
    kept = tuple(f for f in files if f not in bad)
    if not kept:
        raise ShardSetError(f"every shard file is corrupt (e.g. {files[0]}: {bad[files[0]]}); "
                            "rebuild the shard set with `make preprocess`")
    return kept


def name_corrupt_files(files, compression_type: str, error: Exception) -> str:
    """The message for a read error during training: which files are corrupt and what to do."""
    bad = find_corrupt(files, compression_type)
    if not bad:
        return f"reading the shards failed ({error}) but every file validates now; run again"
    listing = "; ".join(f"{path} ({problem})" for path, problem in sorted(bad.items()))
    return (f"corrupt shard file(s): {listing}. Rebuild the shard set with `make preprocess`, "
            "or pass --skip_corrupt_shards to train without them.")
