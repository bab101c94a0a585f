"""Content and structure metrics for Shape Motion videos (one coloured blob on black).

All functions take numpy videos [N, T, H, W, 3], either uint8 (0-255) or float in [-1, 1] (the
generator's output), and work on the 0-255 colour scale. A pixel is foreground when its luma
(ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B) exceeds FOREGROUND_LUMA. Luma, not the brightest
channel, because lossy codecs subsample colour and smear saturated colours into the black
background at edges while they keep luma sharp.

Blobs are the 8-connected components of that foreground mask, labelled by scipy.ndimage
(TensorFlow core has no connected-components op). A blob is an *object* only when it covers at
most MAX_OBJECT_FRACTION of the frame: a frame that is bright all over (an untrained generator's
grey) is one huge blob, but it shows no shape on a background.
"""

import dataclasses

import numpy as np
from scipy import ndimage
from scipy.stats import wasserstein_distance

from trainer import pixels

FOREGROUND_LUMA = 50.0
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)
MAX_OBJECT_FRACTION = 0.5  # the largest Shape Motion square covers 400 of 4096 pixels
# A triplet of frames is left out of motion smoothness when the blob comes this close to a border
# (pixels of a 64-pixel frame, scaled with the width): a bounce can happen between those frames.
# The data set's top speed is 3.5 pixels per frame.
BOUNCE_MARGIN_64 = 5.0
# 8-connectivity inside a frame and none across frames, for labelling a stack [F, H, W] at once.
_FRAME_NEIGHBOURS = np.zeros((3, 3, 3), bool)
_FRAME_NEIGHBOURS[1] = True


def to_colour_scale(videos: np.ndarray) -> np.ndarray:
    """float32 copy of `videos` on the 0-255 scale: uint8 as is, floats mapped from [-1, 1]."""
    videos = np.asarray(videos)
    if videos.ndim != 5 or videos.shape[-1] != 3:
        raise ValueError(f"videos must be [N, T, H, W, 3], got shape {videos.shape}")
    if videos.dtype == np.uint8:
        return videos.astype(np.float32)
    if not np.issubdtype(videos.dtype, np.floating):
        raise ValueError(f"videos must be uint8 or float in [-1, 1], got {videos.dtype}")
    return pixels.to_pixel_scale(videos)


def foreground_mask(videos: np.ndarray, threshold: float = FOREGROUND_LUMA) -> np.ndarray:
    """bool [N, T, H, W]: pixels whose luma (0-255) is above `threshold`."""
    return to_colour_scale(videos) @ LUMA_WEIGHTS > threshold


def label_components(masks: np.ndarray) -> np.ndarray:
    """8-connected component labels of bool masks [..., H, W]; int64, -1 on background.

    A component's label is the flat index of its first pixel in raster order (its root), so labels
    are unique across all frames and `_blob_stats` can count and measure blobs with bincount.
    """
    masks = np.asarray(masks, bool)
    height, width = masks.shape[-2:]
    flat = masks.reshape(-1, height, width)
    numbers, count = ndimage.label(flat, structure=_FRAME_NEIGHBOURS)
    # scipy numbers components 1, 2, ... (0 is background); each one's first pixel is its root.
    present, first = np.unique(numbers, return_index=True)
    roots = np.full(count + 1, -1, np.int64)
    roots[present[present > 0]] = first[present > 0]
    return roots[numbers].reshape(masks.shape)


@dataclasses.dataclass(frozen=True)
class BlobStats:
    """Per-frame blob measurements of a set of videos; arrays are [N, T] (or [N, T, 2])."""

    num_blobs: np.ndarray  # number of connected components
    largest_area: np.ndarray  # pixels in the largest component, 0 when there is none
    centroid: np.ndarray  # (x, y) of the largest component's pixel centres, NaN when none
    near_border: np.ndarray  # bool: the foreground comes within the bounce margin of a border
    largest_mask: np.ndarray  # bool [N, T, H, W]: the pixels of the largest blob
    size: int  # frame width

    @property
    def single_object(self) -> np.ndarray:
        """bool [N, T]: exactly one blob, and it covers at most MAX_OBJECT_FRACTION of the frame."""
        height, width = self.largest_mask.shape[-2:]
        return (self.num_blobs == 1) & (self.largest_area <= MAX_OBJECT_FRACTION * height * width)


def blob_stats(videos: np.ndarray, threshold: float = FOREGROUND_LUMA, chunk: int = 32) -> BlobStats:
    """Labels every frame's foreground and measures its blobs, `chunk` videos at a time (the
    labelling holds several int64 copies of the frames)."""
    parts = [_blob_stats(videos[i:i + chunk], threshold) for i in range(0, len(videos), chunk)]
    fields = [f.name for f in dataclasses.fields(BlobStats) if f.name != "size"]
    return BlobStats(size=parts[0].size, **{
        name: np.concatenate([getattr(p, name) for p in parts]) for name in fields})


