"""pipeline.decode on real videos encoded by ffmpeg: shapes, time resampling, pixels, failures."""

import inspect
import os
import pickle
import subprocess
import tempfile
import threading

import numpy as np
import pytest

from pipeline.decode import (DecodeError, SourceSize, count_frames, decode_video, ffmpeg_command, filter_args,
                             output_args, stream_frames)
from pipeline.media import ffmpeg_exe
from tests.video_fixtures import DECODE_FAILURES, SHORT_VIDEO_FRAMES, make_bad_videos, make_video, moving_frames

NUM_FRAMES, HEIGHT, WIDTH = 50, 60, 80  # 2 s at 25 fps, landscape 4:3 like UCF-101

EXPECTED_KINDS = {
    "truncated": "truncated",
    "truncated_avi": "damaged",
    "empty": "empty",
    "text": "not_a_video",
    "audio_only": "no_video_stream",
    "dangling_symlink": "missing",
    "directory": "unreadable",
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    return {
        "xvid_avi": make_video(root / "xvid.avi", NUM_FRAMES, HEIGHT, WIDTH, seed=1),
        "h264_mp4": make_video(root / "h264.mp4", NUM_FRAMES, HEIGHT, WIDTH, seed=2),
        "portrait": make_video(root / "portrait.mp4", NUM_FRAMES, WIDTH, HEIGHT, seed=3),
    }


@pytest.fixture(scope="module")
def bad_videos(tmp_path_factory):
    return make_bad_videos(tmp_path_factory.mktemp("bad"))


def _resize_nearest(frames: np.ndarray, size: int) -> np.ndarray:
    rows = (np.arange(size) * frames.shape[1] / size).astype(int)
    cols = (np.arange(size) * frames.shape[2] / size).astype(int)
    return frames[:, rows][:, :, cols]


def _mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize("name", ["xvid_avi", "h264_mp4"])
def test_decodes_every_frame_as_uint8_squares(videos, name):
    frames = decode_video(videos[name], size=64)
    assert frames.dtype == np.uint8
    assert frames.shape == (NUM_FRAMES, 64, 64, 3)
    assert decode_video(videos[name], size=32).shape == (NUM_FRAMES, 32, 32, 3)


@pytest.mark.parametrize("name, source_shape, crop", [
    ("xvid_avi", (HEIGHT, WIDTH), (slice(None), slice(10, 70))),  # landscape: centre columns
    ("portrait", (WIDTH, HEIGHT), (slice(10, 70), slice(None))),  # portrait: centre rows
])
def test_short_side_resized_and_centre_cropped_in_rgb_order(videos, name, source_shape, crop):
    seed = {"xvid_avi": 1, "portrait": 3}[name]
    source = moving_frames(NUM_FRAMES, *source_shape, seed=seed)[:, crop[0], crop[1]]
    expected = _resize_nearest(source, 64)
    decoded = decode_video(videos[name], size=64)
    # Codec loss and resampling filters stay within a few levels; a wrong crop, a stretched
    # aspect or BGR order is off by tens.
    assert _mean_abs_diff(decoded, expected) < 6
    assert _mean_abs_diff(decoded, expected[..., ::-1]) > 20


@pytest.mark.parametrize("stride, expected_frames", [(1, 50), (2, 25), (3, 17), (7, 8), (50, 1), (80, 1)])
def test_frame_stride_keeps_every_kth_decoded_frame(videos, stride, expected_frames):
    every_frame = decode_video(videos["xvid_avi"])
    strided = decode_video(videos["xvid_avi"], frame_stride=stride)
    assert strided.shape[0] == expected_frames
    np.testing.assert_array_equal(strided, every_frame[::stride])


@pytest.mark.parametrize("fps, expected_frames", [(5, 10), (12.5, 25), (25, 50), (50, 100)])
def test_fps_resamples_the_two_second_video(videos, fps, expected_frames):
    assert decode_video(videos["h264_mp4"], fps=fps).shape == (expected_frames, 64, 64, 3)


@pytest.mark.parametrize("name, options", [("xvid_avi", {"frame_stride": 3}), ("h264_mp4", {"fps": 10}),
                                           ("portrait", {})])
def test_pixels_match_bare_ffmpeg_with_the_same_filters(videos, name, options):
    command = [ffmpeg_exe(), "-v", "error", "-i", videos[name], "-vf", ",".join(filter_args(48, **options)),
               *output_args(), "-"]
    bare = subprocess.run(command, capture_output=True, check=True).stdout
    decoded = decode_video(videos[name], size=48, **options)
    assert decoded.tobytes() == bare


@pytest.mark.parametrize("name", DECODE_FAILURES)
def test_bad_input_raises_decode_error_with_its_reason(bad_videos, name):
    path = bad_videos[name]
    with pytest.raises(DecodeError) as caught:
        decode_video(path)
    error = caught.value
    assert error.kind == EXPECTED_KINDS[name]
    assert error.path == path and path in str(error)
    assert error.reason and error.reason in str(error)
    if error.kind in ("truncated", "damaged", "not_a_video", "no_video_stream"):
        assert error.stderr_tail, "ffmpeg ran, so its stderr should be kept"


@pytest.mark.parametrize("name", ["small.avi", "small.mp4"])
def test_the_source_size_comes_from_the_decode_itself(tmp_path, name):
    path = make_video(tmp_path / name, num_frames=8, height=48, width=64)
    size = SourceSize()
    frames = np.concatenate(list(stream_frames(path, size=128, source_size=size)))
    assert frames.shape == (8, 128, 128, 3) and (size.width, size.height) == (64, 48)
    assert size.upscaled(128) and size.upscaled(49) and not size.upscaled(48) and not size.upscaled(32)
    assert size.upscaled(32, lowres=1) and not size.upscaled(24, lowres=1)  # 1/2 size: 32x24 decoded
    assert not SourceSize().upscaled(128)  # unknown is not counted


def test_the_header_log_stays_out_of_the_failure_reasons(bad_videos):
    with pytest.raises(DecodeError) as caught:
        decode_video(bad_videos["truncated_avi"])  # damaged after a readable header
    error = caught.value
    assert error.kind == "damaged" and error.reason.startswith("video is damaged or truncated partway: ")
    assert "Stream #0" not in error.stderr_tail and "[info]" not in error.stderr_tail
    assert "[error]" not in error.stderr_tail  # the level tags are taken off


def test_reasons_say_what_is_wrong(bad_videos):
    reasons = {}
    for name in ("empty", "audio_only", "truncated"):
        with pytest.raises(DecodeError) as caught:
            decode_video(bad_videos[name])
        reasons[name] = caught.value.reason
    assert "0 bytes" in reasons["empty"]
    assert "no video stream" in reasons["audio_only"]
    assert "truncated" in reasons["truncated"]


@pytest.mark.parametrize("decode", [decode_video, count_frames])
def test_random_bytes_named_mp4_are_not_a_video_not_a_truncated_one(tmp_path, decode):
    # ffmpeg's mp4 demuxer says "moov atom not found" for these as for a real, cut-off mp4.
    path = tmp_path / "random.mp4"
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(DecodeError) as caught:
        decode(str(path))
    assert caught.value.kind == "not_a_video"
    assert "not a video" in caught.value.reason and "truncated" not in caught.value.reason


def test_good_videos_among_the_bad_ones_decode(bad_videos):
    assert decode_video(bad_videos["unicode_name"]).shape == (NUM_FRAMES, 64, 64, 3)
    assert decode_video(bad_videos["too_short"]).shape == (SHORT_VIDEO_FRAMES, 64, 64, 3)


def test_lenient_mode_keeps_frames_before_the_damage(bad_videos):
    frames = decode_video(bad_videos["truncated_avi"], strict=False)
    assert 0 < frames.shape[0] < NUM_FRAMES


def test_timeout_kills_ffmpeg_and_says_so(videos):
    with pytest.raises(DecodeError) as caught:
        decode_video(videos["h264_mp4"], timeout_s=0.001)
    assert caught.value.kind == "timeout"
    assert "timed out after 0.001 s" in caught.value.reason


def test_error_survives_pickling(bad_videos):
    with pytest.raises(DecodeError) as caught:
        decode_video(bad_videos["audio_only"])
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.path, copy.kind, copy.reason, copy.stderr_tail) == (
        caught.value.path, caught.value.kind, caught.value.reason, caught.value.stderr_tail)


