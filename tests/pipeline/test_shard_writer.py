"""The shard writer: pieces written where records are made, packed into complete shard sets."""

import collections
import os

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from pipeline import schema, shard_layout
from pipeline.shard_writer import AssembleShardFn, Piece, ShardPlan, WriteShards, plan_shards


def _records(split, count):
    return [(split, schema.encode_clip(schema.Clip(np.full((2, 4, 4, 3), i, np.uint8), i, f"{split}{i}", 0)))
            for i in range(count)]


def _read(path, compression):
    return [bytes(r.numpy()) for r in tf.data.TFRecordDataset(path, schema.tf_compression_type(compression))]


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_every_record_lands_once_in_a_complete_shard_set(tmp_path, compression):
    records = _records("train", 23) + _records("test", 4)
    output, pieces = tmp_path / "out", tmp_path / "pieces"
    one_record = len(records[0][1])
    with BeamTestPipeline() as p:
        # Pieces of three records each, eight of them for train: shards are concatenations.
        _ = p | beam.Create(records) | WriteShards(
            str(output), str(pieces), compression, ["train", "test", "val"], num_shards={"train": 3},
            piece_bytes={"train": 3 * one_record, "test": 10 * one_record})
    suffix = shard_layout.shard_suffix(compression)
    assert sorted(os.listdir(output)) == [
        f"test-00000-of-00001{suffix}", f"train-00000-of-00003{suffix}", f"train-00001-of-00003{suffix}",
        f"train-00002-of-00003{suffix}", f"val-00000-of-00001{suffix}"]
    read = collections.defaultdict(list)
    for name in os.listdir(output):
        read[name.split("-")[0]] += _read(str(output / name), compression)
    assert sorted(read["train"]) == sorted(r for s, r in records if s == "train")
    assert sorted(read["test"]) == sorted(r for s, r in records if s == "test")
    assert read["val"] == []  # a split whose videos all failed still has its (empty) shard
    sizes = [len(_read(str(output / f"train-{i:05d}-of-00003{suffix}"), compression)) for i in range(3)]
    assert max(sizes) - min(sizes) <= 3  # balanced to within one piece


def test_plan_packs_largest_pieces_into_the_lightest_shard():
    mb = 2**20
    pieces = [Piece("train", f"/p/{i}", size * mb) for i, size in enumerate([150, 150, 100, 60, 40, 30])]
    plans = plan_shards(pieces + [Piece("test", "/p/t", 5 * mb)], ["train", "test"], target_bytes=150 * mb)
    train = [plan for plan in plans if plan.split == "train"]
    assert [plan.count for plan in train] == [4] * 4 and [plan.index for plan in train] == [0, 1, 2, 3]
    sizes = {piece.path: piece.num_bytes for piece in pieces}
    totals = sorted(sum(sizes[path] for path in plan.pieces) for plan in train)
    assert totals == [100 * mb, 130 * mb, 150 * mb, 150 * mb]  # 530 MB in ceil(530 / 150) shards
    assert sorted(path for plan in train for path in plan.pieces) == sorted(sizes)
    assert [(plan.count, plan.pieces) for plan in plans if plan.split == "test"] == [(1, ("/p/t",))]


def test_plan_honours_a_fixed_count_and_names_shards_like_beam():
    plans = plan_shards([Piece("train", "/p/a", 10)], ["train"], num_shards={"train": 3})
    assert [plan.pieces for plan in plans] == [("/p/a",), (), ()]
    assert plans[2].file_name("gzip") == "train-00002-of-00003.tfrecord.gz"


def test_a_retried_rename_finds_its_shard_in_place(tmp_path):
    piece = tmp_path / "pieces" / "train-abc.tfrecord"
    piece.parent.mkdir()
    piece.write_bytes(b"")
    assemble = AssembleShardFn(str(tmp_path / "out"), str(piece.parent), "none")
    assemble.setup()
    plan = ShardPlan("train", 0, 1, (str(piece),))
    first = list(assemble.process(plan))
    assert not piece.exists() and os.path.exists(first[0])
    assert list(assemble.process(plan)) == first  # a worker retrying the bundle does not fail
