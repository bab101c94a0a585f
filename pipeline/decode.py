"""Decodes one video into uint8 frames [N, size, size, 3] with ffmpeg, streamed or whole.

Everything happens inside one ffmpeg process: time resampling (a fixed `fps`, or keeping every
`frame_stride`-th decoded frame; first, so that dropped frames are never scaled), resizing so
the short side is `size` (aspect kept), a centred `size` x `size` crop and conversion to RGB.
Raw frames come back through a pipe. The command is built with ffmpeg-python and runs the
binary from `pipeline.media`.

`stream_frames` yields the frames in small chunks as ffmpeg makes them, so memory does not grow
with a video's length, and fails a decode that stalls (no frame for `stall_timeout_s`) rather
than one that is merely long; a total limit is optional. `decode_video` collects the whole video
(tests, tools). `count_frames` gives the frame count up front, for spreading a capped number of
clips over a video without holding it. `lowres` decodes at 1/2 or 1/4 size inside decoders that
can (MPEG-4 part 2, which is xvid and all of UCF-101): faster, with the pixel error that
`python -m pipeline.benchmark` prints.

No ffprobe is needed: the scale filter works out the output size from the input's own dimensions,
and the size of the source (`SourceSize`, to tell a job that upscaled) comes from the same ffmpeg
run, which prints the input's stream header at info level.
Paths that are not local (gs://...) are first copied to a local temporary file through
tf.io.gfile, because some containers (mp4, mov) need to seek.

Every failure raises DecodeError with a short reason a person can act on and the tail of ffmpeg's
stderr, so a pipeline can record it and move on. By default (strict) a stream damaged partway
fails the whole video; strict=False keeps the frames decoded before the damage.

    from pipeline.decode import decode_video, stream_frames
    frames = decode_video("v_YoYo_g01_c01.avi", size=64, frame_stride=2)
    for chunk in stream_frames("a_long_recording.avi", size=64): ...
"""

import collections
import dataclasses
import fcntl
import os
import re
import subprocess
import tempfile
import threading
import time
from typing import Iterator

import ffmpeg
import numpy as np

from pipeline.media import ffmpeg_exe

# No keyboard reading (ffmpeg would otherwise steal a terminal's stdin) and only errors on stderr.
GLOBAL_ARGS = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error")
# The decode itself logs at info level with each line tagged by its level ("[info] ..."): its header
# names the source's width and height, which tell an upscale (imageio-ffmpeg ships no ffprobe, and
# a second ffmpeg run only for the header costs as much as decoding a small video). Only the
# error-level lines are kept as the stderr failures are classified by, so they read as at "error".
DECODE_GLOBAL_ARGS = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info")
_KEPT_LEVELS = ("error", "fatal", "panic")
# "[in#0/avi @ 0x55...] [error] message": up to two context prefixes, then the level.
_LEVEL_TAG = re.compile(r"^((?:\[[^\]]*\] )*?)\[(trace|debug|verbose|info|warning|error|fatal|panic)\] ")
# "  Stream #0:0: Video: mpeg4 (Simple Profile) (xvid / 0x64697678), yuv420p, 64x48 [SAR 1:1 ...": the
# size follows ", " (a fourcc such as "/ 0x64697678" does not).
_VIDEO_STREAM = re.compile(r"^\s*Stream #\d+:\d+.*?: Video: .*?, (\d+)x(\d+)(?=[\s,\[]|$)")
# Stop at the first decoding error: a truncated .avi otherwise "decodes" to its first frames plus a
# corrupt one and exits 0, and would slip into the shards unreported.
STRICT_ARGS = ("-xerror",)
STDERR_TAIL_CHARS = 2000
# No frame for this long means a stuck decode; a long video is not one (no total limit by default).
DEFAULT_STALL_TIMEOUT_S = 60.0
PIPE_BYTES = 1 << 20
LOWRES_FACTORS = (0, 1, 2, 3)  # what ffmpeg's lowres option accepts: 1, 1/2, 1/4, 1/8 of each side