def test_remote_path_is_copied_locally_decoded_and_cleaned_up(videos, tmp_path, monkeypatch):
    import tensorflow as tf

    remote = "ram://decode-test/clip.avi"  # TensorFlow's in-memory file system stands in for gs://
    tf.io.gfile.copy(videos["xvid_avi"], remote, overwrite=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    np.testing.assert_array_equal(decode_video(remote, frame_stride=5), decode_video(videos["xvid_avi"], frame_stride=5))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DecodeError) as caught:
        decode_video("ram://decode-test/absent.avi")
    assert caught.value.kind == "missing"


def test_local_names_with_colons_are_not_read_as_protocols(tmp_path):
    path = make_video(tmp_path / "take:2.mp4", num_frames=4)
    assert decode_video(path).shape == (4, 64, 64, 3)
    assert "file:" + path in ffmpeg_command(path)


@pytest.mark.parametrize("options", [{"fps": 10, "frame_stride": 2}, {"frame_stride": 0}, {"fps": -1},
                                     {"size": 0}, {"lowres": 4}])
def test_invalid_options_are_refused_before_running_ffmpeg(videos, options):
    with pytest.raises(ValueError):
        decode_video(videos["xvid_avi"], **options)


# ------------------------------------------------------------------------------------------------
# Streaming: frames as ffmpeg makes them, a stall limit instead of a total one, counts, lowres


