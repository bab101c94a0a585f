"""Media files through ffmpeg, for both halves: the binary, encoding frames, reading them back.

The pipeline writes its built-in data sets and test videos here (so they reach the same decode path
as users' own videos); the trainer writes its samples, grids and contact sheets. Frames are uint8
[T, H, W, 3] RGB throughout.

ffmpeg is by default the binary the imageio-ffmpeg wheel ships, so a pip install (on a laptop or on
a Dataflow worker through `--setup_file`) brings it along; FFMPEG_BINARY points elsewhere, for
example at a system build with more codecs. Commands are built with ffmpeg-python. GIFs use a
palette computed from the clip itself (palettegen + paletteuse), so colours stay clean; their bytes
also go into TensorBoard image summaries, which animate them.

    from pipeline import media
    media.write_video("out/samples.gif", frames, fps=8)
    media.write_video("data/clip.avi", frames, quality=3)  # xvid, as UCF-101 ships
    frames = media.read_video("out/samples.gif")
"""

import functools
import itertools
import os
import shutil
import tempfile

import ffmpeg
import imageio_ffmpeg
import numpy as np

from pipeline import files

ENV_VAR = "FFMPEG_BINARY"
# The files taken as videos when a folder is read (any case): the pipeline's sources, FVD's sets.
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".webm")
# Codec choices that suit each container; libxvid in .avi is what UCF-101 ships.
DEFAULT_CODECS = {".avi": "libxvid", ".mp4": "libx264", ".mkv": "libx264", ".mov": "libx264",
                  ".webm": "libvpx-vp9"}
# Quality when none is given: crf 18 is near-lossless H.264, which samples and sheets want.
DEFAULT_QUALITY = {"libx264": 18}
# Encoders that take odd frame sizes in yuv420p; every other one gets a repeated row or column.
ODD_SIZE_CODECS = ("libvpx-vp9",)
# Containers whose index (the moov atom) can move to the front of the file (faststart=True).
FASTSTART = (".mp4", ".mov")
STDERR_TAIL_CHARS = 2000


class MediaError(RuntimeError):
    """ffmpeg failed to encode or decode; carries the tail of its stderr."""


@functools.lru_cache(maxsize=None)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg executable; a clear error if the override names nothing runnable."""
    override = os.environ.get(ENV_VAR)
    if not override:
        return imageio_ffmpeg.get_ffmpeg_exe()
    found = shutil.which(override)
    if found is None:
        raise FileNotFoundError(
            f"{ENV_VAR}={override!r} is not an executable; unset it to use the ffmpeg that "
            "imageio-ffmpeg installs, or point it at an ffmpeg binary")
    return found


def check_frames(frames, what: str = "frames") -> np.ndarray:
    """`frames` as a uint8 [T,H,W,3] array, or a ValueError naming what was passed."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or not frames.size:
        raise ValueError(f"{what} must be uint8 [T,H,W,3] and non-empty, "
                         f"got {frames.dtype} {frames.shape}")
    return frames


