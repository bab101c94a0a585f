"""Writes (split, record) pairs as TFRecord shards of about 150 MB without shuffling the records.

Beam's WriteToTFRecord with a fixed shard count first groups every record by shard: each record
crosses the runner's shuffle, and on the DirectRunner no shard is written before the last video
is decoded. Here the worker that makes a record writes it at once, into a temporary piece of at
most `piece_bytes`; only the pieces' names cross the shuffle. A last stage packs each
split's pieces into shards of balanced size (a rename when a shard is one piece, a byte-level
concatenation otherwise: TFRecord files, and gzip members, concatenate into a valid file) and
names them as pipeline/shard_layout.py says (`<split>-SSSSS-of-NNNNN[.<tag>].tfrecord[.gz]`; the
tag keeps a set written beside an earlier one from overwriting it, see pipeline/set_swap.py).

    records | WriteShards(output, pieces_dir, compression, splits)  -> final shard paths

The shard count follows the bytes actually written (ceil(bytes / TARGET_SHARD_BYTES)), or is
fixed per split by `num_shards`; a split with no record still gets one (empty) shard, so the
manifest can list every split. Pieces of a retried bundle are never named downstream, and the
driver deletes `pieces_dir` when the job ends.

A piece is named when it is opened, not when finish_bundle closes it: Beam's DaskRunner (2.77)
drops whatever finish_bundle outputs. Its name is only acted on past the shuffle (`AllPieces`),
when every bundle, and so every piece, has finished; that is where its size is read.
"""

import concurrent.futures
import dataclasses
import heapq
import logging
import math
import os
import shutil
import uuid

import apache_beam as beam
import tensorflow as tf
from apache_beam.metrics import Metrics

from pipeline import schema, shard_layout
from pipeline.transforms import NAMESPACE

TARGET_SHARD_BYTES = 150 * 1024 * 1024  # the middle of the 100-200 MB range readers like

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Piece:
    """A temporary TFRecord file a worker wrote for one split."""

    split: str
    path: str
    num_bytes: int


@dataclasses.dataclass(frozen=True)
class ShardPlan:
    """Which pieces, in order, make shard `index` of `count` of a split."""

    split: str
    index: int
    count: int
    pieces: tuple[str, ...]

    def file_name(self, compression: str, tag: str = "") -> str:
        return shard_layout.shard_file_name(self.split, self.index, self.count, compression, tag)


class WritePiecesFn(beam.DoFn):
    """(split, record) -> (split, path) of each piece it opens; a piece closes at `piece_bytes`
    or at the end of the bundle."""

    def __init__(self, pieces_dir: str, compression: str, piece_bytes: dict[str, int]):
        self._dir, self._compression, self._piece_bytes = pieces_dir, compression, dict(piece_bytes)
        self._bytes_written = Metrics.counter(NAMESPACE, "record_bytes_written")

    def setup(self):
        tf.io.gfile.makedirs(self._dir)

    def start_bundle(self):
        self._open = {}  # split -> [writer, bytes written so far]

    def process(self, split_and_record):
        split, record = split_and_record
        if split not in self._open:
            yield split, self._open_piece(split)
        entry = self._open[split]
        entry[0].write(record)
        entry[1] += len(record)
        self._bytes_written.inc(len(record))
        if entry[1] >= self._piece_bytes.get(split, TARGET_SHARD_BYTES):
            self._open.pop(split)[0].close()

    def finish_bundle(self):
        for writer, _ in self._open.values():
            writer.close()
        self._open = {}

    def _open_piece(self, split) -> str:
        suffix = shard_layout.shard_suffix(self._compression)
        path = os.path.join(self._dir, f"{split}-{uuid.uuid4().hex}{suffix}")
        self._open[split] = [tf.io.TFRecordWriter(path, options=schema.tf_compression_type(self._compression)), 0]
        return path


def measure_pieces(splits_and_paths) -> list[Piece]:
    """The finished pieces with their sizes, read from the file system (a few at a time: on gs://
    each is a request)."""
    splits_and_paths = list(splits_and_paths)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        sizes = list(pool.map(lambda pair: tf.io.gfile.stat(pair[1]).length, splits_and_paths))
    return [Piece(split, path, size) for (split, path), size in zip(splits_and_paths, sizes)]


