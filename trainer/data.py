"""The trainer's input: clips from a shard set as batches of [-1, 1] floats, per replica.

`--tfrecords` names a shard-set folder (the one holding manifest.json), a dataset root of versioned
shard sets written by incremental preprocessing (every complete set is read; the layout is
pipeline/shard_layout.py, the choice of sets trainer/shard_sets.py), or a glob of shard files in
one set's folder. The manifest gives the clip shape, encoding, compression and class names; the
first record is checked against it before training starts, so a stale or foreign shard set fails
at once with a message that says what to run.

    shards = resolve_shards("shards/ucf101")               # validated manifest + file list
    dataset = strategy.distribute_datasets_from_function(
        lambda ctx: make_dataset(shards, global_batch_size=16, seed=0, input_context=ctx))

Each element is {"video": uint8 [B,T,H,W,C], "label": int32 [B]} (-1 = unlabelled). Frames stay
uint8 to the training step, which maps them to [-1, 1] (`to_model_range`) as its first op: a float
batch is four times the bytes, and writing it in tf.data halved the pipeline's throughput. Raw clips
are parsed a batch at a time (one vectorised parse and decode per batch, not one per clip).
"""

import dataclasses
import os

import tensorflow as tf

from pipeline import schema
from trainer import shard_sets
# The training step's first op on a batch (trainer/step.py calls it data.to_model_range).
from trainer.pixels import tensor_to_model_range as to_model_range  # noqa: F401

DEFAULT_SPLIT = "train"
SHUFFLE_BUFFER = 512
# Files read at once, their records interleaved one by one. At most one reader thread per core:
# with a thread per open file (AUTOTUNE) the readers crowded out the parse on a 2-core machine.
READ_CYCLE = 8


