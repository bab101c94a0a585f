"""Grids, sheets and real ffmpeg encodes of generated videos, read back by decoding."""

import os

import numpy as np
import pytest

from trainer import video_io


def videos(n=5, t=3, h=6, w=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, t, h, w, 3)).astype(np.uint8)


def test_video_grid_tiles_row_by_row_with_gaps():
    clips = videos(n=5)
    grid = video_io.video_grid(clips, cols=3, gap=2)
    assert grid.shape == (3, 2 * 6 + 2, 3 * 8 + 2 * 2, 3)
    np.testing.assert_array_equal(grid[:, :6, :8], clips[0])
    np.testing.assert_array_equal(grid[:, 8:14, 10:18], clips[4])  # row 1, column 1
    assert np.all(grid[:, 6:8] == video_io.GAP_VALUE)  # the gap between rows
    assert np.all(grid[:, 8:, 20:] == video_io.GAP_VALUE)  # the empty sixth cell
    assert video_io.video_grid(clips[:2], cols=4).shape == (3, 6, 18, 3)


def test_contact_sheet_rows_are_videos_columns_are_frames():
    clips = videos(n=4, t=5)
    sheet = video_io.contact_sheet(clips, num_videos=2, frames_per_video=3, gap=1)
    assert sheet.shape == (2 * 6 + 1, 3 * 8 + 2, 3)
    np.testing.assert_array_equal(sheet[:6, :8], clips[0, 0])
    np.testing.assert_array_equal(sheet[:6, 9:17], clips[0, 2])
    np.testing.assert_array_equal(sheet[7:, 18:], clips[1, 4])


def test_gif_round_trip_keeps_frames_size_and_flat_colours(tmp_path):
    frames = np.zeros((5, 10, 14, 3), np.uint8)
    frames[..., 0] = 200
    for t in range(5):
        frames[t, 2:6, t:t + 4] = (30, 180, 90)
    gif = video_io.encode_gif(frames, fps=8)
    assert gif[:6] == b"GIF89a"
    path = video_io.write_video(str(tmp_path / "clip.gif"), frames, fps=8)
    decoded = video_io.read_video(path)
    assert decoded.shape == frames.shape
    # Few colours: the per-clip palette holds them exactly.
    np.testing.assert_array_equal(decoded, frames)


def test_mp4_pads_odd_sizes_and_decodes_back(tmp_path):
    frames = np.full((6, 15, 21, 3), 128, np.uint8)
    frames[:, :, :10] = 40
    path = video_io.write_video(str(tmp_path / "clip.mp4"), frames, fps=10)
    decoded = video_io.read_video(path)
    assert decoded.shape == (6, 16, 22, 3)
    assert np.abs(decoded[:, :15, :21].astype(int) - frames).mean() < 4
    assert [p for p in os.listdir(tmp_path) if "partial" in p] == []


def test_png_is_lossless(tmp_path):
    image = videos(n=1, t=1, h=7, w=9)[0, 0]
    decoded = video_io.read_video(video_io.write_png(str(tmp_path / "sheet.png"), image))
    np.testing.assert_array_equal(decoded[0], image)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="uint8"):
        video_io.encode_gif(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="clip.avi"):
        video_io.write_video("clip.avi", videos(n=1)[0])
    with pytest.raises(FileNotFoundError, match="missing.gif"):
        video_io.read_video("missing.gif")