# Failures are told apart by ffmpeg's own messages, most specific first. (kind, pattern, reason,
# whether to add ffmpeg's matching line to the reason).
_STDERR_REASONS = (
    ("no_video_stream", r"matches no streams|does not contain any stream",
     "no video stream (audio only?)", False),
    ("truncated", r"moov atom not found",
     "file is truncated (its mp4/mov index is missing); download or copy it again", False),
    ("not_a_video", r"Error opening input",
     "not a readable video (unknown format or damaged header)", True),
    ("damaged", r"corrupt|error while decoding|Invalid NAL|concealing|Terminating thread",
     "video is damaged or truncated partway", True),
)
# ffmpeg's mp4 demuxer says "moov atom not found" for any file named .mp4 it cannot index, random
# bytes too. A real mp4/mov starts with a box: 4 bytes of size, then its type.
_MP4_FIRST_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot")
NOT_MP4_REASON = "not a video (named .mp4/.mov, but its first bytes are not an mp4 header)"
_LOG_PREFIX = re.compile(r"^\[[^\]]*\]\s*")  # "[in#0/avi @ 0x55...] " before a message


@dataclasses.dataclass
class SourceSize:
    """The width and height of the input's video stream as ffmpeg read them from its header; filled
    in by stream_frames when its decode ends, 0 x 0 when ffmpeg printed no header."""

    width: int = 0
    height: int = 0

    def upscaled(self, size: int, lowres: int = 0) -> bool:
        """Whether scaling the short side to `size` enlarged the decoded picture (lowres=N decodes
        at 1/2^N of each side, rounded up as ffmpeg does). False when the size is unknown."""
        short = -(-min(self.width, self.height) >> lowres)
        return 0 < short < size


class DecodeError(Exception):
    """A video could not be decoded.

    kind:        a stable short tag for counting (missing, unreadable, empty, no_video_stream,
                 truncated, not_a_video, damaged, no_frames, stalled, timeout, ffmpeg_failed).
    reason:      a short sentence for people and for the manifest.
    stderr_tail: the last part of ffmpeg's stderr ("" when ffmpeg never ran).
    """

    def __init__(self, path: str, kind: str, reason: str, stderr_tail: str = ""):
        super().__init__(f"{path}: {reason}")
        self.path, self.kind, self.reason, self.stderr_tail = path, kind, reason, stderr_tail

    def __reduce__(self):  # keeps the fields when Beam pickles the error between processes
        return type(self), (self.path, self.kind, self.reason, self.stderr_tail)


def filter_args(size: int = 64, fps: float | None = None, frame_stride: int | None = None) -> list[str]:
    """The ffmpeg video filters, in order, as strings to join with ',' for -vf.

    Time first (so dropped frames are never scaled), then scale so that both sides are at least
    `size` with the aspect kept (the short side becomes `size`), a centred crop, and RGB.
    """
    _check_options(size, fps, frame_stride, 0)
    filters = []
    if fps is not None:
        filters.append(f"fps=fps={fps}")
    elif frame_stride is not None and frame_stride > 1:
        filters.append(f"select=not(mod(n\\,{frame_stride}))")
    filters += [f"scale=w={size}:h={size}:force_original_aspect_ratio=increase:flags=bicubic",
                f"crop=w={size}:h={size}", "format=rgb24"]
    return filters


def output_args() -> list[str]:
    """Output options: raw RGB frames, each frame that leaves the filters exactly once.

    fps_mode passthrough stops ffmpeg from duplicating or dropping frames to meet a frame rate
    after `select` has thinned them (or for variable frame rate input).
    """
    return ["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24"]