def _run(stream, what: str, frames: np.ndarray) -> bytes:
    """Runs one ffmpeg command with `frames` on stdin; its stdout, or MediaError with stderr."""
    try:
        out, _ = ffmpeg.run(stream, cmd=ffmpeg_exe(), input=frames.tobytes(),
                            capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as error:
        tail = error.stderr.decode(errors="replace")[-STDERR_TAIL_CHARS:]
        raise MediaError(f"ffmpeg failed to {what}: {tail}") from error
    return out


def _raw_input(frames: np.ndarray, fps: float):
    _, height, width, _ = frames.shape
    return ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", r=fps)


def encode_gif(frames, fps: float = 8.0) -> bytes:
    """uint8 [T,H,W,3] -> bytes of a looping animated GIF with a palette made for this clip."""
    frames = check_frames(frames)
    split = _raw_input(frames, fps).split()
    palette = split[0].filter("palettegen", stats_mode="full", reserve_transparent=0)
    stream = ffmpeg.filter([split[1], palette], "paletteuse").output("pipe:", format="gif", loop=0)
    return _run(stream, "encode a GIF", frames)


def encode_png(image) -> bytes:
    """uint8 [H,W,3] -> PNG bytes (lossless)."""
    frames = check_frames(np.asarray(image)[None], "image")
    stream = _raw_input(frames, 1).output("pipe:", format="image2", vcodec="png", frames=1)
    return _run(stream, "encode a PNG", frames)


def _pad_even(frames: np.ndarray) -> np.ndarray:
    """yuv420p halves the colour planes: repeat the last row/column where a size is odd."""
    _, height, width, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")


def _codec_options(extension: str, codec: str, fps: float, quality: int | None,
                   faststart: bool) -> dict:
    options = {"vcodec": codec, "pix_fmt": "yuv420p", "r": fps}
    quality = DEFAULT_QUALITY.get(codec) if quality is None else quality
    if quality is not None:
        options["q:v" if codec in ("libxvid", "mpeg4") else "crf"] = quality
    if faststart and extension in FASTSTART:
        options["movflags"] = "+faststart"
    return options


def encode_video(frames, extension: str = ".mp4", fps: float = 25.0, codec: str | None = None,
                 quality: int | None = None, faststart: bool = True) -> bytes:
    """uint8 [T,H,W,3] -> bytes of a `extension` file (.avi, .mp4, ...); codec by container.

    `quality` is xvid's q:v (2 best .. 31) or the crf of the other codecs (lower is better).
    `faststart` puts an .mp4/.mov's index first, so browsers play it before it has all arrived;
    False leaves it at the end, where cameras and plain ffmpeg put it.
    """
    frames = check_frames(frames)
    codec = codec or DEFAULT_CODECS.get(extension)
    if codec is None:
        raise ValueError(f"no default codec for {extension!r} files; pass codec= "
                         f"(one of {sorted(set(DEFAULT_CODECS.values()))})")
    if codec not in ODD_SIZE_CODECS:
        frames = _pad_even(frames)
    options = _codec_options(extension, codec, fps, quality, faststart)
    with tempfile.TemporaryDirectory() as tmp:  # mp4 and avi muxers need a seekable output
        path = os.path.join(tmp, "video" + extension)
        stream = _raw_input(frames, fps).output(path, **options).overwrite_output()
        _run(stream, f"encode {extension} with codec {codec}", frames)
        with open(path, "rb") as f:
            return f.read()


def write_video(path: str, frames, fps: float = 25.0, codec: str | None = None,
                quality: int | None = None, faststart: bool = True) -> str:
    """Encodes uint8 [T,H,W,3] frames into `path`, the format by its extension; returns `path`.

    .gif is a palette GIF (no codec or quality to choose); .avi, .mp4, .mkv, .mov and .webm are
    encoded with DEFAULT_CODECS unless `codec` says otherwise (encode_video explains `quality`
    and `faststart`).
    The file appears whole or not at all (files.atomic_write); gs:// paths work too.
    """
    extension = os.path.splitext(path)[1].lower()
    if extension == ".gif":
        if codec is not None or quality is not None:
            raise ValueError(f"{path}: a GIF takes no codec or quality, it has its own palette")
        return files.atomic_write(path, encode_gif(frames, fps))
    if extension not in DEFAULT_CODECS and codec is None:
        raise ValueError(f"cannot write {path}: use one of "
                         f"{['.gif', *DEFAULT_CODECS]} or pass codec=")
    try:
        data = encode_video(frames, extension, fps, codec, quality, faststart)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    except MediaError as error:
        raise MediaError(f"{path}: {error}") from error
    return files.atomic_write(path, data)


def write_png(path: str, image) -> str:
    return files.atomic_write(path, encode_png(image))


def read_video(path: str, max_frames: int | None = None) -> np.ndarray:
    """Decodes any local video or image file ffmpeg reads into uint8 [T,H,W,3] (RGB); with
    `max_frames`, only its first frames (ffmpeg is stopped there rather than decoding the rest).

    Through imageio-ffmpeg's reader, which reports the frame size before the frames; it runs the
    binary imageio-ffmpeg finds (IMAGEIO_FFMPEG_EXE, else its own), not FFMPEG_BINARY.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such video: {path}")
    reader = imageio_ffmpeg.read_frames(path, pix_fmt="rgb24")
    try:
        width, height = next(reader)["size"]
        frames = itertools.islice(reader, max_frames) if max_frames is not None else reader
        data = b"".join(frames)
    except (OSError, RuntimeError) as error:
        raise MediaError(f"ffmpeg could not decode {path}: {error}") from error
    finally:
        reader.close()
    return np.frombuffer(data, np.uint8).reshape(-1, height, width, 3)