def plan_shards(pieces, splits, num_shards: dict[str, int] | None = None,
                target_bytes: int = TARGET_SHARD_BYTES) -> list[ShardPlan]:
    """Packs each split's pieces into shards: largest piece first, into the lightest shard.

    A split's shard count is `num_shards[split]` when given, else enough shards of `target_bytes`
    for its bytes (at least one, so a split with no piece still gets an empty shard).
    """
    plans = []
    for split in sorted(splits):
        own = sorted((p for p in pieces if p.split == split), key=lambda p: (-p.num_bytes, p.path))
        total = sum(p.num_bytes for p in own)
        count = (num_shards or {}).get(split) or max(1, math.ceil(total / target_bytes))
        bins = [(0, index, []) for index in range(count)]  # (bytes, index, paths): a min-heap
        for piece in own:
            size, index, paths = heapq.heappop(bins)
            heapq.heappush(bins, (size + piece.num_bytes, index, paths + [piece.path]))
        plans += [ShardPlan(split, index, count, tuple(sorted(paths))) for _, index, paths in sorted(
            bins, key=lambda entry: entry[1])]
    return plans


class AssembleShardFn(beam.DoFn):
    """ShardPlan -> the final shard's path, written under a temporary name and renamed."""

    def __init__(self, output: str, pieces_dir: str, compression: str, tag: str = ""):
        self._output, self._dir, self._compression, self._tag = output, pieces_dir, compression, tag

    def setup(self):
        tf.io.gfile.makedirs(self._output)
        tf.io.gfile.makedirs(self._dir)

    def process(self, plan: ShardPlan):
        final = os.path.join(self._output, plan.file_name(self._compression, self._tag))
        if len(plan.pieces) == 1:
            source = plan.pieces[0]
            if not tf.io.gfile.exists(source) and tf.io.gfile.exists(final):
                yield final  # a retry of a shard already renamed into place
                return
        else:
            source = os.path.join(self._dir, f"assembling-{uuid.uuid4().hex}-{plan.file_name(self._compression)}")
            self._concatenate(plan.pieces, source)
        tf.io.gfile.rename(source, final, overwrite=True)
        _log.info("wrote %s from %d piece(s)", final, len(plan.pieces))
        yield final

    def _concatenate(self, pieces, target: str) -> None:
        if not pieces:  # an empty split: a valid TFRecord file with no record
            tf.io.TFRecordWriter(target, options=schema.tf_compression_type(self._compression)).close()
            return
        with tf.io.gfile.GFile(target, "wb") as out:
            for piece in pieces:
                with tf.io.gfile.GFile(piece, "rb") as source:
                    shutil.copyfileobj(source, out, 16 * 1024 * 1024)


class WriteShards(beam.PTransform):
    """PCollection[(split, record)] -> PCollection of the shard paths written (see the module doc)."""

    def __init__(self, output: str, pieces_dir: str, compression: str, splits,
                 num_shards: dict[str, int] | None = None, piece_bytes: dict[str, int] | None = None,
                 tag: str = ""):
        super().__init__()
        self._output, self._dir, self._compression, self._tag = output, pieces_dir, compression, tag
        self._splits, self._num_shards = tuple(sorted(splits)), dict(num_shards or {})
        self._piece_bytes = dict(piece_bytes or {})

    def expand(self, records):
        splits, num_shards = self._splits, self._num_shards
        return (records
                | "WritePieces" >> beam.ParDo(WritePiecesFn(self._dir, self._compression, self._piece_bytes))
                | "AllPieces" >> beam.combiners.ToList()
                | "PlanShards" >> beam.FlatMap(
                    lambda pieces: plan_shards(measure_pieces(pieces), splits, num_shards))
                | "SpreadShards" >> beam.Reshuffle()
                | "AssembleShards" >> beam.ParDo(AssembleShardFn(self._output, self._dir, self._compression, self._tag)))