def ffmpeg_command(path: str, size: int = 64, fps: float | None = None, frame_stride: int | None = None,
                   output: str = "pipe:", strict: bool = True, lowres: int = 0) -> list[str]:
    """The full ffmpeg argv stream_frames runs; `output` may be a file or /dev/null (benchmarks).

    lowres=N asks the decoder for 1/2^N of the picture (MPEG-4 part 2, MJPEG...: the IDCT then
    works on smaller blocks); decoders without it ignore the option with a warning.
    """
    input_options = {"lowres": lowres} if lowres else {}
    stream = ffmpeg.input(_ffmpeg_source(path), **input_options)["v:0"].output(
        output, vf=",".join(filter_args(size, fps, frame_stride)), fps_mode="passthrough",
        format="rawvideo", pix_fmt="rgb24")
    argv = stream.overwrite_output().compile(cmd=ffmpeg_exe())
    return [argv[0], *DECODE_GLOBAL_ARGS, *(STRICT_ARGS if strict else ()), *argv[1:]]


def stream_frames(path: str, size: int = 64, fps: float | None = None, frame_stride: int | None = None,
                  stall_timeout_s: float | None = DEFAULT_STALL_TIMEOUT_S, timeout_s: float | None = None,
                  strict: bool = True, lowres: int = 0, chunk_frames: int = 16,
                  source_size: SourceSize | None = None) -> Iterator[np.ndarray]:
    """Yields `path`'s frames as ffmpeg makes them, uint8 [n <= chunk_frames, size, size, 3] at a time.

    Memory stays at a chunk whatever the video's length. A decode that gives no frame for
    `stall_timeout_s` is stuck and fails ("stalled"); `timeout_s` optionally limits the whole
    decode. Closing the generator early (enough clips cut) stops ffmpeg. Failures raise
    DecodeError, possibly after frames were yielded: a consumer that must not keep a damaged
    video's frames holds its output until the generator ends. `source_size`, when given, receives
    the source's width and height once the generator has ended.
    """
    _check_options(size, fps, frame_stride, lowres)
    source_size = SourceSize() if source_size is None else source_size
    if _is_local(path):
        yield from _stream_local(path, path, size, fps, frame_stride, stall_timeout_s, timeout_s, strict,
                                 lowres, chunk_frames, source_size)
        return
    local_copy = _copy_to_local(path)
    try:
        yield from _stream_local(local_copy, path, size, fps, frame_stride, stall_timeout_s, timeout_s,
                                 strict, lowres, chunk_frames, source_size)
    finally:
        os.remove(local_copy)


def decode_video(path: str, size: int = 64, fps: float | None = None, frame_stride: int | None = None,
                 timeout_s: float | None = None, strict: bool = True,
                 stall_timeout_s: float | None = DEFAULT_STALL_TIMEOUT_S, lowres: int = 0) -> np.ndarray:
    """Decodes the whole of `path` to uint8 [N, size, size, 3]; raises DecodeError on any failure.

    fps resamples to that frame rate; frame_stride=K keeps decoded frames 0, K, 2K, ...; at most
    one of them. strict=False keeps the frames decoded before a damaged spot instead of failing.
    Holds the whole video in memory: the job streams with stream_frames instead.
    """
    chunks = list(stream_frames(path, size, fps, frame_stride, stall_timeout_s, timeout_s, strict, lowres,
                                chunk_frames=256))
    if not chunks:
        raise DecodeError(path, "no_frames", "decoded to 0 frames (the video stream is empty)")
    return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]


