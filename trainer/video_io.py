"""Generated videos to and from files: grids, GIF and MP4 encoding, contact sheets, PNG.

Everything goes through one ffmpeg binary (FFMPEG_BINARY, else the one imageio-ffmpeg installs),
with commands built by ffmpeg-python. GIFs use a palette computed from the clip itself
(palettegen + paletteuse), so colours stay clean; their bytes also go into TensorBoard image
summaries, which animate them. Frames are uint8 [T, H, W, 3] RGB throughout.
"""

import os
import re
import subprocess
import tempfile

import ffmpeg
import numpy as np

from pipeline.ffmpeg_binary import ffmpeg_exe  # one binary for the whole project

GAP_VALUE = 255  # white lines between the videos of a grid
LABEL_MARGIN = 72  # pixels left of a labelled contact sheet for the row names


class VideoIOError(RuntimeError):
    """ffmpeg failed to encode or decode; carries the tail of its stderr."""


def _check_frames(frames, what="frames") -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or not frames.size:
        raise ValueError(f"{what} must be uint8 [T,H,W,3] and non-empty, got {frames.dtype} {frames.shape}")
    return frames


def _check_videos(videos) -> np.ndarray:
    videos = np.asarray(videos)
    if videos.dtype != np.uint8 or videos.ndim != 5 or videos.shape[-1] != 3 or not videos.size:
        raise ValueError(f"videos must be uint8 [N,T,H,W,3] and non-empty, got {videos.dtype} {videos.shape}")
    return videos


