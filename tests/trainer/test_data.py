"""trainer.data on real shards written with the pipeline's schema module."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from pipeline import schema
from tests.trainer_shards import write_shards
from trainer import data

SHAPE = (4, 16, 16, 3)


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("shards"), num_files=3, clips_per_file=5,
                        shape=SHAPE)


def test_batches_have_shape_range_and_labels(shard_dir):
    shards = data.resolve_shards(shard_dir)
    assert len(shards.files) == 3
    batch = next(iter(data.make_dataset(shards, global_batch_size=6, seed=1)))
    video, label = batch["video"].numpy(), batch["label"].numpy()
    assert video.shape == (6,) + SHAPE and video.dtype == np.uint8  # the step scales it
    scaled = data.to_model_range(batch["video"]).numpy()
    assert scaled.dtype == np.float32 and scaled.min() >= -1.0 and scaled.max() <= 1.0
    assert scaled.min() < -0.8 and scaled.max() > 0.0  # dark background and bright square
    np.testing.assert_allclose(data.to_model_range(tf.constant([0, 255], tf.uint8)), [-1, 1])
    assert label.dtype == np.int32 and set(label) <= {0, 1}


def test_raw_batches_are_the_written_clips(shard_dir):
    shards = data.resolve_shards(shard_dir)
    clips = [schema.decode_clip(r.numpy()) for r in tf.data.TFRecordDataset(list(shards.files))]
    written = sorted((clip.frames.tobytes(), clip.label) for clip in clips)
    read = [(v.tobytes(), int(label)) for b in data.make_dataset(shards, 5, repeat=False)
            for v, label in zip(b["video"].numpy(), b["label"].numpy())]
    assert sorted(read) == written  # each batch parsed at once keeps clips and labels together


def test_one_pass_reads_every_clip_once(shard_dir):
    shards = data.resolve_shards(shard_dir)
    dataset = data.make_dataset(shards, global_batch_size=1, repeat=False)
    videos = [b["video"].numpy()[0] for b in dataset]
    assert len(videos) == 15
    assert len({v.tobytes() for v in videos}) == 15


def test_glob_and_gzip_png(tmp_path):
    directory = write_shards(tmp_path / "png", num_files=2, clips_per_file=3, shape=SHAPE,
                             encoding="png", compression="gzip", labelled=False)
    shards = data.resolve_shards(os.path.join(directory, "train-*.tfrecord.gz"))
    assert len(shards.files) == 2 and shards.compression_type == "GZIP"
    batch = next(iter(data.make_dataset(shards, global_batch_size=4, seed=0)))
    assert batch["video"].shape == (4,) + SHAPE
    np.testing.assert_array_equal(batch["label"].numpy(), [-1, -1, -1, -1])
    originals = sorted(
        schema.decode_clip(r.numpy()).frames.tobytes()
        for r in tf.data.TFRecordDataset(list(shards.files), compression_type="GZIP"))
    read = sorted(b["video"].numpy()[0].tobytes()
                  for b in data.make_dataset(shards, 1, repeat=False))
    assert read == originals  # png is lossless: exactly the written clips

def test_files_shard_per_input_pipeline(shard_dir):
    shards = data.resolve_shards(shard_dir)
    seen = []
    for pipeline_id in range(3):
        ctx = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=pipeline_id,
                                         num_replicas_in_sync=3)
        dataset = data.make_dataset(shards, global_batch_size=3, input_context=ctx, repeat=False)
        seen.append({b["video"].numpy().tobytes() for b in dataset})
    assert [len(s) for s in seen] == [5, 5, 5]  # one file each, per-replica batch 1
    assert not (seen[0] & seen[1]) and not (seen[1] & seen[2])


def test_records_shard_when_fewer_files_than_pipelines(tmp_path):
    directory = write_shards(tmp_path / "one", num_files=1, clips_per_file=6, shape=SHAPE)
    shards = data.resolve_shards(directory)
    counts = []
    for pipeline_id in range(2):
        ctx = tf.distribute.InputContext(2, pipeline_id, 2)
        counts.append(sum(1 for _ in data.make_dataset(shards, 2, input_context=ctx, repeat=False)))
    assert counts == [3, 3]


def test_record_shards_partition_several_files(tmp_path):
    # Fewer files than pipelines: each pipeline reads every file and keeps every third record, so
    # all must read the records in one order for the shares to be disjoint and complete.
    directory = write_shards(tmp_path / "two", num_files=2, clips_per_file=6, shape=SHAPE)
    shards = data.resolve_shards(directory)
    seen = []
    for pipeline_id in range(3):
        ctx = tf.distribute.InputContext(3, pipeline_id, 3)
        seen.append([b["video"].numpy().tobytes() for b in data.make_dataset(shards, 3, input_context=ctx,
                                                                              repeat=False)])
    everything = [clip for share in seen for clip in share]
    assert len(everything) == len(set(everything)) == 12


def test_missing_manifest_says_what_to_run(tmp_path):
    directory = write_shards(tmp_path / "s", num_files=1, clips_per_file=2, shape=SHAPE)
    os.remove(os.path.join(directory, schema.MANIFEST_NAME))
    with pytest.raises(data.DataError, match="make preprocess"):
        data.resolve_shards(directory)


def test_manifest_disagreeing_with_records_is_refused(tmp_path):
    directory = write_shards(tmp_path / "s", num_files=1, clips_per_file=2, shape=SHAPE,
                             manifest_shape=(8, 16, 16, 3))
    with pytest.raises(data.DataError, match=r"\(4, 16, 16, 3\).*\(8, 16, 16, 3\).*make preprocess"):
        data.resolve_shards(directory)


def test_missing_shard_file_is_named(tmp_path):
    directory = write_shards(tmp_path / "s", num_files=2, clips_per_file=2, shape=SHAPE)
    os.remove(os.path.join(directory, "train-00001-of-00002.tfrecord"))
    with pytest.raises(data.DataError, match="train-00001-of-00002.tfrecord"):
        data.resolve_shards(directory)


def test_a_shard_cut_exactly_between_two_records_is_found_at_start(tmp_path, caplog):
    directory = write_shards(tmp_path / "s", num_files=2, clips_per_file=3, shape=SHAPE)
    cut = data.resolve_shards(directory).files[1]
    with open(cut, "rb") as f:
        content = f.read()
    first = 8 + 4 + int.from_bytes(content[:8], "little") + 4  # length, its crc, data, data crc
    with open(cut, "wb") as f:
        f.write(content[:first])
    assert sum(1 for _ in tf.data.TFRecordDataset(cut)) == 1  # a valid, shorter file to TensorFlow
    with pytest.raises(data.DataError, match=rf"wrong size: {cut} \({first} bytes, but the manifest "
                                             rf"recorded {len(content)}.*--skip_corrupt_shards"):
        data.resolve_shards(directory)
    with caplog.at_level("WARNING", logger="trainer.shard_sets"):
        kept = data.resolve_shards(directory, skip_corrupt=True)
    assert cut not in kept.files and len(kept.files) == 1 and f"skipping shard file {cut}" in caplog.text


def test_glob_matching_nothing(tmp_path):
    with pytest.raises(data.DataError, match="matches no files"):
        data.resolve_shards(str(tmp_path / "nothing-*.tfrecord"))


def _rewrite_manifest(directory, **changes):
    """Edits manifest.json in place, as an older or newer version of the pipeline would have written it."""
    path = os.path.join(directory, schema.MANIFEST_NAME)
    with open(path) as f:
        manifest = json.load(f)
    for key, value in changes.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    with open(path, "w") as f:
        json.dump(manifest, f)


def test_version_1_manifests_are_read_and_tell_shape_motion_by_their_input(tmp_path):
    directory = write_shards(tmp_path / "s", num_files=1, clips_per_file=2, shape=SHAPE)
    assert schema.read_manifest(directory).schema_version == schema.SCHEMA_VERSION == 4
    videos = tmp_path / "videos"
    videos.mkdir()
    producer = {"name": "pipeline.main", "options": {"dataset": "folder", "input": str(videos)}}
    # Version 1 had no data_generator: footage unless its input folder holds the generator's file.
    _rewrite_manifest(directory, schema_version=1, data_generator=None, producer=producer)
    assert not data.resolve_shards(directory).manifest.is_shape_motion
    (videos / schema.SHAPE_MOTION_GROUND_TRUTH).write_text("{}")
    manifest = data.resolve_shards(directory).manifest
    assert manifest.schema_version == 1 and manifest.is_shape_motion
    _rewrite_manifest(directory, schema_version=5)
    with pytest.raises(data.DataError, match=r"schema_version 5.*make preprocess"):
        data.resolve_shards(directory)


def test_version_2_manifests_say_what_made_the_data(tmp_path):
    directory = write_shards(tmp_path / "s", num_files=1, clips_per_file=2, shape=SHAPE)
    assert not schema.read_manifest(directory).is_shape_motion
    _rewrite_manifest(directory, data_generator=schema.SHAPE_MOTION)
    assert schema.read_manifest(directory).is_shape_motion