def count_frames(path: str, fps: float | None = None, frame_stride: int | None = None,
                 timeout_s: float | None = None) -> int:
    """How many frames stream_frames will give `path`, from a pass that decodes nothing.

    Without fps, that is the video stream's packet count (ffmpeg copies the stream into nothing:
    a read of the file), thinned by frame_stride. With fps, the fps filter needs decoded frames,
    so this pass decodes the video once (without scaling or conversion): the cost of spreading
    --max_clips_per_video evenly over a resampled video without holding it in memory.
    """
    _check_options(64, fps, frame_stride, 0)
    local = path if _is_local(path) else _copy_to_local(path)
    try:
        _check_local_file(local, path)
        stream = ffmpeg.input(_ffmpeg_source(local))["v:0"]
        if fps is None:
            stream = stream.output("-", format="null", c="copy")
        else:
            stream = stream.output("-", format="null", vf=f"fps=fps={fps}", fps_mode="passthrough")
        argv = stream.compile(cmd=ffmpeg_exe())
        command = [argv[0], *GLOBAL_ARGS, "-progress", "pipe:1", *argv[1:]]
        result = _run_to_end(command, local, path, timeout_s)
    finally:
        if local != path:
            os.remove(local)
    counts = re.findall(rb"^frame=(\d+)", result, re.MULTILINE)
    if not counts or int(counts[-1]) == 0:
        raise DecodeError(path, "no_frames", "has no video frames to count (the video stream is empty)")
    return len(range(0, int(counts[-1]), frame_stride or 1))


def _run_to_end(command: list[str], local_path: str, shown_path: str, timeout_s: float | None) -> bytes:
    """stdout of a short ffmpeg run; DecodeError naming ffmpeg's complaint when it fails."""
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired as error:
        raise DecodeError(shown_path, "timeout", f"counting frames took over {timeout_s:g} s",
                          _tail(error.stderr)) from None
    if done.returncode != 0:
        kind, reason = _classify_failure(_tail(done.stderr), done.returncode, local_path)
        raise DecodeError(shown_path, kind, reason, _tail(done.stderr))
    return done.stdout


def _stream_local(local_path, shown_path, size, fps, frame_stride, stall_timeout_s, timeout_s, strict,
                  lowres, chunk_frames, source_size: SourceSize) -> Iterator[np.ndarray]:
    _check_local_file(local_path, shown_path)
    command = ffmpeg_command(local_path, size, fps, frame_stride, strict=strict, lowres=lowres)
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr = _StderrTail(process.stderr)
    _widen_pipe(process.stdout.fileno())
    reader = _PipeReader(process, shown_path, stall_timeout_s, timeout_s, stderr)
    try:
        yield from reader.chunks(size * size * 3, chunk_frames, size)
        if reader.frames == 0 and process.wait() == 0:
            raise DecodeError(shown_path, "no_frames", "decoded to 0 frames (the video stream is empty)",
                              stderr.text())
        if process.wait() != 0:
            kind, reason = _classify_failure(stderr.join(), process.returncode, local_path)
            raise DecodeError(shown_path, kind, reason, stderr.text())
    finally:
        reader.close()
        _stop(process, stderr)
        source_size.width, source_size.height = stderr.video_size


