"""pipeline.media: real ffmpeg encodes of the containers the project writes, decoded back."""

import os

import numpy as np
import pytest
import tensorflow as tf

from pipeline import media


def videos(n=5, t=3, h=6, w=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, t, h, w, 3)).astype(np.uint8)


def test_gif_round_trip_keeps_frames_size_and_flat_colours(tmp_path):
    frames = np.zeros((5, 10, 14, 3), np.uint8)
    frames[..., 0] = 200
    for t in range(5):
        frames[t, 2:6, t:t + 4] = (30, 180, 90)
    gif = media.encode_gif(frames, fps=8)
    assert gif[:6] == b"GIF89a"
    path = media.write_video(str(tmp_path / "clip.gif"), frames, fps=8)
    decoded = media.read_video(path)
    assert decoded.shape == frames.shape
    # Few colours: the per-clip palette holds them exactly.
    np.testing.assert_array_equal(decoded, frames)


def test_mp4_pads_odd_sizes_and_decodes_back(tmp_path):
    frames = np.full((6, 15, 21, 3), 128, np.uint8)
    frames[:, :, :10] = 40
    path = media.write_video(str(tmp_path / "clip.mp4"), frames, fps=10)
    decoded = media.read_video(path)
    assert decoded.shape == (6, 16, 22, 3)
    assert np.abs(decoded[:, :15, :21].astype(int) - frames).mean() < 4
    assert [p for p in os.listdir(tmp_path) if "partial" in p] == []


def test_png_is_lossless(tmp_path):
    image = videos(n=1, t=1, h=7, w=9)[0, 0]
    decoded = media.read_video(media.write_png(str(tmp_path / "sheet.png"), image))
    np.testing.assert_array_equal(decoded[0], image)


def test_one_write_video_for_the_data_sets_containers_and_remote_paths(tmp_path):
    frames = np.full((4, 16, 24, 3), 90, np.uint8)
    frames[:, 4:12, 6:14] = (220, 60, 30)
    for name, options in (("clip.avi", {"quality": 3}), ("clip.mkv", {}),
                          ("clip.webm", {}), ("mpeg4.avi", {"codec": "mpeg4", "quality": 2})):
        decoded = media.read_video(media.write_video(str(tmp_path / name), frames, **options))
        assert decoded.shape == frames.shape, name
        assert np.abs(decoded.astype(int) - frames).mean() < 6, name
    odd = media.read_video(media.write_video(str(tmp_path / "odd.avi"), frames[:, :15, :23]))
    assert odd.shape == (4, 16, 24, 3)  # xvid needs even sizes: the last row and column repeat
    # An mp4's index goes first unless asked otherwise (a truncated-download test needs it last).
    for faststart in (True, False):
        data = media.encode_video(frames, ".mp4", faststart=faststart)
        assert (data.index(b"moov") < data.index(b"mdat")) == faststart
    remote = media.write_video("ram://media_test/clip.mp4", frames, fps=10)
    with tf.io.gfile.GFile(remote, "rb") as f:
        assert f.read()[4:8] == b"ftyp"


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        media.encode_gif(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="clip.txt"):
        media.write_video("clip.txt", videos(n=1)[0])
    with pytest.raises(ValueError, match="clip.gif.*no codec"):
        media.write_video(str(tmp_path / "clip.gif"), videos(n=1)[0], quality=3)
    with pytest.raises(FileNotFoundError, match="missing.gif"):
        media.read_video("missing.gif")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(media.MediaError, match="notes.mp4"):
        media.read_video(str(text))


def test_ffmpeg_binary_override_that_names_nothing_is_refused(monkeypatch):
    monkeypatch.setenv(media.ENV_VAR, "/no/such/ffmpeg")
    media.ffmpeg_exe.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="/no/such/ffmpeg"):
            media.ffmpeg_exe()
    finally:
        monkeypatch.delenv(media.ENV_VAR)
        media.ffmpeg_exe.cache_clear()
    assert os.access(media.ffmpeg_exe(), os.X_OK)
