"""Pictures made of many generated videos: grids of videos, contact sheets of frames, row labels.

Pure numpy (and Pillow for the labels); pipeline.media turns the results into GIF, MP4 or PNG
files. Frames are uint8 [T, H, W, 3] RGB throughout.
"""

import numpy as np

GAP_VALUE = 255  # white lines between the videos of a grid
LABEL_MARGIN = 72  # pixels left of a labelled contact sheet for the row names


def _check_videos(videos) -> np.ndarray:
    videos = np.asarray(videos)
    if videos.dtype != np.uint8 or videos.ndim != 5 or videos.shape[-1] != 3 or not videos.size:
        raise ValueError(f"videos must be uint8 [N,T,H,W,3] and non-empty, "
                         f"got {videos.dtype} {videos.shape}")
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


def label_rows(image, labels, row_height: int, gap: int = 2,
               margin: int = LABEL_MARGIN) -> np.ndarray:
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
