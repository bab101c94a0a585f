"""Unit tests of pipeline.clips: window starts, strides, caps and too-short videos."""

import numpy as np
import pytest

from pipeline.clips import (ClipCutter, ClipSpec, FrameCountMismatch, clip_starts, expected_clips, make_clips,
                            stream_clips)


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


# ------------------------------------------------------------------------------------------------
# Streaming: the same windows from chunks of frames, holding only what a coming window needs


def _chunks(frames, size):
    return (frames[i:i + size] for i in range(0, len(frames), size))


SPECS = [ClipSpec(16), ClipSpec(16, 3), ClipSpec(8, 20), ClipSpec(10, 10, 3), ClipSpec(4, 1, 7), ClipSpec(16, 16, 1)]


@pytest.mark.parametrize("available", [0, 5, 16, 17, 50, 161])
@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_streamed_clips_are_make_clips(available, spec, chunk):
    video = _video(available)
    starts, windows = make_clips(video, spec)
    cutter = ClipCutter(spec, available if spec.max_clips else None)
    cut = list(stream_clips(_chunks(video, chunk), cutter))
    assert [start for start, _ in cut] == starts
    for (_, window), expected in zip(cut, windows):
        np.testing.assert_array_equal(window, expected)


def test_cutter_holds_only_the_frames_a_coming_window_needs():
    cutter = ClipCutter(ClipSpec(num_frames=8, clip_stride=20))
    held = []
    for chunk in _chunks(_video(200), 4):
        cutter.push(chunk)
        held.append(sum(len(c) for c in cutter._chunks))  # pylint: disable=protected-access
    assert max(held) <= 8 + 4  # one window and the chunk that completes it, never the video


def test_windows_stay_what_they_were_cut_as_more_frames_arrive():
    cutter, video, cut = ClipCutter(ClipSpec(num_frames=4, clip_stride=3)), _video(40), []
    for chunk in _chunks(video, 5):
        cut += cutter.push(chunk.copy())
    for start, window in cut:
        np.testing.assert_array_equal(window, video[start:start + 4])


def test_a_cap_stops_reading_after_its_last_window():
    read = []

    def frames():
        for chunk in _chunks(_video(100), 5):
            read.append(len(chunk))
            yield chunk

    cutter = ClipCutter(ClipSpec(num_frames=10, clip_stride=10, max_clips=2), num_available=60)
    assert [start for start, _ in stream_clips(frames(), cutter)] == [0, 50]
    assert sum(read) == cutter.seen == 60  # of the 100 frames, none past the last window


def test_a_count_above_the_streams_length_is_reported():
    cutter = ClipCutter(ClipSpec(num_frames=10, max_clips=2), num_available=60)
    with pytest.raises(FrameCountMismatch) as caught:
        list(stream_clips(_chunks(_video(45), 5), cutter))
    assert (caught.value.counted, caught.value.seen) == (60, 45)


def test_a_cap_without_a_frame_count_is_refused():
    with pytest.raises(ValueError, match="frame count"):
        ClipCutter(ClipSpec(num_frames=10, max_clips=2))
