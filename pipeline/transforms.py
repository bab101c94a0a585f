"""The Beam stages of the job: decode videos, cut clips, encode records, write shards per split.

Everything here takes values and returns values; `pipeline.main.run` owns the reads and writes
around it. Bad videos never fail a bundle: they leave through the FAILED output with a reason a
person can act on, and Beam counters (namespace "preprocess") count what happened:
videos_decoded, videos_failed, videos_too_short, clips_written.

    sources | DecodeVideos(config)          -> {VIDEOS, FAILED}
    videos  | VideosToRecords(spec, "raw")  -> {RECORDS: (split, bytes), FAILED, WRITTEN}
    records | shard_writer.WriteShards(...) -> shard files per split

Each DoFn has one output of (tag, value) pairs, which `SplitByTag` turns into a PCollection per
tag, rather than `ParDo.with_outputs`: Beam's DaskRunner (2.77) hands every consumer of a
multi-output ParDo all of its outputs, so decoded videos would reach the failure reports. One
output split by cheap selecting steps means the same on every runner, and on Dataflow the
selecting steps fuse with their producer.
"""

import collections
import concurrent.futures
import dataclasses
import logging
import os
import time

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from pipeline import decode, schema
from pipeline.clips import ClipSpec, make_clips

VIDEOS = "videos"    # DecodedVideo
RECORDS = "records"  # (split, serialized tf.train.Example)
FAILED = "failed"    # {"kind", "video_id", "path", "split", "reason"}: kind "failed" or "too_short"
WRITTEN = "written"  # {"kind": "written", "video_id", "split", "clips"}: one per video with clips
NAMESPACE = "preprocess"

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DecodedVideo:
    """One source video after decoding: uint8 [N,S,S,3] frames and where they belong."""

    video_id: str
    path: str
    label: int
    split: str
    frames: np.ndarray


def failure(video_id: str, path: str, split: str, reason: str, kind: str = "failed") -> dict:
    return {"kind": kind, "video_id": video_id, "path": path, "split": split, "reason": reason}


class Progress:
    """Logs a line per worker every `every` videos or `seconds`, whichever comes first."""

    def __init__(self, what: str, total: int | None = None, every: int = 10, seconds: float = 10.0):
        self.what, self.total, self.every, self.seconds = what, total, every, seconds
        self.videos = self.failed = self.frames = 0
        self.started = self.last = time.monotonic()

    def add(self, frames: int = 0, failed: bool = False) -> None:
        self.videos += 1
        self.failed += int(failed)
        self.frames += frames
        now = time.monotonic()
        if self.videos % self.every == 0 or now - self.last >= self.seconds:
            self.last = now
            elapsed = max(now - self.started, 1e-9)
            of_all = f" of the job's {self.total}" if self.total else ""
            _log.info("%s (worker pid %d): %d videos%s (%d failed), %d frames in %.0f s: "
                      "%.1f videos/s, %.0f frames/s", self.what, os.getpid(), self.videos, of_all,
                      self.failed, self.frames, elapsed, self.videos / elapsed, self.frames / elapsed)


