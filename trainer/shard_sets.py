"""Which shard sets of a dataset root the trainer reads, and shard files that may be corrupt.

Incremental preprocessing (`python -m pipeline.main --incremental=on`) writes one versioned shard
set per run under a dataset root; the layout, and its listing, is pipeline/shard_layout.py.
`resolve_root` reads every complete set (oldest first; a version folder without a manifest is a
killed run, skipped with a warning), checks that they agree on what a clip is, and returns their
files for one split. A set's manifest entry (`Manifest.incremental`) names the ids of videos it
processed again because they changed (`superseded`) and the sets that were there before it
(`earlier_sets`): the clips of those ids in those earlier sets are stale. They are dropped while
reading, by a lookup of (set folder, clip/video_id) in a hash table inside tf.data: this costs one
small parse per record, and only when some set supersedes videos, while rewriting old shards
would cost a pass over the data. Which set a file belongs to is known from the listing (a second
table), never cut from the file's path, and set folders are compared in their normalised spelling.

`validate_file` reads a shard file through (records and their checksums) to find corrupt or
truncated ones; `name_corrupt_files` is what the trainer calls to say which file broke a run.
"""

import concurrent.futures
import dataclasses
import logging
import posixpath
from typing import Mapping

import tensorflow as tf

from pipeline import schema, shard_layout

_log = logging.getLogger("trainer.shard_sets")

KEY_SEPARATOR = "\x00"
RECORD_HEADER_BYTES, RECORD_FOOTER_BYTES = 12, 4  # length + its CRC; the data's CRC


class ShardSetError(ValueError):
    """The dataset root cannot be read as one data set; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class StaleClips:
    """The clips later sets replaced: the set folder of each file read, and the stale keys."""

    file_sets: tuple[tuple[str, str], ...] = ()  # (file, its set's normalised folder)
    keys: tuple[str, ...] = ()  # "<set folder>\0<video id>", sorted

    def __bool__(self) -> bool:
        return bool(self.keys)


def stale_key(set_folder: str, video_id: str) -> str:
    """The key of one video's clips in one set; the same for every spelling of the folder."""
    return f"{shard_layout.normalise(set_folder)}{KEY_SEPARATOR}{video_id}"


@dataclasses.dataclass(frozen=True)
class RootContents:
    manifest: schema.Manifest  # the newest set's: shape, encoding, classes (all sets agree)
    files: tuple[str, ...]
    excluded: StaleClips
    sets: tuple[str, ...]
    sizes: Mapping[str, int] = dataclasses.field(default_factory=dict)  # path -> bytes as written


def is_root(directory: str) -> bool:
    """A folder without a manifest of its own whose version sub-folders hold shard sets (or
    killed runs)."""
    return shard_layout.is_versioned_root(directory)


def resolve_root(root: str, split: str) -> RootContents:
    """The complete sets under `root`, their files of `split`, and the clips to leave out."""
    sets, incomplete = schema.read_sets(root)
    for path in incomplete:
        _log.warning("ignoring %s: no %s (a preprocessing run that did not finish; the next "
                     "incremental run redoes its videos)", path, schema.MANIFEST_NAME)
    if not sets:
        raise ShardSetError(f"{root} holds no complete shard set (no version sub-folder with a "
                            f"{schema.MANIFEST_NAME}); run `make preprocess OUTPUT={root}` "
                            "(with --incremental=on for versioned sets)")
    _check_agree(root, sets)
    files, file_sets = [], []
    for shard_set in sets:
        if split in shard_set.manifest.splits:
            own = shard_set.manifest.split_paths(shard_set.path, split)
            files += own
            file_sets += [(f, shard_layout.normalise(shard_set.path)) for f in own]
    if not files:
        raise ShardSetError(f"no shard set under {root} has a {split!r} split")
    keys = superseded_keys(root, sets)
    stale = StaleClips(tuple(file_sets), tuple(sorted(keys))) if keys else StaleClips()
    sizes = {path: size for s in sets for path, size in s.manifest.file_sizes(s.path).items()}
    return RootContents(manifest=sets[-1].manifest, files=tuple(files), excluded=stale,
                        sets=tuple(s.name for s in sets), sizes=sizes)


