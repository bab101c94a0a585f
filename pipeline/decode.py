"""Decodes one video into uint8 frames [N, size, size, 3] with ffmpeg.

Everything happens inside one ffmpeg process: time resampling (a fixed `fps`, or keeping every
`frame_stride`-th decoded frame), resizing so the short side is `size` (aspect kept), a centred
`size` x `size` crop and conversion to RGB. Raw frames come back through a pipe. The command is
built with ffmpeg-python and runs the binary from `pipeline.ffmpeg_binary`.

No ffprobe is needed: the scale filter works out the output size from the input's own dimensions.
Paths that are not local (gs://...) are first copied to a local temporary file through
tf.io.gfile, because some containers (mp4, mov) need to seek.

Every failure raises DecodeError with a short reason a person can act on and the tail of ffmpeg's
stderr, so a pipeline can record it and move on. By default (strict) a stream damaged partway
fails the whole video; strict=False keeps the frames decoded before the damage.

    from pipeline.decode import decode_video
    frames = decode_video("v_YoYo_g01_c01.avi", size=64, frame_stride=2)
"""

import os
import re
import subprocess
import tempfile

import ffmpeg
import numpy as np

from pipeline.ffmpeg_binary import ffmpeg_exe

# No keyboard reading (ffmpeg would otherwise steal a terminal's stdin) and only errors on stderr.
GLOBAL_ARGS = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error")
# Stop at the first decoding error: a truncated .avi otherwise "decodes" to its first frames plus a
# corrupt one and exits 0, and would slip into the shards unreported.
STRICT_ARGS = ("-xerror",)
STDERR_TAIL_CHARS = 2000

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
_LOG_PREFIX = re.compile(r"^\[[^\]]*\]\s*")  # "[in#0/avi @ 0x55...] " before a message


class DecodeError(Exception):
    """A video could not be decoded.

    kind:        a stable short tag for counting (missing, unreadable, empty, no_video_stream,
                 truncated, not_a_video, damaged, no_frames, timeout, ffmpeg_failed).
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
    _check_options(size, fps, frame_stride)
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
                   output: str = "pipe:", strict: bool = True) -> list[str]:
    """The full ffmpeg argv decode_video runs; `output` may be a file or /dev/null (benchmarks)."""
    # "file:" keeps a local name with a colon in it from being read as a protocol.
    source = "file:" + path if _is_local(path) else path
    stream = ffmpeg.input(source)["v:0"].output(
        output, vf=",".join(filter_args(size, fps, frame_stride)), fps_mode="passthrough",
        format="rawvideo", pix_fmt="rgb24")
    argv = stream.overwrite_output().compile(cmd=ffmpeg_exe())
    return [argv[0], *GLOBAL_ARGS, *(STRICT_ARGS if strict else ()), *argv[1:]]


def decode_video(path: str, size: int = 64, fps: float | None = None, frame_stride: int | None = None,
                 timeout_s: float = 120.0, strict: bool = True) -> np.ndarray:
    """Decodes `path` to uint8 [N, size, size, 3]; raises DecodeError on any failure.

    fps resamples to that frame rate; frame_stride=K keeps decoded frames 0, K, 2K, ...; at most
    one of them. strict=False keeps the frames decoded before a damaged spot instead of failing.
    """
    _check_options(size, fps, frame_stride)
    if _is_local(path):
        return _decode_local(path, path, size, fps, frame_stride, timeout_s, strict)
    local_copy = _copy_to_local(path)
    try:
        return _decode_local(local_copy, path, size, fps, frame_stride, timeout_s, strict)
    finally:
        os.remove(local_copy)


def _decode_local(local_path, shown_path, size, fps, frame_stride, timeout_s, strict) -> np.ndarray:
    _check_local_file(local_path, shown_path)
    command = ffmpeg_command(local_path, size, fps, frame_stride, strict=strict)
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # communicate() drains stdout and stderr together, so a chatty stderr cannot block ffmpeg.
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        raise DecodeError(shown_path, "timeout",
                          f"timed out after {timeout_s:g} s; raise the timeout if the video is long",
                          _tail(err)) from None
    stderr_tail = _tail(err)
    if process.returncode != 0:
        kind, reason = _classify_failure(stderr_tail, process.returncode)
        raise DecodeError(shown_path, kind, reason, stderr_tail)
    return _frames_from_bytes(out, size, shown_path, stderr_tail)


def _frames_from_bytes(out: bytes, size: int, shown_path: str, stderr_tail: str) -> np.ndarray:
    frame_bytes = size * size * 3
    if not out:
        raise DecodeError(shown_path, "no_frames", "decoded to 0 frames (the video stream is empty)", stderr_tail)
    if len(out) % frame_bytes:
        raise DecodeError(shown_path, "damaged", f"ffmpeg returned a partial frame ({len(out)} bytes)", stderr_tail)
    return np.frombuffer(out, np.uint8).reshape(-1, size, size, 3)


def _classify_failure(stderr_tail: str, returncode: int) -> tuple[str, str]:
    lines = [_LOG_PREFIX.sub("", line).strip() for line in stderr_tail.splitlines() if line.strip()]
    for kind, pattern, reason, add_detail in _STDERR_REASONS:
        matching = [line for line in lines if re.search(pattern, line, re.IGNORECASE)]
        if matching:
            return kind, f"{reason}: {matching[0]}" if add_detail else reason
    detail = lines[-1] if lines else "(no message)"
    return "ffmpeg_failed", f"ffmpeg failed (exit {returncode}): {detail}"


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
    if os.path.getsize(local_path) == 0:
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


def _check_options(size, fps, frame_stride) -> None:
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if fps is not None and frame_stride is not None:
        raise ValueError(f"pass fps ({fps}) or frame_stride ({frame_stride}), not both")
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    if frame_stride is not None and (not isinstance(frame_stride, int) or frame_stride < 1):
        raise ValueError(f"frame_stride must be an int >= 1, got {frame_stride!r}")


def _is_local(path: str) -> bool:
    return "://" not in path


def _tail(stderr: bytes | None) -> str:
    return (stderr or b"").decode(errors="replace")[-STDERR_TAIL_CHARS:].strip()
