"""The job's Beam stages on real videos: TestPipeline, beam.Create and assert_that."""

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to

from pipeline import schema
from pipeline.clips import ClipSpec, make_clips
from pipeline.decode import decode_video
from pipeline.sources import VideoSource
from pipeline.transforms import (FAILED, NAMESPACE, RECORDS, WRITTEN, DecodedVideo, DecodeSettings,
                                 DecodeToRecords, DecodeToRecordsFn, VideosToRecords)
from tests.video_fixtures import make_bad_videos, make_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    good = [make_video(root / f"good_{i}.avi", num_frames=40, seed=i) for i in range(2)]
    bad = make_bad_videos(root / "bad")
    return good, bad


def _sources(videos):
    good, bad = videos
    sources = [VideoSource(f"good_{i}.avi", path, i, "train") for i, path in enumerate(good)]
    sources.append(VideoSource("empty.avi", bad["empty"], 0, "test"))
    sources.append(VideoSource("too_short.avi", bad["too_short"], 1, "test"))
    return sources


def _summary(split_and_record):
    split, record = split_and_record
    clip = schema.decode_clip(record)
    return split, clip.video_id, clip.start, clip.label, clip.frames.shape


def test_decode_and_clip_route_good_and_bad_videos(videos):
    # Built, then run explicitly, so that the counters can be read from the result.
    p = BeamTestPipeline()
    clipped = p | beam.Create(_sources(videos)) | DecodeToRecords(DecodeSettings(size=32), ClipSpec(16), "raw")
    assert_that(clipped[RECORDS] | beam.Map(_summary), equal_to([
        ("train", "good_0.avi", 0, 0, (16, 32, 32, 3)), ("train", "good_0.avi", 16, 0, (16, 32, 32, 3)),
        ("train", "good_1.avi", 0, 1, (16, 32, 32, 3)), ("train", "good_1.avi", 16, 1, (16, 32, 32, 3)),
    ]), label="Records")
    assert_that(clipped[FAILED] | beam.Map(lambda f: (f["video_id"], f["kind"], f["reason"].split(":")[0])),
                equal_to([("empty.avi", "failed", "file is empty (0 bytes); download or copy it again"),
                          ("too_short.avi", "too_short", "too short")]), label="Failures")
    assert_that(clipped[WRITTEN] | beam.Map(lambda w: (w["video_id"], w["clips"])),
                equal_to([("good_0.avi", 2), ("good_1.avi", 2)]), label="Written")
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    assert {c.key.metric.name: c.committed for c in counters} == {
        "videos_decoded": 3, "videos_failed": 1, "videos_too_short": 1, "clips_written": 4}


def test_decode_threads_give_the_same_outputs(videos):
    good, _ = videos
    sources = _sources(videos) + [VideoSource(f"again_{i}.avi", path, 5, "test") for i, path in enumerate(good)]
    settings, spec = DecodeSettings(size=16, frame_stride=2), ClipSpec(num_frames=4, clip_stride=8)
    for threads in (1, 3):
        with BeamTestPipeline() as p:
            clipped = p | beam.Create(sources) | DecodeToRecords(settings, spec, "raw", threads=threads)
            # 40 frames at stride 2 are 20: clips at 0, 8, 16; too_short.avi's 4 frames make one.
            assert_that(clipped[RECORDS] | beam.Map(_summary), equal_to(
                [("train" if name.startswith("good") else "test", name, start, label, (4, 16, 16, 3))
                 for name, label in (("good_0.avi", 0), ("good_1.avi", 1), ("again_0.avi", 5), ("again_1.avi", 5))
                 for start in (0, 8, 16)] + [("test", "too_short.avi", 0, 1, (4, 16, 16, 3))]), label="Records")
            assert_that(clipped[FAILED] | beam.Map(lambda f: f["video_id"]), equal_to(["empty.avi"]),
                        label="Failed")


def _cut(fn, path):
    fn.setup()
    fn.start_bundle()
    outputs = list(fn.process(VideoSource("v.avi", path, 0, "train")))
    fn.teardown()
    return outputs


def test_a_video_damaged_partway_leaves_no_record(videos):
    # Its first clip is cut before ffmpeg reaches the damage; it must still not reach the shards.
    _, bad = videos
    outputs = _cut(DecodeToRecordsFn(DecodeSettings(size=16), ClipSpec(num_frames=4), "raw"), bad["truncated_avi"])
    assert [tag for tag, _ in outputs] == [FAILED]
    assert "damaged" in outputs[0][1]["reason"]


@pytest.mark.parametrize("spool_bytes", [10**9, 1])
def test_capped_clips_match_the_whole_video_cut_in_memory_or_spilled(videos, spool_bytes):
    good, _ = videos
    spec = ClipSpec(num_frames=5, clip_stride=2, max_clips=4)
    fn = DecodeToRecordsFn(DecodeSettings(size=16), spec, "raw", spool_bytes=spool_bytes)
    records = [value[1] for tag, value in _cut(fn, good[0]) if tag == RECORDS]
    frames = decode_video(good[0], size=16)
    starts, windows = make_clips(frames, spec)
    assert starts == [0, 12, 22, 34]  # spread over all 40 frames, so the count came first
    assert records == [schema.encode_clip(schema.Clip(w, 0, "v.avi", s)) for s, w in zip(starts, windows)]


def test_videos_smaller_than_the_clips_are_counted_as_upscaled(tmp_path):
    small = make_video(tmp_path / "small.avi", num_frames=8, height=48, width=64)
    large = make_video(tmp_path / "large.mp4", num_frames=8, height=96, width=128)
    sources = [VideoSource("small.avi", small, 0, "train"), VideoSource("large.mp4", large, 0, "train")]
    p = BeamTestPipeline()
    clipped = p | beam.Create(sources) | DecodeToRecords(DecodeSettings(size=64), ClipSpec(8), "raw")
    assert_that(clipped[WRITTEN] | beam.Map(lambda w: (w["video_id"], w.get("upscaled_from"))),
                equal_to([("small.avi", [64, 48]), ("large.mp4", None)]))
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    assert {c.key.metric.name: c.committed for c in counters}["videos_upscaled"] == 1


def test_bair_frames_larger_than_their_source_are_upscaled():
    frames = np.zeros((4, 16, 16, 3), np.uint8)
    videos = [DecodedVideo("up", "/b", -1, "train", frames, source_size=(8, 8)),
              DecodedVideo("same", "/b", -1, "train", frames, source_size=(16, 16))]
    with BeamTestPipeline() as p:
        written = (p | beam.Create(videos) | VideosToRecords(ClipSpec(num_frames=4), "raw"))[WRITTEN]
        assert_that(written | beam.Map(lambda w: (w["video_id"], w.get("upscaled_from"))),
                    equal_to([("up", [8, 8]), ("same", None)]))


def test_clip_pixels_are_the_decoded_frames():
    frames = np.random.default_rng(0).integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    video = DecodedVideo("v", "/v.avi", 3, "test", frames)
    with BeamTestPipeline() as p:
        records = (p | beam.Create([video])
                   | VideosToRecords(ClipSpec(num_frames=4, clip_stride=8), "png"))[RECORDS]
        assert_that(records | beam.Map(lambda kv: _frames_match(kv[1], frames)), equal_to([True] * 3))


def _frames_match(record, frames):
    clip = schema.decode_clip(record)
    return bool(np.array_equal(clip.frames, frames[clip.start:clip.start + 4]))