class _PipeReader:
    """Reads whole frames from ffmpeg's stdout; a watchdog thread kills an ffmpeg that gives no
    bytes for the stall limit or outlives the total limit, and the reader then says which.

    The reads block (one system call each, no select) and the clock is the watchdog's, so the
    reading costs little per frame beside ffmpeg's decoding.
    """

    def __init__(self, process: subprocess.Popen, shown_path: str, stall_timeout_s, timeout_s, stderr):
        self._process, self._path, self._stall, self._stderr = process, shown_path, stall_timeout_s, stderr
        self._fd = process.stdout.fileno()
        self._timeout = timeout_s
        self._last = time.monotonic()
        self._deadline = None if timeout_s is None else self._last + timeout_s
        self._expired = None  # "stalled" or "timeout" once the watchdog has killed ffmpeg
        self._done = threading.Event()
        self.frames = 0
        limits = [limit for limit in (stall_timeout_s, timeout_s) if limit is not None]
        if limits:
            poll = min(1.0, max(0.01, min(limits) / 4))
            threading.Thread(target=self._watch, args=(poll,), daemon=True).start()

    def close(self) -> None:
        self._done.set()

    def chunks(self, frame_bytes: int, chunk_frames: int, size: int) -> Iterator[np.ndarray]:
        while True:
            buffer = bytearray(frame_bytes * chunk_frames)
            filled = self._fill(memoryview(buffer))
            whole = filled // frame_bytes
            if whole and self._expired is None:
                self.frames += whole
                yield np.frombuffer(buffer, np.uint8, whole * frame_bytes).reshape(whole, size, size, 3)
            if filled < len(buffer):  # end of the stream
                self._raise_if_expired()
                if filled % frame_bytes:
                    raise DecodeError(self._path, "damaged", "ffmpeg returned a partial frame",
                                      self._stderr.text())
                return

    def _fill(self, view: memoryview) -> int:
        """Reads into `view` until it is full or the stream ends; returns the bytes read."""
        filled = 0
        while filled < len(view):
            count = os.readv(self._fd, [view[filled:]])
            if count == 0:
                return filled
            filled += count
            self._last = time.monotonic()
        return filled

    def _watch(self, poll: float) -> None:
        while not self._done.wait(poll):
            now = time.monotonic()
            if self._deadline is not None and now >= self._deadline:
                self._expired = "timeout"
            elif self._stall is not None and now - self._last >= self._stall:
                self._expired = "stalled"
            else:
                continue
            self._process.kill()
            return

    def _raise_if_expired(self) -> None:
        if self._expired == "timeout":
            raise DecodeError(self._path, "timeout", f"timed out after {self._timeout:g} s (the total "
                              "limit); raise --decode_timeout_s or leave it unset", self._stderr.text())
        if self._expired == "stalled":
            raise DecodeError(self._path, "stalled", f"no frame from ffmpeg for {self._stall:g} s after "
                              f"{self.frames} frames: the decode is stuck; raise --decode_stall_s if the "
                              "storage is that slow", self._stderr.text())


