"""Incremental preprocessing: real Beam runs over a growing folder of real videos, read back by the
trainer's reader as one data set (no clip lost, none duplicated, changed videos replaced)."""

import collections
import logging
import os

import pytest
import tensorflow as tf

from pipeline import incremental, schema, shard_layout
from pipeline.main import EXIT_OK, EXIT_USAGE, run
from tests.video_fixtures import make_video
from trainer import data

FRAMES, CLIP = 40, 8  # 40 frames, 8-frame clips without overlap: 5 clips per video
CLIPS_PER_VIDEO = FRAMES // CLIP
JOB = ["--dataset=folder", f"--num_frames={CLIP}", "--size=16", "--test_fraction=0.3",
       "--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _videos(folder, names, seed=0):
    for i, name in enumerate(names):
        make_video(os.path.join(folder, name), num_frames=FRAMES, height=24, width=32, seed=seed + i)


def _job(input_dir, output, *extra):
    return run([*JOB, f"--input={input_dir}", f"--output={output}", *extra])


def clips_per_video(root) -> collections.Counter:
    """Clips per video id over both splits, as the trainer reads the dataset root."""
    counts = collections.Counter()
    spec = {schema.VIDEO_ID: schema.feature_spec()[schema.VIDEO_ID]}
    for split in ("train", "test"):
        for record in data.read_records(data.resolve_shards(root, split)):
            counts[tf.io.parse_single_example(record, spec)[schema.VIDEO_ID].numpy().decode()] += 1
    return counts


def training_clips(root, split="train") -> int:
    shards = data.resolve_shards(root, split)
    return sum(1 for _ in data.make_dataset(shards, global_batch_size=1, repeat=False))


def test_growing_input_adds_sets_and_replaces_changed_videos(tmp_path, capsys):
    videos, root = tmp_path / "videos", str(tmp_path / "shards")
    _videos(videos, ["a/v0.avi", "b/v1.avi", "a/v2.avi"])
    assert _job(videos, root, "--incremental=on") == EXIT_OK
    [first] = shard_layout.version_folders(root)
    entry = schema.read_manifest(os.path.join(root, first)).incremental
    assert sorted(entry.fingerprints) == ["a/v0.avi", "a/v2.avi", "b/v1.avi"]
    assert clips_per_video(root) == {v: CLIPS_PER_VIDEO for v in ("a/v0.avi", "b/v1.avi", "a/v2.avi")}

    # Nothing new: says so, writes nothing (and auto mode is incremental on a versioned root).
    capsys.readouterr()
    assert _job(videos, root) == EXIT_OK
    assert "nothing new: all 3 videos" in capsys.readouterr().out
    assert shard_layout.version_folders(root) == [first]

    # Two new videos and a changed one.
    _videos(videos, ["a/v3.avi", "b/v4.avi"], seed=10)
    old_size = os.path.getsize(videos / "a/v0.avi")
    _videos(videos, ["a/v0.avi"], seed=99)
    stat = os.stat(videos / "a/v0.avi")
    os.utime(videos / "a/v0.avi", (stat.st_atime, stat.st_mtime + 10))
    assert _job(videos, root, "--incremental=on") == EXIT_OK
    first_again, second = shard_layout.version_folders(root)
    assert first_again == first and second > first
    entry = schema.read_manifest(os.path.join(root, second)).incremental
    assert (sorted(entry.new), entry.changed, entry.superseded) == (
        ["a/v3.avi", "b/v4.avi"], ("a/v0.avi",), ("a/v0.avi",))
    assert entry.earlier_sets == (first,) and os.path.getsize(videos / "a/v0.avi") != old_size
    # Each video's clips once: v0's old clips in the first set are no longer read.
    counts = clips_per_video(root)
    assert counts == {v: CLIPS_PER_VIDEO for v in ("a/v0.avi", "b/v1.avi", "a/v2.avi", "a/v3.avi", "b/v4.avi")}
    # The training reader drops them too.
    train_ids = [v for v in counts if v in _ids_of_split(root, "train")]
    assert training_clips(root) == CLIPS_PER_VIDEO * len(train_ids)


def _ids_of_split(root, split) -> set[str]:
    ids = set()
    for name in shard_layout.version_folders(root):
        entry = schema.read_manifest(os.path.join(root, name)).incremental
        ids |= set(entry.fingerprints)
    from pipeline.sources import TEST, TRAIN, split_fraction
    return {v for v in ids if (TEST if split_fraction(v) < 0.3 else TRAIN) == split}


def test_set_without_manifest_is_ignored_by_the_reader_and_redone(tmp_path, caplog):
    videos, root = tmp_path / "videos", str(tmp_path / "shards")
    _videos(videos, ["a/v0.avi", "b/v1.avi"])
    assert _job(videos, root, "--incremental=on") == EXIT_OK
    _videos(videos, ["a/v2.avi"], seed=5)
    killed = os.path.join(root, "29991231T000000.000000Z")  # as a killed run leaves it
    os.makedirs(killed)
    with open(os.path.join(killed, "train-00000-of-00001.tfrecord"), "wb") as f:
        f.write(b"\x00" * 10)
    with caplog.at_level(logging.WARNING, logger="trainer.shard_sets"):
        assert set(clips_per_video(root)) == {"a/v0.avi", "b/v1.avi"}
    assert f"ignoring {killed}: no manifest.json" in caplog.text
    # The next run removes the killed set first, then writes v2 as a new set.
    assert _job(videos, root, "--incremental=on") == EXIT_OK
    assert not os.path.exists(killed)
    assert clips_per_video(root) == {v: CLIPS_PER_VIDEO for v in ("a/v0.avi", "b/v1.avi", "a/v2.avi")}


def test_single_set_layout_stays_the_default_and_layouts_never_mix(tmp_path, capsys):
    videos = tmp_path / "videos"
    _videos(videos, ["a/v0.avi", "b/v1.avi"])
    single = str(tmp_path / "single")
    assert _job(videos, single) == EXIT_OK  # auto on an empty output: today's single set
    assert os.path.exists(os.path.join(single, schema.MANIFEST_NAME))
    assert clips_per_video(single) == {"a/v0.avi": CLIPS_PER_VIDEO, "b/v1.avi": CLIPS_PER_VIDEO}
    capsys.readouterr()
    assert _job(videos, single, "--incremental=on") == EXIT_USAGE
    assert "holds a single shard set" in capsys.readouterr().err
    root = str(tmp_path / "root")
    os.makedirs(os.path.join(root, "20260101T000000.000000Z"))
    assert _job(videos, root, "--incremental=off") == EXIT_USAGE
    assert "would mix layouts" in capsys.readouterr().err


def test_a_new_class_folder_is_refused_with_the_reason(tmp_path, capsys):
    videos, root = tmp_path / "videos", str(tmp_path / "shards")
    _videos(videos, ["a/v0.avi", "c/v1.avi"])
    assert _job(videos, root, "--incremental=on") == EXIT_OK
    _videos(videos, ["b/v2.avi"], seed=3)  # 'b' sorts between: every label after it would shift
    capsys.readouterr()
    assert _job(videos, root, "--incremental=on") == EXIT_USAGE
    err = capsys.readouterr().err
    assert "class_names: earlier ('a', 'c'), now ('a', 'b', 'c')" in err


def test_versions_sort_in_time_and_a_clock_behind_is_refused():
    import datetime
    utc = datetime.timezone.utc
    early = incremental.new_version([], datetime.datetime(2026, 1, 2, 3, 4, 5, 6, utc))
    later = incremental.new_version([early], datetime.datetime(2026, 1, 2, 3, 4, 5, 7, utc))
    assert early == "20260102T030405.000006Z" and later > early
    with pytest.raises(incremental.IncrementalError, match="behind the newest shard set"):
        incremental.new_version([later], datetime.datetime(2026, 1, 1, tzinfo=utc))