def _check_agree(root: str, sets: list[schema.ShardSet]) -> None:
    first = sets[0]
    for later in sets[1:]:
        differ = [f"{field}: {getattr(first.manifest, field)!r} in {first.name}, "
                  f"{getattr(later.manifest, field)!r} in {later.name}"
                  for field in shard_layout.SHARED_FIELDS
                  if getattr(first.manifest, field) != getattr(later.manifest, field)]
        if differ:
            raise ShardSetError(f"the shard sets under {root} disagree ({'; '.join(differ)}); "
                                "they cannot be read as one data set. Rebuild them with the same "
                                "options, or point --tfrecords at one set.")


def superseded_keys(root: str, sets: list[schema.ShardSet]) -> set[str]:
    """(earlier set folder, video id) keys of the clips a later set replaced."""
    keys = set()
    for shard_set in sets:
        entry = shard_set.manifest.incremental
        if entry is None:
            continue
        for earlier in entry.earlier_sets:
            folder = posixpath.join(root, earlier)
            keys.update(stale_key(folder, video_id) for video_id in entry.superseded)
    return keys


# ----------------------------------------------------------------------------------------------
# Reading


@dataclasses.dataclass(frozen=True)
class StaleTables:
    """StaleClips as lookups inside tf.data."""

    folders: tf.lookup.StaticHashTable  # file -> its set folder ("" when not listed)
    clips: tf.lookup.StaticHashTable  # stale key -> 1, else 0


def exclusion_table(stale: StaleClips) -> StaleTables | None:
    if not stale:
        return None
    files = tf.constant([f for f, _ in stale.file_sets], tf.string)
    folders = tf.constant([folder for _, folder in stale.file_sets], tf.string)
    keys = tf.constant(list(stale.keys), tf.string)
    return StaleTables(
        folders=tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(files, folders), default_value=""),
        clips=tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, tf.ones_like(keys, tf.int32)),
            default_value=0))


def read_file(path: tf.Tensor, compression_type: str, table: StaleTables | None = None,
              skip_corrupt: bool = False):
    """One shard file's records, without superseded clips; ends at a corrupt record when
    skip_corrupt (the file was named in a warning when it was validated)."""
    records = tf.data.TFRecordDataset(path, compression_type=compression_type)
    if skip_corrupt:
        records = records.ignore_errors(log_warning=True)
    if table is None:
        return records
    folder = table.folders.lookup(path)
    spec = {schema.VIDEO_ID: schema.feature_spec()[schema.VIDEO_ID]}

    def keep(serialized):
        video_id = tf.io.parse_single_example(serialized, spec)[schema.VIDEO_ID]
        return table.clips.lookup(tf.strings.join([folder, video_id], KEY_SEPARATOR)) == 0

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


def wrong_sizes(files, sizes: dict[str, int]) -> dict[str, str]:
    """{path: what is wrong} for the files whose size differs from the one the manifest recorded
    (a stat each: cheap enough for every run start). A file cut exactly between two records reads
    as a valid shorter file; only its size tells."""
    problems = {}
    for path in files:
        if path in sizes and (size := tf.io.gfile.stat(path).length) != sizes[path]:
            problems[path] = (f"{size} bytes, but the manifest recorded {sizes[path]} when the job "
                              "wrote it (cut short or changed since)")
    return problems


def check_sizes(files, sizes: Mapping[str, int], skip: bool) -> tuple[str, ...]:
    """The files whose size is the one recorded; a wrong one stops the run naming it, or with
    `skip` (--skip_corrupt_shards) is left out with a warning."""
    wrong = wrong_sizes(files, sizes)
    if wrong and not skip:
        listing = "; ".join(f"{path} ({problem})" for path, problem in sorted(wrong.items()))
        raise ShardSetError(f"shard file(s) of the wrong size: {listing}. Rebuild the shard set with "
                            "`make preprocess`, or pass --skip_corrupt_shards to train without them")
    for path, problem in sorted(wrong.items()):
        _log.warning("skipping shard file %s: %s; rebuild its shard set to get its clips back", path, problem)
    kept = tuple(f for f in files if f not in wrong)
    if not kept:
        raise ShardSetError("every shard file has the wrong size; rebuild the shard set with `make preprocess`")
    return kept


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
