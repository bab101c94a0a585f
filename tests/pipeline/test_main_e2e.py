"""End-to-end runs of `pipeline.main.run` into temporary folders, shards read back.

One UCF-101 run uses the multi-processing DirectRunner (2 workers), which pickles every DoFn and
element as Dataflow would; the other runs use the in-memory runner to keep the suite fast.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from pipeline import bair, schema
from pipeline.decode import filter_args, output_args
from pipeline.media import ffmpeg_exe
from pipeline.main import EXIT_OK, EXIT_UNUSABLE, EXIT_USAGE, run
from tests.video_fixtures import DECODE_FAILURES, make_bad_videos, make_ucf101_tree, make_video

IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def read_split(output, split):
    manifest = schema.read_manifest(output)
    clips = []
    for path in manifest.split_paths(output, split):
        dataset = tf.data.TFRecordDataset(path, schema.tf_compression_type(manifest.compression))
        clips += [schema.decode_clip(record.numpy()) for record in dataset]
    return clips


def bare_ffmpeg_frames(path, size):
    """The video decoded by a plain ffmpeg command with the job's filters, for comparison."""
    command = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", path,
               "-vf", ",".join(filter_args(size=size)), *output_args(), "pipe:"]
    out = subprocess.run(command, capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, size, size, 3)


