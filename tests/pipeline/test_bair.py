"""pipeline.bair on a BAIR-shaped TFRecord file written by the test."""

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline import bair
from pipeline.transforms import FAILED, VIDEOS


def _trajectories(count, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, 30, 64, 64, 3), dtype=np.uint8)


@pytest.fixture
def bair_root(tmp_path):
    bair.write_bair_file(str(tmp_path / "train" / "traj_0_to_2.tfrecords"), _trajectories(3, 0))
    bair.write_bair_file(str(tmp_path / "test" / "traj_0_to_1.tfrecords"), _trajectories(2, 1))
    (tmp_path / "train" / "notes.txt").write_text("not part of the release")
    return tmp_path


def test_list_bair_files_finds_both_splits(bair_root):
    files = bair.list_bair_files(str(bair_root))
    assert [(f.relpath, f.split) for f in files] == [
        ("train/traj_0_to_2.tfrecords", "train"), ("test/traj_0_to_1.tfrecords", "test")]
    assert all(f.size_bytes > 3 * 64 * 64 * 3 for f in files)


def test_read_file_yields_every_trajectory_with_its_raw_frames(bair_root):
    expected = _trajectories(3, 0)
    files = [f for f in bair.list_bair_files(str(bair_root)) if f.split == "train"]
    with BeamTestPipeline() as p:
        videos = (p | beam.Create(files) | bair.ReadBairFiles(64, None))[VIDEOS]
        assert_that(videos | beam.Map(lambda v: (v.video_id, v.split, v.label, v.frames.shape,
                                                 bool(np.array_equal(v.frames, expected[int(v.video_id[-1])])))),
                    equal_to([(f"train/traj_0_to_2.tfrecords#{i}", "train", -1, (30, 64, 64, 3), True)
                              for i in range(3)]))


def test_stride_and_resize():
    frames = _trajectories(1)[0]
    resized = bair.resize_frames(frames[::2], 32)
    assert resized.shape == (15, 32, 32, 3) and resized.dtype == np.uint8
    # Area averaging of 2x2 blocks: the mean of each block, up to rounding.
    blocks = frames[::2].reshape(15, 32, 2, 32, 2, 3).astype(float).mean(axis=(2, 4))
    assert np.abs(resized - blocks).max() <= 1


def test_corrupt_file_is_reported_not_fatal(tmp_path):
    path = bair.write_bair_file(str(tmp_path / "train" / "traj_0_to_1.tfrecords"), _trajectories(2))
    with open(path, "r+b") as handle:  # cut the second record short
        handle.truncate(handle.seek(0, 2) - 1000)
    files = bair.list_bair_files(str(tmp_path))
    with BeamTestPipeline() as p:
        outputs = p | beam.Create(files) | bair.ReadBairFiles(64, None)
        assert_that(outputs[VIDEOS] | beam.Map(lambda v: v.video_id),
                    equal_to(["train/traj_0_to_1.tfrecords#0"]), label="Good")
        assert_that(outputs[FAILED] | beam.Map(lambda f: (f["video_id"], "after 1 good records" in f["reason"])),
                    equal_to([("train/traj_0_to_1.tfrecords#1..", True)]), label="Failed")


def test_not_a_bair_record_says_so():
    with pytest.raises(ValueError, match="not a BAIR softmotion record"):
        bair.trajectory_frames(b"")