class DataError(ValueError):
    """The shard set named by --tfrecords cannot be read as it is; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class Shards:
    """A validated shard set: its manifest and the files to read."""

    directory: str
    manifest: schema.Manifest
    files: tuple[str, ...]
    # superseded clips of a dataset root (see shard_sets)
    excluded: shard_sets.StaleClips = shard_sets.StaleClips()
    skip_corrupt: bool = False  # corrupt files were left out; a record error ends a file's read

    @property
    def compression_type(self) -> str:
        return schema.tf_compression_type(self.manifest.compression)


def _rebuild_hint(directory: str) -> str:
    return f"Rebuild the shard set with `make preprocess ... OUTPUT={directory}`."


def _is_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def resolve_shards(tfrecords: str, split: str = DEFAULT_SPLIT, skip_corrupt: bool = False) -> Shards:
    """Reads and validates the manifest of `tfrecords` (a folder, a dataset root or a glob of shard
    files). A file whose size is not the one the manifest recorded (cut, even exactly between two
    records) is found here, at a stat per file. With skip_corrupt, it is left out, and every file
    is read through once and the corrupt ones are left out too, each named in a warning; without
    it a wrong or corrupt file stops training with its name."""
    excluded = shard_sets.StaleClips()
    if not _is_glob(tfrecords) and not tf.io.gfile.exists(tfrecords):
        raise DataError(f"--tfrecords={tfrecords} does not exist: give the folder that "
                        "`python -m pipeline.main --output=...` wrote (it holds manifest.json)")
    if _is_glob(tfrecords):
        directory = os.path.dirname(tfrecords) or "."
        files = sorted(tf.io.gfile.glob(tfrecords))
        if not files:
            raise DataError(f"--tfrecords={tfrecords} matches no files. {_rebuild_hint(directory)}")
        dirs = {os.path.dirname(f) for f in files}
        if len(dirs) > 1:
            raise DataError(f"--tfrecords={tfrecords} spans several folders {sorted(dirs)}; "
                            "point it at one shard set")
        manifest = _read_manifest(directory)
        sizes = manifest.file_sizes(directory)
    elif shard_sets.is_root(tfrecords.rstrip("/")):
        directory = tfrecords.rstrip("/")
        try:
            contents = shard_sets.resolve_root(directory, split)
        except (shard_sets.ShardSetError, schema.ShardFormatError) as e:
            raise DataError(str(e)) from e
        manifest, files, excluded = contents.manifest, contents.files, contents.excluded
        sizes = contents.sizes
    else:
        directory = tfrecords.rstrip("/") or "/"
        manifest = _read_manifest(directory)
        files = manifest.split_paths(directory, split)
        sizes = manifest.file_sizes(directory)
    _check_files_exist(directory, files)
    try:
        files = shard_sets.check_sizes(files, sizes, skip_corrupt)
        if skip_corrupt:
            files = shard_sets.drop_corrupt(files, schema.tf_compression_type(manifest.compression))
    except shard_sets.ShardSetError as e:
        raise DataError(str(e)) from e
    shards = Shards(directory=directory, manifest=manifest, files=tuple(files), excluded=excluded,
                    skip_corrupt=skip_corrupt)
    _check_first_record(shards)
    return shards


def _read_manifest(directory: str) -> schema.Manifest:
    try:
        return schema.read_manifest(directory)
    except schema.ShardFormatError as e:
        raise DataError(str(e)) from e


def _check_files_exist(directory: str, files) -> None:
    missing = [f for f in files if not tf.io.gfile.exists(f)]
    if missing:
        raise DataError(f"{len(missing)} shard file(s) listed for {directory} are missing, e.g. "
                        f"{missing[0]}. {_rebuild_hint(directory)}")
    if not files:
        raise DataError(f"shard set {directory} lists no files. {_rebuild_hint(directory)}")


def _check_first_record(shards: Shards) -> None:
    """Parses the first record eagerly and compares its shape and encoding with the manifest."""
    manifest, first_file = shards.manifest, shards.files[0]
    dataset = tf.data.TFRecordDataset(first_file, compression_type=shards.compression_type)
    try:
        serialized = next(iter(dataset.take(1)), None)
    except tf.errors.DataLossError as e:
        raise DataError(f"{first_file} is not a TFRecord file with compression "
                        f"{manifest.compression!r} as the manifest says: {e.message}. "
                        f"{_rebuild_hint(shards.directory)}") from e
    if serialized is None:
        raise DataError(f"{first_file} holds no records. {_rebuild_hint(shards.directory)}")
    parsed = tf.io.parse_single_example(serialized, schema.feature_spec())
    shape = tuple(int(x) for x in parsed[schema.SHAPE].numpy())
    encoding = parsed[schema.ENCODING].numpy().decode()
    if shape != tuple(manifest.clip_shape) or encoding != manifest.encoding:
        raise DataError(
            f"{first_file} holds clips of shape {shape} encoded {encoding!r}, but the manifest of "
            f"{shards.directory} says {tuple(manifest.clip_shape)} encoded {manifest.encoding!r}: "
            f"the records and the manifest come from different runs. {_rebuild_hint(shards.directory)}")


def _shard(files: tf.data.Dataset, num_files: int, input_context) -> tuple[tf.data.Dataset, bool]:
    """Gives each input pipeline its own files when there are enough, else tells the caller to
    shard the records instead. Returns (files, shard_records)."""
    if input_context is None or input_context.num_input_pipelines == 1:
        return files, False
    if num_files >= input_context.num_input_pipelines:
        return files.shard(input_context.num_input_pipelines, input_context.input_pipeline_id), False
    return files, True


def make_dataset(shards: Shards, global_batch_size: int, seed: int | None = None,
                 input_context: tf.distribute.InputContext | None = None,
                 shuffle_buffer: int = SHUFFLE_BUFFER, repeat: bool = True) -> tf.data.Dataset:
    """The training input of one input pipeline: batches of the per-replica size."""
    batch_size = (input_context.get_per_replica_batch_size(global_batch_size)
                  if input_context else global_batch_size)
    manifest = shards.manifest
    shape, encoding = tuple(manifest.clip_shape), manifest.encoding
    files = tf.data.Dataset.from_tensor_slices(list(shards.files))
    files, shard_records = _shard(files, len(shards.files), input_context)
    if repeat:
        # Repeating the file list (not the records) keeps one endless stream: the interleave and
        # the shuffle buffer never drain and refill at an epoch's end.
        files = files.shuffle(len(shards.files), seed=seed, reshuffle_each_iteration=True).repeat()
    table = shard_sets.exclusion_table(shards.excluded)
    cycle = min(len(shards.files), READ_CYCLE)
    dataset = files.interleave(
        lambda f: shard_sets.read_file(f, shards.compression_type, table, shards.skip_corrupt),
        cycle_length=cycle, block_length=1, num_parallel_calls=min(cycle, os.cpu_count() or 1),
        # Sharding records needs every input pipeline to see the same order; else order is free.
        deterministic=shard_records)
    if shard_records:
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if encoding != "raw":  # image decoding is per frame: decode clip by clip, in parallel
        dataset = dataset.map(lambda s: _parse(s, shape, encoding),
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    if repeat:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    if encoding == "raw":
        dataset = dataset.map(lambda s: _parse_raw_batch(s, shape),
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _parse(serialized: tf.Tensor, shape, encoding: str) -> dict[str, tf.Tensor]:
    parsed = schema.parse_clip(serialized, shape, encoding)
    return {"video": parsed["frames"], "label": tf.cast(parsed["label"], tf.int32)}


def _parse_raw_batch(serialized: tf.Tensor, shape) -> dict[str, tf.Tensor]:
    """[B] serialized raw records -> uint8 [B, *shape] and labels, in one parse and one decode."""
    parsed = tf.io.parse_example(serialized, schema.feature_spec())
    frames = tf.io.decode_raw(parsed[schema.FRAMES].values, tf.uint8)  # one value per record
    video = tf.reshape(frames, [-1, *shape])
    return {"video": video, "label": tf.cast(parsed[schema.LABEL], tf.int32)}


def distributed_dataset(strategy: tf.distribute.Strategy, shards: Shards, global_batch_size: int,
                        seed: int | None = None):
    """One input pipeline per worker (or per replica where the strategy wants it)."""
    if global_batch_size % strategy.num_replicas_in_sync:
        raise DataError(f"--batch_size={global_batch_size} must be a multiple of the "
                        f"{strategy.num_replicas_in_sync} replicas")
    return strategy.distribute_datasets_from_function(
        lambda ctx: make_dataset(shards, global_batch_size, seed=seed, input_context=ctx))


def read_records(shards: Shards) -> tf.data.Dataset:
    """Every serialized record in file order, superseded clips left out: for tools that read
    without shuffling (evaluation, counting)."""
    table = shard_sets.exclusion_table(shards.excluded)
    return tf.data.Dataset.from_tensor_slices(list(shards.files)).flat_map(
        lambda f: shard_sets.read_file(f, shards.compression_type, table, shards.skip_corrupt))


def bare_read(files, compression_type: str = "") -> tf.data.Dataset:
    """The limit the pipeline is measured against: the records read in parallel, nothing else."""
    return tf.data.TFRecordDataset(list(files), compression_type=compression_type,
                                   num_parallel_reads=tf.data.AUTOTUNE)