class DecodeVideoFn(beam.DoFn):
    """VideoSource -> (VIDEOS, DecodedVideo), or (FAILED, a report naming ffmpeg's complaint).

    With threads > 1, up to that many ffmpeg processes run at once from this one DoFn instance:
    the decoding happens in ffmpeg, not in Python, so threads give an in-process runner (or a
    worker with spare cores) real parallelism without more Python processes. Outputs then follow
    their input by up to `threads` elements, and the last ones leave in finish_bundle.
    """

    def __init__(self, size: int, fps: float | None, frame_stride: int | None, timeout_s: float,
                 total: int | None = None, threads: int = 1):
        self._size, self._fps, self._frame_stride, self._timeout_s = size, fps, frame_stride, timeout_s
        self._total, self._threads = total, max(1, threads)
        self._decoded = Metrics.counter(NAMESPACE, "videos_decoded")
        self._failed = Metrics.counter(NAMESPACE, "videos_failed")

    def setup(self):
        self._progress = Progress("decode", self._total)
        self._pool = concurrent.futures.ThreadPoolExecutor(self._threads) if self._threads > 1 else None

    def start_bundle(self):
        self._pending = collections.deque()

    def process(self, source):
        if self._pool is None:
            yield from self._outputs(source, self._decode(source))
            return
        self._pending.append((source, self._pool.submit(self._decode, source)))
        while len(self._pending) > self._threads:  # keep `threads` decodes running, no more
            source, future = self._pending.popleft()
            yield from self._outputs(source, future.result())

    def finish_bundle(self):
        while self._pending:
            source, future = self._pending.popleft()
            for output in self._outputs(source, future.result()):
                # Outputs of finish_bundle carry their window explicitly; this job has one.
                yield GlobalWindows.windowed_value(output)

    def teardown(self):
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=True)

    def _decode(self, source):
        """Frames, or the reason they could not be had (runs on a pool thread when threads > 1)."""
        try:
            return decode.decode_video(source.path, size=self._size, fps=self._fps,
                                       frame_stride=self._frame_stride, timeout_s=self._timeout_s)
        except decode.DecodeError as error:
            # The reason already quotes ffmpeg's telling line; the whole tail goes to the log.
            _log.debug("ffmpeg stderr for %s:\n%s", source.path, error.stderr_tail)
            return error.reason
        except Exception as error:  # pylint: disable=broad-except
            # One odd file must not kill a job of thousands; report it like any other failure.
            return f"unexpected {type(error).__name__}: {error}"

    def _outputs(self, source, frames_or_reason):
        if isinstance(frames_or_reason, str):
            self._failed.inc()
            self._progress.add(failed=True)
            _log.warning("could not decode %s: %s", source.path, frames_or_reason)
            yield FAILED, failure(source.video_id, source.path, source.split, frames_or_reason)
            return
        self._decoded.inc()
        self._progress.add(frames=len(frames_or_reason))
        yield VIDEOS, DecodedVideo(source.video_id, source.path, source.label, source.split, frames_or_reason)


class ClipVideoFn(beam.DoFn):
    """DecodedVideo -> (RECORDS, (split, serialized record)) per clip and a WRITTEN report, or
    a FAILED report for a video too short for one clip."""

    def __init__(self, spec: ClipSpec, encoding: str):
        self._spec, self._encoding = spec, encoding
        self._too_short = Metrics.counter(NAMESPACE, "videos_too_short")
        self._clips = Metrics.counter(NAMESPACE, "clips_written")

    def process(self, video: DecodedVideo):
        starts, windows = make_clips(video.frames, self._spec)
        if not starts:
            self._too_short.inc()
            reason = (f"too short: {len(video.frames)} frames after resampling, one clip needs "
                      f"{self._spec.num_frames} (lower --num_frames, --frame_stride or --fps)")
            yield FAILED, failure(video.video_id, video.path, video.split, reason, "too_short")
            return
        for start, window in zip(starts, windows):
            clip = schema.Clip(frames=window, label=video.label, video_id=video.video_id, start=start)
            yield RECORDS, (video.split, schema.encode_clip(clip, self._encoding))
        self._clips.inc(len(starts))
        yield WRITTEN, {"kind": "written", "video_id": video.video_id, "split": video.split, "clips": len(starts)}


class SplitByTag(beam.PTransform):
    """PCollection[(tag, value)] -> {tag: PCollection[value]} for the given tags (module doc: why)."""

    def __init__(self, *tags: str):
        super().__init__()
        self._tags = tags

    def expand(self, tagged):
        return {tag: tagged | f"Select{tag.title()}" >> beam.FlatMap(_values_tagged, tag) for tag in self._tags}


def _values_tagged(tag_and_value, tag: str):
    return (tag_and_value[1],) if tag_and_value[0] == tag else ()


class DecodeVideos(beam.PTransform):
    """PCollection[VideoSource] -> {VIDEOS: DecodedVideo, FAILED: reports}."""

    def __init__(self, size: int, fps: float | None, frame_stride: int | None, timeout_s: float,
                 total: int | None = None, threads: int = 1):
        super().__init__()
        self._fn = DecodeVideoFn(size, fps, frame_stride, timeout_s, total, threads)

    def expand(self, sources):
        return (sources | "DecodeWithFfmpeg" >> beam.ParDo(self._fn)
                | "Route" >> SplitByTag(VIDEOS, FAILED))


class VideosToRecords(beam.PTransform):
    """PCollection[DecodedVideo] -> {RECORDS: (split, record bytes), FAILED, WRITTEN}."""

    def __init__(self, spec: ClipSpec, encoding: str):
        super().__init__()
        self._spec, self._encoding = spec, encoding

    def expand(self, videos):
        return (videos | "CutAndEncodeClips" >> beam.ParDo(ClipVideoFn(self._spec, self._encoding))
                | "Route" >> SplitByTag(RECORDS, FAILED, WRITTEN))
