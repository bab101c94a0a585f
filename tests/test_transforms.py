"""The job's Beam stages on real videos: TestPipeline, beam.Create and assert_that."""

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to

from pipeline import schema
from pipeline.clips import ClipSpec
from pipeline.sources import VideoSource
from pipeline.transforms import (FAILED, NAMESPACE, RECORDS, VIDEOS, WRITTEN, DecodedVideo, DecodeVideos,
                                 VideosToRecords)
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
    decoded = p | beam.Create(_sources(videos)) | DecodeVideos(32, None, None, 60.0)
    clipped = decoded[VIDEOS] | VideosToRecords(ClipSpec(num_frames=16), "raw")
    assert_that(clipped[RECORDS] | beam.Map(_summary), equal_to([
        ("train", "good_0.avi", 0, 0, (16, 32, 32, 3)), ("train", "good_0.avi", 16, 0, (16, 32, 32, 3)),
        ("train", "good_1.avi", 0, 1, (16, 32, 32, 3)), ("train", "good_1.avi", 16, 1, (16, 32, 32, 3)),
    ]), label="Records")
    assert_that(decoded[FAILED] | beam.Map(lambda f: (f["video_id"], "empty" in f["reason"])),
                equal_to([("empty.avi", True)]), label="DecodeFailures")
    assert_that(clipped[FAILED] | beam.Map(lambda f: (f["video_id"], f["reason"].split(":")[0])),
                equal_to([("too_short.avi", "too short")]), label="TooShort")
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
    with BeamTestPipeline() as p:
        decoded = p | beam.Create(sources) | DecodeVideos(16, None, 2, 60.0, threads=3)
        assert_that(decoded[VIDEOS] | beam.Map(lambda v: (v.video_id, v.label, v.frames.shape)), equal_to([
            ("good_0.avi", 0, (20, 16, 16, 3)), ("good_1.avi", 1, (20, 16, 16, 3)),
            ("too_short.avi", 1, (4, 16, 16, 3)),
            ("again_0.avi", 5, (20, 16, 16, 3)), ("again_1.avi", 5, (20, 16, 16, 3))]), label="Videos")
        assert_that(decoded[FAILED] | beam.Map(lambda f: f["video_id"]), equal_to(["empty.avi"]),
                    label="Failed")


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