@pytest.mark.parametrize("chunk_frames", [1, 7, 64])
def test_streamed_chunks_are_the_whole_decode(videos, chunk_frames):
    chunks = list(stream_frames(videos["xvid_avi"], size=32, frame_stride=2, chunk_frames=chunk_frames))
    assert {len(chunk) for chunk in chunks[:-1]} == ({chunk_frames} if len(chunks) > 1 else set())
    np.testing.assert_array_equal(np.concatenate(chunks), decode_video(videos["xvid_avi"], size=32, frame_stride=2))


def test_a_decode_that_stops_getting_input_fails_as_stalled(videos, tmp_path):
    # A FIFO fed the first half of a real video and then left open: ffmpeg decodes what it got and
    # waits for the rest, the way a decode stuck on a dead network file system does.
    fifo = str(tmp_path / "stuck.avi")
    os.mkfifo(fifo)
    with open(videos["xvid_avi"], "rb") as source:
        head = source.read(os.path.getsize(videos["xvid_avi"]) // 2)
    release = threading.Event()

    def feed():
        with open(fifo, "wb") as pipe:
            pipe.write(head)
            pipe.flush()
            release.wait(60)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    frames = []
    try:
        with pytest.raises(DecodeError) as caught:
            for chunk in stream_frames(fifo, size=16, stall_timeout_s=1.0, chunk_frames=1):
                frames.append(chunk)
    finally:
        release.set()
        feeder.join(10)
    assert caught.value.kind == "stalled"
    assert f"no frame from ffmpeg for 1 s after {len(frames)} frames" in caught.value.reason
    assert 0 < len(frames) < NUM_FRAMES


def test_no_total_time_limit_by_default():
    assert inspect.signature(decode_video).parameters["timeout_s"].default is None
    assert inspect.signature(stream_frames).parameters["timeout_s"].default is None


@pytest.mark.parametrize("name", ["xvid_avi", "h264_mp4", "portrait"])
@pytest.mark.parametrize("options", [{}, {"frame_stride": 3}, {"fps": 10}])
def test_count_frames_is_the_decoded_count(videos, name, options):
    assert count_frames(videos[name], **options) == len(decode_video(videos[name], size=16, **options))


def test_count_frames_fails_like_decoding(bad_videos):
    with pytest.raises(DecodeError) as caught:
        count_frames(bad_videos["audio_only"])
    assert caught.value.kind == "no_video_stream"


def test_lowres_decodes_xvid_smaller_inside_the_decoder_and_leaves_h264_alone(tmp_path):
    # 160x120 xvid decoded at half size (80x60) still covers a 48x48 output.
    path = make_video(tmp_path / "xvid.avi", 25, 120, 160, seed=5)
    full, half = decode_video(path, size=48), decode_video(path, size=48, lowres=1)
    assert half.shape == full.shape
    assert 0 < _mean_abs_diff(half, full) < 4  # other pixels, but the same picture
    h264 = make_video(tmp_path / "h264.mp4", 25, 120, 160, seed=5)
    assert decode_video(h264, size=48, lowres=1).tobytes() == decode_video(h264, size=48).tobytes()
    assert "-lowres" in ffmpeg_command(path, lowres=2) and "-lowres" not in ffmpeg_command(path)


@pytest.mark.parametrize("options", [{"fps": 8}, {"frame_stride": 3}])
def test_frames_are_dropped_before_they_are_scaled(options):
    filters = filter_args(64, **options)
    assert filters[0].startswith(("fps=", "select=")) and filters[1].startswith("scale=")
