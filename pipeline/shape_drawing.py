"""Drawing one Shape Motion shape and its path, for the data set's writer
(pipeline/datasets/shapes.py) and its class names for the trainer's benchmark. Pure numpy; no
Beam, no TensorFlow."""

import numpy as np

SHAPES = ("circle", "square")


def render_frames(shape: str, colour, radius: float, centres: np.ndarray, size: int = 64) -> np.ndarray:
    """uint8 [T, size, size, 3]: the shape of `radius` (half the side for a square) at each of
    `centres` [T, 2] (x, y). A frame whose centre is NaN stays black."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose one of {SHAPES}")
    centres = np.asarray(centres, np.float64)
    pixel = np.arange(size, dtype=np.float64) + 0.5
    dx = pixel[None, None, :] - centres[:, 0, None, None]  # [T, 1, W]
    dy = pixel[None, :, None] - centres[:, 1, None, None]  # [T, H, 1]
    if shape == "circle":
        inside = dx ** 2 + dy ** 2 <= radius ** 2
    else:
        inside = (np.abs(dx) <= radius) & (np.abs(dy) <= radius)
    frames = np.zeros((len(centres), size, size, 3), np.uint8)
    frames[inside] = np.asarray(colour, np.uint8)
    return frames


def mirrored_path(start, velocity, low: float, high: float, num_frames: int) -> np.ndarray:
    """Centres [T, 2] (x, y) from `start` at a constant `velocity` (pixels a frame), mirrored at
    `low` and `high` on both axes: a bounce is a reflection of the straight path in that
    interval, computed in closed form (no stepping)."""
    length = high - low
    t = np.arange(num_frames, dtype=np.float64)[:, None]
    straight = (np.asarray(start, np.float64)[None, :] - low
                + t * np.asarray(velocity, np.float64)[None, :])
    folded = np.mod(straight, 2 * length)
    return low + np.where(folded <= length, folded, 2 * length - folded)
