"""Unit tests of pipeline.clips: window starts, strides, caps and too-short videos."""

import numpy as np
import pytest

from pipeline.clips import ClipSpec, clip_starts, expected_clips, make_clips


def _video(num_frames):
    # Frame t is filled with the value t, so a window's first pixel names its first frame.
    return np.arange(num_frames, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)


def test_non_overlapping_by_default():
    assert clip_starts(50, ClipSpec(num_frames=16)) == [0, 16, 32]


def test_overlapping_stride():
    assert clip_starts(20, ClipSpec(num_frames=16, clip_stride=2)) == [0, 2, 4]


def test_exact_length_gives_one_clip():
    assert clip_starts(16, ClipSpec(num_frames=16)) == [0]


def test_too_short_gives_nothing():
    spec = ClipSpec(num_frames=16)
    assert clip_starts(15, spec) == []
    assert make_clips(_video(15), spec) == ([], [])
    assert expected_clips(15, spec) == 0


def test_cap_spreads_clips_over_the_whole_video():
    starts = clip_starts(100, ClipSpec(num_frames=10, clip_stride=10, max_clips=3))
    assert starts == [0, 40, 90]


def test_windows_are_the_right_frames():
    starts, windows = make_clips(_video(40), ClipSpec(num_frames=8, clip_stride=12))
    assert starts == [0, 12, 24]
    for start, window in zip(starts, windows):
        assert window.shape == (8, 2, 2, 3)
        np.testing.assert_array_equal(window[:, 0, 0, 0], np.arange(start, start + 8))


@pytest.mark.parametrize("available, spec", [
    (50, ClipSpec(16)), (16, ClipSpec(16)), (100, ClipSpec(10, 3, 7)), (33, ClipSpec(4, 5)),
])
def test_expected_clips_matches_clip_starts(available, spec):
    assert expected_clips(available, spec) == len(clip_starts(available, spec))


@pytest.mark.parametrize("kwargs", [dict(num_frames=0), dict(clip_stride=0), dict(max_clips=0)])
def test_bad_spec_is_refused_with_the_value(kwargs):
    with pytest.raises(ValueError, match="must be >= 1"):
        ClipSpec(**kwargs)