def _blob_stats(videos: np.ndarray, threshold: float) -> BlobStats:
    mask = foreground_mask(videos, threshold)
    n, t, height, width = mask.shape
    labels = label_components(mask).reshape(-1)
    frame_pixels = height * width
    on = labels >= 0
    area = np.bincount(labels[on], minlength=labels.size)
    pixel = np.arange(labels.size)
    sum_x = np.bincount(labels[on], weights=(pixel[on] % width) + 0.5, minlength=labels.size)
    sum_y = np.bincount(labels[on], weights=(pixel[on] // width) % height + 0.5, minlength=labels.size)
    roots = np.flatnonzero(on & (labels == pixel))
    root_frame = roots // frame_pixels
    num_blobs = np.bincount(root_frame, minlength=n * t)
    # The largest blob of each frame: sort roots by (frame, area); the last of each frame wins.
    order = np.lexsort((area[roots], root_frame))
    roots, root_frame = roots[order], root_frame[order]
    last = np.flatnonzero(np.r_[root_frame[1:] != root_frame[:-1], True]) if roots.size else roots
    largest_area = np.zeros(n * t, np.int64)
    centroid = np.full((n * t, 2), np.nan)
    largest = roots[last]
    largest_label = np.full(n * t, -2, np.int64)  # -2 matches no pixel, not even background
    largest_label[root_frame[last]] = largest
    largest_mask = labels.reshape(n * t, -1) == largest_label[:, None]
    largest_area[root_frame[last]] = area[largest]
    centroid[root_frame[last]] = np.stack([sum_x[largest], sum_y[largest]], -1) / area[largest, None]
    margin = BOUNCE_MARGIN_64 * width / 64.0
    band = np.zeros((height, width), bool)
    m = int(np.ceil(margin))
    band[:m, :] = band[-m:, :] = band[:, :m] = band[:, -m:] = True
    near_border = (mask & band).reshape(n * t, -1).any(-1)
    return BlobStats(num_blobs=num_blobs.reshape(n, t), largest_area=largest_area.reshape(n, t),
                     centroid=centroid.reshape(n, t, 2), near_border=near_border.reshape(n, t),
                     largest_mask=largest_mask.reshape(mask.shape), size=width)


def single_blob_fraction(stats: BlobStats) -> float:
    """Fraction of all frames that hold exactly one blob, that blob an object (at most
    MAX_OBJECT_FRACTION of the frame); 1.0 for clean Shape Motion."""
    return float(np.mean(stats.single_object))


def wasserstein_1d(a: np.ndarray, b: np.ndarray) -> float:
    """1-D Wasserstein-1 (earth mover's) distance between two empirical distributions.

    W1 = integral over x of |F_a(x) - F_b(x)|, F the empirical CDFs; exact for any sample sizes.
    scipy computes it; the check here names what was empty.
    """
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    if a.size == 0 or b.size == 0:
        raise ValueError("wasserstein_1d needs two non-empty samples")
    return float(wasserstein_distance(a, b))


def area_distance(stats: BlobStats, reference: BlobStats) -> float:
    """W1 distance, in pixels, between the per-frame areas of the largest blob (0 if none)."""
    return wasserstein_1d(stats.largest_area, reference.largest_area)


def motion_deviation(stats: BlobStats) -> dict[str, float | None]:
    """How far the blob's centroid is from constant-velocity motion between bounces.

    For every frame t with neighbours t-1 and t+1 in which all three frames hold exactly one blob
    that is an object (see `single_blob_fraction`) and in none of them the foreground comes within the bounce margin of a border, the deviation is
    |c(t+1) - 2 c(t) + c(t-1)|, the L2 norm in pixels of the centroid's second difference
    (0 for constant velocity). Returns
      motion_deviation: the mean of that over all such triplets of all videos (None if none),
      motion_valid_fraction: the share of all triplets that qualified,
      mean_speed: mean |c(t+1) - c(t)| over those triplets' pairs, so that a still blob, which
        scores a perfect deviation, is seen for what it is.
    """
    single = stats.single_object & ~stats.near_border
    valid = single[:, :-2] & single[:, 1:-1] & single[:, 2:]
    c = stats.centroid
    second = c[:, 2:] - 2 * c[:, 1:-1] + c[:, :-2]
    speed = np.linalg.norm(c[:, 1:-1] - c[:, :-2], axis=-1)
    total = valid.size
    if not valid.any():
        return {"motion_deviation": None, "motion_valid_fraction": 0.0, "mean_speed": None}
    return {
        "motion_deviation": float(np.linalg.norm(second, axis=-1)[valid].mean()),
        "motion_valid_fraction": float(valid.sum() / total),
        "mean_speed": float(speed[valid].mean()),
    }


def box_fill(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fill, aspect) of each mask [..., H, W]: its pixels over its bounding box's (pi/4 for a
    disc, 1 for an axis-aligned square) and the box's height over its width; NaN where empty."""
    masks = np.asarray(masks, bool)
    rows, cols = masks.any(axis=-1), masks.any(axis=-2)
    height = rows.shape[-1] - np.argmax(rows[..., ::-1], axis=-1) - np.argmax(rows, axis=-1)
    width = cols.shape[-1] - np.argmax(cols[..., ::-1], axis=-1) - np.argmax(cols, axis=-1)
    empty = ~rows.any(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fill = np.where(empty, np.nan, masks.sum(axis=(-2, -1)) / (height * width))
        aspect = np.where(empty, np.nan, height / width)
    return fill, aspect


def interior(masks: np.ndarray) -> np.ndarray:
    """Foreground pixels whose 8 neighbours are all foreground (a 3x3 erosion of [..., H, W]).

    Outside the frame counts as background, so no pixel on the frame's edge is interior.
    """
    masks = np.asarray(masks, bool)
    square = np.ones((1,) * (masks.ndim - 2) + (3, 3), bool)  # frames are eroded one by one
    return ndimage.binary_erosion(masks, structure=square, border_value=0)


def content_mask(stats: BlobStats) -> np.ndarray:
    """bool [N, T, H, W]: the pixels a frame's content is measured on, the interior of its largest
    blob when that blob is an object (see `average_content_distance`)."""
    height, width = stats.largest_mask.shape[-2:]
    is_object = stats.largest_area <= MAX_OBJECT_FRACTION * height * width
    return interior(stats.largest_mask) & is_object[..., None, None]


def frame_colours(videos: np.ndarray, stats: BlobStats | None = None,
                  mask: np.ndarray | None = None) -> np.ndarray:
    """float [N, T, 3]: each frame's content, the mean colour (0-255) of its `content_mask`
    pixels (computed when not given); NaN where the frame has none."""
    colours = to_colour_scale(videos)
    if mask is None:
        mask = content_mask(stats if stats is not None else blob_stats(videos))
    counts = mask.sum(axis=(2, 3))
    sums = np.einsum("nthwc,nthw->ntc", colours, mask.astype(np.float32))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts[..., None] > 0, sums / counts[..., None], np.nan)


def average_content_distance(videos: np.ndarray, stats: BlobStats | None = None) -> dict[str, float | None]:
    """ACD, the average content distance of MoCoGAN (Tulyakov et al. 2018) for Shape Motion.

    Per video: the content of a frame is the mean colour (R, G, B on the 0-255 scale) of the
    interior pixels of its largest blob (pixels of the blob whose 8 neighbours are in it too:
    lossy codecs mix colour into the one-pixel rim, which would otherwise dominate the score of
    real videos). The video's distance is the mean L2 distance between those colours over all
    unordered pairs of frames (the paper's "average pairwise L2 distance"), not just consecutive
    ones. ACD is the mean of that over videos; lower is better and 0 means the colour never changes.

    A frame has no content, and is skipped, when it has no blob, when its largest blob is not an
    object (covers more than MAX_OBJECT_FRACTION of the frame: a uniform grey frame has a very
    steady "colour" but shows no shape), or when that blob has no interior pixel. A video with fewer
    than two frames with content is left out of the mean; `acd_excluded_fraction` reports the
    share of videos left out, and ACD is None when all were.

    ACD sees colour only: it says nothing about shape, count or motion, which is what the
    structure scores are for. The paper reports 1.79 (MoCoGAN), 2.08 (TGAN), 5.02 (VGAN) on its own
    shape data but states neither the colour scale nor the foreground rule, so those numbers are a
    rough guide, not a like-for-like comparison.
    """
    per_video = []
    for means in frame_colours(videos, stats):
        means = means[~np.isnan(means[:, 0])]
        if len(means) < 2:
            continue
        pairwise = np.linalg.norm(means[:, None] - means[None, :], axis=-1)
        upper = np.triu_indices(len(means), k=1)
        per_video.append(pairwise[upper].mean())
    excluded = 1.0 - len(per_video) / len(videos)
    return {"acd": float(np.mean(per_video)) if per_video else None, "acd_excluded_fraction": excluded}


def shape_scores(videos: np.ndarray, reference: np.ndarray) -> dict[str, float | None]:
    """Every Shape Motion metric of `videos`, with `reference` (real clips) for the area distance."""
    stats = blob_stats(videos)
    scores = dict(average_content_distance(videos, stats))
    scores["single_blob_fraction"] = single_blob_fraction(stats)
    scores["area_distance"] = area_distance(stats, blob_stats(reference))
    scores.update(motion_deviation(stats))
    return scores