def _tile(images: np.ndarray, cols: int, gap: int) -> np.ndarray:
    """[N, ..., H, W, 3] -> [..., rows*H + gaps, cols*W + gaps, 3], row-major, blanks padded."""
    count, height, width = images.shape[0], images.shape[-3], images.shape[-2]
    rows = -(-count // cols)
    lead = images.shape[1:-3]
    out = np.full(lead + (rows * height + (rows - 1) * gap, cols * width + (cols - 1) * gap, 3),
                  GAP_VALUE, np.uint8)
    for i in range(count):
        top, left = (i // cols) * (height + gap), (i % cols) * (width + gap)
        out[..., top:top + height, left:left + width, :] = images[i]
    return out


def video_grid(videos, cols: int, gap: int = 2) -> np.ndarray:
    """uint8 [N,T,H,W,3] -> one video [T, H', W', 3] of the N tiled row by row, `gap` px apart."""
    videos = _check_videos(videos)
    if cols < 1:
        raise ValueError(f"cols must be >= 1, got {cols}")
    return _tile(videos, min(cols, len(videos)), gap)


def contact_sheet(videos, num_videos: int, frames_per_video: int, gap: int = 2) -> np.ndarray:
    """uint8 image [H', W', 3]: one row per video (the first num_videos), evenly spaced frames."""
    videos = _check_videos(videos)[:num_videos]
    length = videos.shape[1]
    picks = np.linspace(0, length - 1, num=min(frames_per_video, length)).round().astype(int)
    frames = videos[:, picks]  # [N, F, H, W, 3]
    cells = frames.reshape((-1,) + frames.shape[2:])  # row-major: video by video
    return _tile(cells, len(picks), gap)


def label_rows(image, labels, row_height: int, gap: int = 2, margin: int = LABEL_MARGIN) -> np.ndarray:
    """uint8 image with a left margin naming each row (e.g. "generated", "real"): rows are
    row_height pixels with `gap` between them, as contact_sheet lays them out."""
    from PIL import Image, ImageDraw  # Pillow: a kept library for text on pictures

    image = np.asarray(image)
    canvas = Image.new("RGB", (image.shape[1] + margin, image.shape[0]), (GAP_VALUE,) * 3)
    canvas.paste(Image.fromarray(image), (margin, 0))
    draw = ImageDraw.Draw(canvas)
    for row, text in enumerate(labels):
        top = row * (row_height + gap) + row_height // 2 - 6
        draw.text((4, top), str(text), fill=(0, 0, 0))
    return np.asarray(canvas)


def _run(stream, what: str, frames: np.ndarray = None) -> bytes:
    try:
        out, _ = ffmpeg.run(stream, cmd=ffmpeg_exe(), input=None if frames is None else frames.tobytes(),
                            capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as error:
        tail = error.stderr.decode(errors="replace")[-1500:]
        raise VideoIOError(f"ffmpeg failed to {what}: {tail}") from error
    return out


def _raw_input(frames: np.ndarray, fps: float):
    _, height, width, _ = frames.shape
    return ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", r=fps)


def encode_gif(frames, fps: float = 8.0) -> bytes:
    """uint8 [T,H,W,3] -> bytes of a looping animated GIF with a palette made for this clip."""
    frames = _check_frames(frames)
    split = _raw_input(frames, fps).split()
    palette = split[0].filter("palettegen", stats_mode="full", reserve_transparent=0)
    stream = ffmpeg.filter([split[1], palette], "paletteuse").output("pipe:", format="gif", loop=0)
    return _run(stream, "encode a GIF", frames)


def encode_png(image) -> bytes:
    """uint8 [H,W,3] -> PNG bytes (lossless)."""
    frames = _check_frames(np.asarray(image)[None], "image")
    stream = _raw_input(frames, 1).output("pipe:", format="image2", vcodec="png", frames=1)
    return _run(stream, "encode a PNG", frames)


def _pad_even(frames: np.ndarray) -> np.ndarray:
    """yuv420p needs even sizes: repeat the last row/column where one is odd."""
    _, height, width, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")


def encode_mp4(frames, fps: float = 8.0, crf: int = 18) -> bytes:
    """uint8 [T,H,W,3] -> bytes of an H.264 (yuv420p) MP4 that browsers and players open."""
    frames = _pad_even(_check_frames(frames))
    with tempfile.TemporaryDirectory() as tmp:  # the mp4 muxer needs a seekable output
        path = os.path.join(tmp, "video.mp4")
        stream = _raw_input(frames, fps).output(
            path, vcodec="libx264", pix_fmt="yuv420p", crf=crf, r=fps, movflags="+faststart"
        ).overwrite_output()
        _run(stream, "encode an MP4", frames)
        with open(path, "rb") as f:
            return f.read()


def write_bytes(path: str, data: bytes) -> str:
    """Writes under a temporary name, then renames: a killed writer leaves no half file behind.

    Paths with a scheme (gs://...) go through TensorFlow's file system layer.
    """
    if "://" in path:
        import tensorflow as tf  # only for remote paths

        with tf.io.gfile.GFile(path, "wb") as f:
            f.write(data)
        return path
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.partial")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


_ENCODERS = {".gif": encode_gif, ".mp4": encode_mp4}


def write_video(path: str, frames, fps: float = 8.0) -> str:
    """Writes uint8 [T,H,W,3] frames as .gif or .mp4 (by the extension of `path`)."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in _ENCODERS:
        raise ValueError(f"cannot write {path}: use a .gif or .mp4 file name")
    return write_bytes(path, _ENCODERS[extension](frames, fps))


def write_png(path: str, image) -> str:
    return write_bytes(path, encode_png(image))


def read_video(path: str) -> np.ndarray:
    """Decodes any video or image file ffmpeg reads into uint8 [T,H,W,3] (RGB)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such video: {path}")
    width, height = _frame_size(path)
    stream = ffmpeg.input(path).output("pipe:", format="rawvideo", pix_fmt="rgb24")
    data = _run(stream, f"decode {path}")
    return np.frombuffer(data, np.uint8).reshape(-1, height, width, 3)


def _frame_size(path: str) -> tuple:
    """(width, height) from ffmpeg's stream description (imageio-ffmpeg ships no ffprobe)."""
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", path], capture_output=True, text=True)
    match = re.search(r"Video: .*?, (\d{1,5})x(\d{1,5})", result.stderr)
    if match is None:
        raise VideoIOError(f"ffmpeg found no video stream in {path}: {result.stderr[-800:]}")
    return int(match.group(1)), int(match.group(2))