class _StderrTail:
    """Drains ffmpeg's level-tagged stderr on a thread (a chatty stderr must not block ffmpeg),
    keeping the tail of its error-level lines, untagged, and the video stream's size from its header."""

    def __init__(self, pipe):
        self._chunks = collections.deque()
        self._kept = 0
        self._level = "info"  # of the line before: an untagged line continues it
        self.video_size = (0, 0)
        self._thread = threading.Thread(target=self._drain, args=(pipe,), daemon=True)
        self._thread.start()

    def _drain(self, pipe) -> None:
        partial = b""
        for chunk in iter(lambda: pipe.read1(65536), b""):
            *lines, partial = (partial + chunk).split(b"\n")
            for line in lines:
                self._line(line)
        if partial:
            self._line(partial)

    def _line(self, raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip("\r")
        tagged = _LEVEL_TAG.match(line)
        if tagged:
            self._level = tagged.group(2)
            line = tagged.group(1) + line[tagged.end():]
        if self._level in _KEPT_LEVELS:
            self._keep((line + "\n").encode())
        elif self.video_size == (0, 0) and (stream := _VIDEO_STREAM.match(line)):
            self.video_size = (int(stream.group(1)), int(stream.group(2)))

    def _keep(self, data: bytes) -> None:
        self._chunks.append(data)
        self._kept += len(data)
        while self._kept - len(self._chunks[0]) >= STDERR_TAIL_CHARS * 2:
            self._kept -= len(self._chunks.popleft())

    def join(self, timeout_s: float = 10.0) -> str:
        self._thread.join(timeout_s)
        return self.text()

    def text(self) -> str:
        return _tail(b"".join(self._chunks))


def _stop(process: subprocess.Popen, stderr: _StderrTail) -> None:
    """Ends ffmpeg (killed if still running: the consumer stopped early or failed) and its pipes."""
    if process.poll() is None:
        process.kill()
    process.wait()
    stderr.join()
    process.stdout.close()
    process.stderr.close()


def _widen_pipe(fd: int) -> None:
    """Lets ffmpeg run a few frames ahead of the reader: Linux pipes hold 64 KB, five frames."""
    try:
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except OSError:  # not Linux, or above /proc/sys/fs/pipe-max-size: the default works, slower
        pass


def _ffmpeg_source(path: str) -> str:
    # "file:" keeps a local name with a colon in it from being read as a protocol.
    return "file:" + path if _is_local(path) else path


def _classify_failure(stderr_tail: str, returncode: int, local_path: str) -> tuple[str, str]:
    lines = [_LOG_PREFIX.sub("", line).strip() for line in stderr_tail.splitlines() if line.strip()]
    for kind, pattern, reason, add_detail in _STDERR_REASONS:
        matching = [line for line in lines if re.search(pattern, line, re.IGNORECASE)]
        if matching:
            if kind == "truncated" and not _starts_like_mp4(local_path):
                return "not_a_video", NOT_MP4_REASON
            return kind, f"{reason}: {matching[0]}" if add_detail else reason
    detail = lines[-1] if lines else "(no message)"
    return "ffmpeg_failed", f"ffmpeg failed (exit {returncode}): {detail}"


def _starts_like_mp4(local_path: str) -> bool:
    if not os.path.isfile(local_path):  # a FIFO (opening it would block): keep ffmpeg's diagnosis
        return True
    try:
        with open(local_path, "rb") as handle:
            return handle.read(8)[4:8] in _MP4_FIRST_BOXES
    except OSError:  # gone since: keep ffmpeg's own diagnosis
        return True


def _check_local_file(local_path: str, shown_path: str) -> None:
    """Failures that need no ffmpeg run, each with the reason spelled out."""
    if not os.path.exists(local_path):
        if os.path.islink(local_path):
            raise DecodeError(shown_path, "missing",
                              f"broken symbolic link to {os.readlink(local_path)}; fix or remove the link")
        raise DecodeError(shown_path, "missing", "file not found; check the input path")
    if os.path.isdir(local_path):
        raise DecodeError(shown_path, "unreadable", "is a directory, not a video file")
    if not os.access(local_path, os.R_OK):
        raise DecodeError(shown_path, "unreadable", "permission denied; make the file readable")
    if os.path.isfile(local_path) and os.path.getsize(local_path) == 0:  # a FIFO has no size
        raise DecodeError(shown_path, "empty", "file is empty (0 bytes); download or copy it again")


def _copy_to_local(path: str) -> str:
    import tensorflow as tf  # only remote inputs pay for TensorFlow's import here

    if not tf.io.gfile.exists(path):
        raise DecodeError(path, "missing", "file not found; check the input path and its permissions")
    if tf.io.gfile.isdir(path):
        raise DecodeError(path, "unreadable", "is a directory, not a video file")
    handle, local_copy = tempfile.mkstemp(suffix=os.path.splitext(path)[1], prefix="decode-")
    os.close(handle)
    try:
        tf.io.gfile.copy(path, local_copy, overwrite=True)
    except tf.errors.OpError as error:
        os.remove(local_copy)
        raise DecodeError(path, "unreadable", f"could not copy it to a local file: {error.message}") from error
    return local_copy


def _check_options(size, fps, frame_stride, lowres) -> None:
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if fps is not None and frame_stride is not None:
        raise ValueError(f"pass fps ({fps}) or frame_stride ({frame_stride}), not both")
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    if frame_stride is not None and (not isinstance(frame_stride, int) or frame_stride < 1):
        raise ValueError(f"frame_stride must be an int >= 1, got {frame_stride!r}")
    if lowres not in LOWRES_FACTORS:
        raise ValueError(f"lowres must be one of {LOWRES_FACTORS} (decode at 1/2^lowres), got {lowres!r}")


def _is_local(path: str) -> bool:
    return "://" not in path


def _tail(stderr: bytes | None) -> str:
    return (stderr or b"").decode(errors="replace")[-STDERR_TAIL_CHARS:].strip()
