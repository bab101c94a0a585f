"""Writes uint8 frames as a real encoded video file through ffmpeg.

Used by the built-in data sets and by tests, so that everything downstream goes through the same
decode path as users' own videos.
"""

import os

import ffmpeg
import numpy as np

from pipeline.ffmpeg_binary import ffmpeg_exe

# Codec choices that suit each container; libxvid in .avi is what UCF-101 ships.
DEFAULT_CODECS = {".avi": "libxvid", ".mp4": "libx264", ".mkv": "libx264", ".mov": "libx264",
                  ".webm": "libvpx-vp9"}


class EncodeError(RuntimeError):
    """ffmpeg failed to write a video; carries the tail of its stderr."""


def write_video(path: str, frames: np.ndarray, fps: float = 25.0, codec: str | None = None,
                quality: int | None = None) -> str:
    """Encodes uint8 [N,H,W,3] frames into `path`; the codec defaults by the file's extension.

    The file is written under a temporary name and renamed, so a killed writer leaves no
    half-written video behind under the real name.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames for {path} must be uint8 [N,H,W,3], got {frames.dtype} {frames.shape}")
    extension = os.path.splitext(path)[1].lower()
    codec = codec or DEFAULT_CODECS.get(extension)
    if codec is None:
        raise ValueError(f"no default codec for {path}; pass codec= (one of {sorted(set(DEFAULT_CODECS.values()))})")
    _, height, width, _ = frames.shape
    options = {"vcodec": codec, "pix_fmt": "yuv420p", "r": fps}
    if quality is not None:
        options["q:v" if codec in ("libxvid", "mpeg4") else "crf"] = quality
    tmp = os.path.join(os.path.dirname(path) or ".", "." + os.path.basename(path) + ".partial" + extension)
    stream = (
        ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", r=fps)
        .output(tmp, **options)
        .overwrite_output()
    )
    try:
        ffmpeg.run(stream, cmd=ffmpeg_exe(), input=frames.tobytes(), quiet=True)
    except ffmpeg.Error as error:
        tail = error.stderr.decode(errors="replace")[-2000:]
        raise EncodeError(f"ffmpeg could not write {path} with codec {codec}: {tail}") from error
    os.replace(tmp, path)
    return path