def test_ucf101_end_to_end_on_the_multi_processing_runner(tmp_path):
    # One test, not several sharing a fixture, so that pytest-xdist runs this job only once.
    input_root, splits_dir = make_ucf101_tree(tmp_path, groups=(1, 2, 8, 9), num_frames=40,
                                              add_missing_entry=True)
    output = str(tmp_path / "shards")
    status = run(["--dataset=ucf101", f"--input={input_root}", f"--splits={splits_dir}",
                  f"--output={output}", "--num_frames=8", "--size=32", "--clip_stride=12",
                  "--encoding=png", "--compression=gzip", "--max_failure_fraction=0.2",
                  "--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    assert status == EXIT_OK
    check_ucf_manifest_and_files(output)
    check_ucf_labels_and_groups(output)
    check_ucf_pixels_equal_bare_ffmpeg(input_root, output)
    check_ucf_missing_entry_reported(output)


def check_ucf_manifest_and_files(output):
    manifest = schema.read_manifest(output)
    assert manifest.clip_shape == (8, 32, 32, 3)
    assert (manifest.encoding, manifest.compression) == ("png", "gzip")
    assert manifest.class_names == ("ApplyEyeMakeup", "HandstandPushups", "YoYo")
    on_disk = sorted(name for name in os.listdir(output) if name.endswith(".tfrecord.gz"))
    assert sorted(f for split in manifest.splits.values() for f in split.files) == on_disk
    assert not [name for name in os.listdir(output) if name.startswith(".")], "temporary files left"
    # 40 frames, 8-frame clips every 12 frames: starts 0, 12, 24.
    for split in ("train", "test"):
        info = manifest.splits[split]
        assert (info.num_videos, info.num_clips) == (6, 18)
        assert len(read_split(output, split)) == 18


def check_ucf_labels_and_groups(output):
    class_names = schema.read_manifest(output).class_names
    groups = {}
    for split in ("train", "test"):
        for clip in read_split(output, split):
            folder = clip.video_id.split("/")[0]
            assert class_names[clip.label] == folder, clip.video_id
            groups.setdefault(split, set()).add(re.search(r"_g(\d\d)_", clip.video_id).group(1))
    assert groups == {"train": {"08", "09"}, "test": {"01", "02"}}
    assert not groups["train"] & groups["test"]


def check_ucf_pixels_equal_bare_ffmpeg(input_root, output):
    clips = read_split(output, "test")
    for clip in (clips[0], clips[-1]):
        expected = bare_ffmpeg_frames(os.path.join(input_root, clip.video_id), size=32)
        np.testing.assert_array_equal(clip.frames, expected[clip.start:clip.start + 8])


def check_ucf_missing_entry_reported(output):
    failed = schema.read_manifest(output).failed
    assert [entry["video_id"] for entry in failed] == ["ApplyEyeMakeup/v_ApplyEyeMakeup_g25_c99.avi"]
    assert "not found" in failed[0]["reason"]


def test_bad_inputs_are_listed_and_good_clips_still_written(tmp_path):
    bad = make_bad_videos(tmp_path / "videos")
    make_video(tmp_path / "videos" / "good.avi", num_frames=20, seed=7)
    output = str(tmp_path / "shards")
    status = run(["--dataset=folder", f"--input={tmp_path / 'videos'}", f"--output={output}",
                  "--no_folder_labels", "--test_fraction=0", "--num_frames=10", "--size=16", *IN_MEMORY])
    # Most inputs are bad, more than the default --max_failure_fraction: non-zero, but written.
    assert status == EXIT_UNUSABLE
    manifest = schema.read_manifest(output)
    reasons = {entry["path"]: entry["reason"] for entry in manifest.failed}
    for name in (*DECODE_FAILURES, "too_short"):
        assert bad[name] in reasons, f"{name} missing from the manifest's failures"
        assert reasons[bad[name]], name
    assert "too short" in reasons[bad["too_short"]]
    assert "empty" in reasons[bad["empty"]]
    ids = sorted({clip.video_id for clip in read_split(output, "train")})
    assert ids == sorted(["good.avi", os.path.basename(bad["unicode_name"])])
    assert (manifest.splits["train"].num_videos, manifest.splits["train"].num_clips) == (2, 2 + 5)
    assert manifest.upscaled_videos == 0  # --size=16 is below every source


def test_a_size_above_the_sources_is_reported_once_with_the_count(tmp_path, capsys):
    for i in range(2):
        make_video(tmp_path / "videos" / f"small_{i}.avi", num_frames=8, height=48, width=64, seed=i)
    make_video(tmp_path / "videos" / "large.mp4", num_frames=8, height=96, width=128, seed=5)
    output = str(tmp_path / "shards")
    status = run(["--dataset=folder", f"--input={tmp_path / 'videos'}", f"--output={output}",
                  "--no_folder_labels", "--test_fraction=0", "--num_frames=8", "--size=64", *IN_MEMORY])
    assert status == EXIT_OK
    assert schema.read_manifest(output).upscaled_videos == 2
    warnings = [line for line in capsys.readouterr().out.splitlines() if "upscaled" in line]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("warning: 2 of 3 videos were upscaled") and "--size=64" in warnings[0]
    assert "small_0.avi (64x48)" in warnings[0] and "large.mp4" not in warnings[0]


def test_bair_end_to_end(tmp_path):
    rng = np.random.default_rng(3)
    trajectories = {split: rng.integers(0, 256, (n, 30, 64, 64, 3), dtype=np.uint8)
                    for split, n in (("train", 3), ("test", 1))}
    for split, frames in trajectories.items():
        bair.write_bair_file(str(tmp_path / "bair" / split / f"traj_0_to_{len(frames) - 1}.tfrecords"), frames)
    output = str(tmp_path / "shards")
    status = run(["--dataset=bair", f"--input={tmp_path / 'bair'}", f"--output={output}",
                  "--num_frames=10", "--frame_stride=2", *IN_MEMORY])
    assert status == EXIT_OK
    manifest = schema.read_manifest(output)
    assert manifest.clip_shape == (10, 64, 64, 3) and manifest.class_names == ()
    assert {s: (i.num_videos, i.num_clips) for s, i in manifest.splits.items()} == {
        "train": (3, 3), "test": (1, 1)}
    for clip in read_split(output, "train"):
        index = int(clip.video_id.rsplit("#", 1)[1])
        assert clip.video_id.startswith("train/traj_0_to_2.tfrecords#") and clip.label == -1
        np.testing.assert_array_equal(clip.frames, trajectories["train"][index][::2][:10])


def test_empty_input_exits_non_zero_from_the_command_line(tmp_path):
    (tmp_path / "empty").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.main", "--dataset=folder", f"--input={tmp_path / 'empty'}",
         f"--output={tmp_path / 'shards'}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_UNUSABLE
    assert "no folder inputs found" in result.stderr
    assert not (tmp_path / "shards" / schema.MANIFEST_NAME).exists()


def test_conflicting_or_misspelt_flags_are_a_usage_error(tmp_path, capsys):
    status = run(["--dataset=folder", f"--input={tmp_path}", f"--output={tmp_path / 'o'}",
                  "--fps=5", "--frame_stride=2"])
    assert status == EXIT_USAGE
    assert "not both" in capsys.readouterr().err
    status = run(["--dataset=folder", f"--input={tmp_path}", f"--output={tmp_path / 'o'}", "--num_frame=8"])
    assert status == EXIT_USAGE
    assert "unknown flags: --num_frame" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# Driver-side decisions, without running a pipeline


def test_default_runner_decodes_with_one_ffmpeg_per_core_in_one_process():
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions
    from pipeline.options import parse_options

    options, config = parse_options(["--input=/in", "--output=/out"])
    assert options.view_as(StandardOptions).runner == "DirectRunner"
    direct = options.view_as(DirectOptions)
    assert (direct.direct_running_mode, direct.direct_num_workers) == ("in_memory", 1)
    assert config.decode_threads == os.cpu_count() + 1  # a spare ffmpeg while one waits on its reader
    assert (config.dataset, config.num_frames, config.size, config.clip_stride) == ("folder", 16, 64, None)
    options, config = parse_options(["--input=/in", "--output=/out", "--decode_threads=3"])
    assert config.decode_threads == 3
    options, config = parse_options(["--input=/in", "--output=/out",
                                     "--direct_running_mode=multi_processing"])
    direct = options.view_as(DirectOptions)
    assert (direct.direct_running_mode, direct.direct_num_workers) == ("multi_processing", os.cpu_count())
    assert config.decode_threads == 1


def test_flags_given_are_read_from_the_parsed_arguments_not_the_text(monkeypatch):
    from apache_beam.options.pipeline_options import DirectOptions
    from pipeline import options as options_lib

    # Values that spell other flags' names set only the flag they are the value of.
    given = options_lib.given_options(["--input=--decode_threads", "--output", "/out",
                                       "--job_name=--direct_running_mode", "--direct_num_workers", "2"])
    assert given == {"input", "output", "direct_num_workers"}
    monkeypatch.setattr(options_lib, "_import_dask_options", lambda: pytest.fail("not the DaskRunner"))
    options, config = options_lib.parse_options(["--input=/videos/DaskRunner", "--output=--decode_threads",
                                                 "--job_name=--direct_running_mode"])
    direct = options.view_as(DirectOptions)
    assert (direct.direct_running_mode, direct.direct_num_workers) == ("in_memory", 1)
    assert config.decode_threads == options_lib.default_decode_threads()
    assert config.output == "--decode_threads"


def test_piece_size_follows_the_expected_bytes():
    from pipeline.clips import ClipSpec
    from pipeline.manifest_writer import TARGET_SHARD_BYTES, clip_bytes, expected_num_shards, piece_bytes

    per_clip = clip_bytes(ClipSpec(16), 64, "raw", "none")
    assert 16 * 64 * 64 * 3 <= per_clip < 16 * 64 * 64 * 3 * 1.01
    assert expected_num_shards(3, per_clip) == 1
    assert 100 * 2**20 <= 100_000 * per_clip / expected_num_shards(100_000, per_clip) <= TARGET_SHARD_BYTES
    assert piece_bytes({"train": 100_000, "test": 3}, per_clip, None) == {
        "train": TARGET_SHARD_BYTES, "test": TARGET_SHARD_BYTES}
    forced = piece_bytes({"train": 100_000, "test": 3}, per_clip, 7000)
    # Seven thousand shards of train need pieces small enough to fill them all.
    assert forced["train"] <= 100_000 * per_clip / 7000 and forced["test"] <= 3 * per_clip / 7000 + 1
    assert clip_bytes(ClipSpec(16), 64, "jpeg", "none") < clip_bytes(ClipSpec(16), 64, "png", "none") < per_clip


def test_decode_limits_and_lowres_flags():
    from pipeline.options import parse_options

    _, config = parse_options(["--input=/in", "--output=/out"])
    assert (config.decode_stall_s, config.decode_timeout_s, config.lowres) == (60.0, None, 0)
    _, config = parse_options(["--input=/in", "--output=/out", "--decode_stall_s=0", "--decode_timeout_s=900",
                               "--lowres=1"])
    assert (config.decode_stall_s, config.decode_timeout_s, config.lowres) == (None, 900.0, 1)
    for flags, message in ((["--decode_timeout_s=0"], "--decode_timeout_s must be > 0"),
                           (["--dataset=bair", "--lowres=1"], "--lowres applies to videos decoded by ffmpeg")):
        with pytest.raises(ValueError, match=message):
            parse_options(["--input=/in", "--output=/out", *flags])
