"""The Beam stages of the job: decode videos, cut clips, encode records, write shards per split.

Everything here takes values and returns values; `pipeline.main.run` owns the reads and writes
around it. Bad videos never fail a bundle: they leave through the FAILED output with a reason a
person can act on, and Beam counters (namespace "preprocess") count what happened:
videos_decoded, videos_failed, videos_too_short, clips_written, and videos_upscaled (videos whose
clips were enlarged from a source smaller than --size; their WRITTEN reports say from what size).

    sources | DecodeToRecords(settings, spec, "raw") -> {RECORDS: (split, bytes), FAILED, WRITTEN}
    videos  | VideosToRecords(spec, "raw")           -> the same, from frames in memory (BAIR)
    records | shard_writer.WriteShards(...)          -> shard files per split

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
from pipeline.clips import ClipCutter, ClipSpec, FrameCountMismatch, make_clips, stream_clips
from pipeline.spool import DEFAULT_MEMORY_BYTES, RecordSpool

VIDEOS = "videos"    # DecodedVideo (BAIR's trajectories)
RECORDS = "records"  # (split, serialized tf.train.Example)
FAILED = "failed"    # {"kind", "video_id", "path", "split", "reason"}: kind "failed" or "too_short"
WRITTEN = "written"  # {"kind": "written", "video_id", "split", "clips"[, "upscaled_from": [w, h]]}
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
    source_size: tuple[int, int] | None = None  # (width, height) before resizing, when known


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


@dataclasses.dataclass(frozen=True)
class DecodeSettings:
    """How ffmpeg decodes each video (see pipeline.decode.stream_frames)."""

    size: int = 64
    fps: float | None = None
    frame_stride: int | None = None
    stall_timeout_s: float | None = decode.DEFAULT_STALL_TIMEOUT_S
    timeout_s: float | None = None
    lowres: int = 0


@dataclasses.dataclass(frozen=True)
class _Cut:
    """A video decoded to the end: its records, held until they leave, and its frame count."""

    spool: RecordSpool
    frames: int
    source_size: decode.SourceSize


class DecodeToRecordsFn(beam.DoFn):
    """VideoSource -> (RECORDS, (split, record)) per clip and a WRITTEN report, or one FAILED report
    (kind "failed" naming ffmpeg's complaint, or "too_short").

    A video streams from ffmpeg through the clip cutter into records, so memory does not grow
    with its length; its records leave once ffmpeg has finished well (a damaged video leaves
    none, see pipeline.spool). With threads > 1, up to that many videos are decoded and encoded
    at once by this one DoFn instance: the decoding happens in ffmpeg, not in Python, so threads
    give an in-process runner real parallelism without more Python processes, and the writer
    downstream works on one video's records while the next ones decode. Outputs then follow
    their input by up to `threads` elements, and the last ones leave in finish_bundle.
    """

    def __init__(self, settings: DecodeSettings, spec: ClipSpec, encoding: str, total: int | None = None,
                 threads: int = 1, spool_bytes: int = DEFAULT_MEMORY_BYTES):
        self._settings, self._spec, self._encoding = settings, spec, encoding
        self._total, self._threads, self._spool_bytes = total, max(1, threads), spool_bytes
        self._decoded = Metrics.counter(NAMESPACE, "videos_decoded")
        self._failed = Metrics.counter(NAMESPACE, "videos_failed")
        self._too_short = Metrics.counter(NAMESPACE, "videos_too_short")
        self._clips = Metrics.counter(NAMESPACE, "clips_written")
        self._upscaled = Metrics.counter(NAMESPACE, "videos_upscaled")

    def setup(self):
        self._progress = Progress("decode", self._total)
        self._pool = concurrent.futures.ThreadPoolExecutor(self._threads) if self._threads > 1 else None

    def start_bundle(self):
        self._pending = collections.deque()

    def process(self, source):
        if self._pool is None:
            yield from self._outputs(source, self._cut_or_reason(source))
            return
        self._pending.append((source, self._pool.submit(self._cut_or_reason, source)))
        while len(self._pending) > self._threads:  # keep `threads` videos in work, no more
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

    def _cut_or_reason(self, source) -> "_Cut | str":
        """The video's records, or the reason they could not be had (on a pool thread when threads > 1)."""
        try:
            count = self._count(source.path) if self._spec.max_clips is not None else None
            try:
                return self._cut(source, count)
            except FrameCountMismatch as mismatch:
                # The counting pass promised frames the decode did not give (rare): the stream
                # told the true count, so the evenly spread picks are made again from it.
                _log.info("%s: %s; cutting its clips again", source.path, mismatch)
                return self._cut(source, mismatch.seen)
        except decode.DecodeError as error:
            # The reason already quotes ffmpeg's telling line; the whole tail goes to the log.
            _log.debug("ffmpeg stderr for %s:\n%s", source.path, error.stderr_tail)
            return error.reason
        except Exception as error:  # pylint: disable=broad-except
            # One odd file must not kill a job of thousands; report it like any other failure.
            return f"unexpected {type(error).__name__}: {error}"

    def _count(self, path: str) -> int:
        s = self._settings
        return decode.count_frames(path, s.fps, s.frame_stride, s.timeout_s)

    def _cut(self, source, count: int | None) -> _Cut:
        s, spool, cutter = self._settings, RecordSpool(self._spool_bytes), ClipCutter(self._spec, count)
        source_size = decode.SourceSize()
        frames = decode.stream_frames(source.path, s.size, s.fps, s.frame_stride, s.stall_timeout_s,
                                      s.timeout_s, lowres=s.lowres, source_size=source_size)
        try:
            for start, window in stream_clips(frames, cutter):
                clip = schema.Clip(frames=window, label=source.label, video_id=source.video_id, start=start)
                spool.add(schema.encode_clip(clip, self._encoding))
        except BaseException:
            spool.close()
            raise
        return _Cut(spool, cutter.seen if count is None else count, source_size)

    def _outputs(self, source, cut_or_reason):
        if isinstance(cut_or_reason, str):
            self._failed.inc()
            self._progress.add(failed=True)
            _log.warning("could not decode %s: %s", source.path, cut_or_reason)
            yield FAILED, failure(source.video_id, source.path, source.split, cut_or_reason)
            return
        self._decoded.inc()
        self._progress.add(frames=cut_or_reason.frames)
        yield from self._records(source, cut_or_reason)

    def _records(self, source, cut: _Cut):
        if not len(cut.spool):
            self._too_short.inc()
            yield FAILED, failure(source.video_id, source.path, source.split,
                                  too_short_reason(cut.frames, self._spec), "too_short")
            return
        try:
            for record in cut.spool:
                yield RECORDS, (source.split, record)
        finally:
            cut.spool.close()
        self._clips.inc(len(cut.spool))
        original, settings = cut.source_size, self._settings
        upscaled = (original.width, original.height) if original.upscaled(settings.size, settings.lowres) else None
        if upscaled:
            self._upscaled.inc()
        yield WRITTEN, written(source.video_id, source.split, len(cut.spool), upscaled)


def too_short_reason(frames: int, spec: ClipSpec) -> str:
    return (f"too short: {frames} frames after resampling, one clip needs {spec.num_frames} "
            "(lower --num_frames, --frame_stride or --fps)")


def written(video_id: str, split: str, clips: int, upscaled_from: tuple[int, int] | None = None) -> dict:
    """A video's report once its clips are out; `upscaled_from` is the (width, height) of a source
    smaller than the clips (the job's summary and manifest count those)."""
    report = {"kind": "written", "video_id": video_id, "split": split, "clips": clips}
    if upscaled_from:
        report["upscaled_from"] = list(upscaled_from)
    return report


class ClipVideoFn(beam.DoFn):
    """DecodedVideo -> (RECORDS, (split, serialized record)) per clip and a WRITTEN report, or
    a FAILED report for a video too short for one clip."""

    def __init__(self, spec: ClipSpec, encoding: str):
        self._spec, self._encoding = spec, encoding
        self._too_short = Metrics.counter(NAMESPACE, "videos_too_short")
        self._clips = Metrics.counter(NAMESPACE, "clips_written")
        self._upscaled = Metrics.counter(NAMESPACE, "videos_upscaled")

    def process(self, video: DecodedVideo):
        starts, windows = make_clips(video.frames, self._spec)
        if not starts:
            self._too_short.inc()
            yield FAILED, failure(video.video_id, video.path, video.split,
                                  too_short_reason(len(video.frames), self._spec), "too_short")
            return
        for start, window in zip(starts, windows):
            clip = schema.Clip(frames=window, label=video.label, video_id=video.video_id, start=start)
            yield RECORDS, (video.split, schema.encode_clip(clip, self._encoding))
        self._clips.inc(len(starts))
        source = video.source_size
        upscaled = source if source and min(source) < video.frames.shape[1] else None
        if upscaled:
            self._upscaled.inc()
        yield WRITTEN, written(video.video_id, video.split, len(starts), upscaled)


class SplitByTag(beam.PTransform):
    """PCollection[(tag, value)] -> {tag: PCollection[value]} for the given tags (module doc: why)."""

    def __init__(self, *tags: str):
        super().__init__()
        self._tags = tags

    def expand(self, tagged):
        return {tag: tagged | f"Select{tag.title()}" >> beam.FlatMap(_values_tagged, tag) for tag in self._tags}


def _values_tagged(tag_and_value, tag: str):
    return (tag_and_value[1],) if tag_and_value[0] == tag else ()


class DecodeToRecords(beam.PTransform):
    """PCollection[VideoSource] -> {RECORDS: (split, record bytes), FAILED, WRITTEN}: ffmpeg's path."""

    def __init__(self, settings: DecodeSettings, spec: ClipSpec, encoding: str, total: int | None = None,
                 threads: int = 1):
        super().__init__()
        self._fn = DecodeToRecordsFn(settings, spec, encoding, total, threads)

    def expand(self, sources):
        return (sources | "DecodeAndCutClips" >> beam.ParDo(self._fn)
                | "Route" >> SplitByTag(RECORDS, FAILED, WRITTEN))


class VideosToRecords(beam.PTransform):
    """PCollection[DecodedVideo] -> {RECORDS: (split, record bytes), FAILED, WRITTEN}: for frames
    already in memory (BAIR's trajectories)."""

    def __init__(self, spec: ClipSpec, encoding: str):
        super().__init__()
        self._spec, self._encoding = spec, encoding

    def expand(self, videos):
        return (videos | "CutAndEncodeClips" >> beam.ParDo(ClipVideoFn(self._spec, self._encoding))
                | "Route" >> SplitByTag(RECORDS, FAILED, WRITTEN))
