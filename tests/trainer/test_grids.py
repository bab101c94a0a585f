"""Grids and contact sheets of generated videos, checked pixel by pixel."""

import numpy as np

from trainer import grids


def videos(n=5, t=3, h=6, w=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, t, h, w, 3)).astype(np.uint8)


def test_video_grid_tiles_row_by_row_with_gaps():
    clips = videos(n=5)
    grid = grids.video_grid(clips, cols=3, gap=2)
    assert grid.shape == (3, 2 * 6 + 2, 3 * 8 + 2 * 2, 3)
    np.testing.assert_array_equal(grid[:, :6, :8], clips[0])
    np.testing.assert_array_equal(grid[:, 8:14, 10:18], clips[4])  # row 1, column 1
    assert np.all(grid[:, 6:8] == grids.GAP_VALUE)  # the gap between rows
    assert np.all(grid[:, 8:, 20:] == grids.GAP_VALUE)  # the empty sixth cell
    assert grids.video_grid(clips[:2], cols=4).shape == (3, 6, 18, 3)


def test_contact_sheet_rows_are_videos_columns_are_frames():
    clips = videos(n=4, t=5)
    sheet = grids.contact_sheet(clips, num_videos=2, frames_per_video=3, gap=1)
    assert sheet.shape == (2 * 6 + 1, 3 * 8 + 2, 3)
    np.testing.assert_array_equal(sheet[:6, :8], clips[0, 0])
    np.testing.assert_array_equal(sheet[:6, 9:17], clips[0, 2])
    np.testing.assert_array_equal(sheet[7:, 18:], clips[1, 4])
