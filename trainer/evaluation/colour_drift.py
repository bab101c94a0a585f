"""Where a Shape Motion generator's ACD comes from: a blob's colour, frame by frame.

    python -m trainer.evaluation.colour_drift --model_dir=demo/run [--tfrecords=demo/shards]

ACD says how far a video's colour wanders; this says how. On each video's per-frame content
colour (`shape_metrics.frame_colours`, the mean colour of the largest blob's interior) it prints

    interior_spread   mean L2 distance of a blob's interior pixels to their own mean colour: a
                      crisp single-colour shape spreads 0, a striped or soft one more
    frame_drift       mean L2 change of the content colour from one frame to the next
    position_r2       the share of the colour's variance over a video that a linear function of
                      the blob's centroid (x, y) explains: near 1 when the colour is painted on
                      the frame and the blob moves across it
    time_r2           the same for a linear function of the frame index: a steady trend

each the median (r2) or mean over videos, for the generated videos and, with --tfrecords, for
real clips beside them. All four are 0-255 colour levels or shares; none needs a download.

For a generator with a mask (--gen_appearance), where a frame is m * A + (1 - m) * F, it adds

    mask_interior     the mean mask on the blobs' interiors: 1 when the interior is A alone
    mask_background   the share of background pixels (not foreground) where the mask is > 0.05
    mask_soft         the share of all pixels whose mask is between 0.05 and 0.95
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import numpy as np
from absl import app
from absl import flags

from trainer.evaluation import evaluate, shape_metrics
from trainer.generation import restore

# A fit over fewer frames than this says little; such videos are left out of the r2 medians.
MIN_FRAMES_FOR_FIT = 6
# A mask within this of 0 or 1 counts as off or on; between, as soft.
MASK_MARGIN = 0.05


def explained_variance(y: np.ndarray, x: np.ndarray) -> float:
    """R^2 of a least-squares fit y ~ [x, 1] (y [F, 3] colours, x [F, K]), pooled over channels."""
    design = np.c_[x, np.ones(len(x))]
    residual = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    total = ((y - y.mean(axis=0)) ** 2).sum()
    return float(1.0 - (residual ** 2).sum() / total) if total > 0 else 0.0


def interior_spread(videos: np.ndarray, mask: np.ndarray) -> float:
    """Mean L2 distance of each frame's content pixels (`mask`, shape_metrics.content_mask) to
    their mean, over all frames that have some."""
    colours = shape_metrics.to_colour_scale(videos)
    spreads = [np.linalg.norm(frame[m] - frame[m].mean(axis=0), axis=-1).mean()
               for frame, m in zip(colours.reshape(-1, *colours.shape[2:]),
                                   mask.reshape(-1, *mask.shape[2:])) if m.any()]
    return float(np.mean(spreads)) if spreads else float("nan")


def diagnose(videos: np.ndarray) -> dict[str, float]:
    """The four figures of the module docstring for videos [N, T, H, W, 3]."""
    stats = shape_metrics.blob_stats(videos)
    mask = shape_metrics.content_mask(stats)
    colours = shape_metrics.frame_colours(videos, mask=mask)
    steps = np.linalg.norm(np.diff(colours, axis=1), axis=-1)
    fits = []
    for colour, centroid in zip(colours, stats.centroid):
        seen = ~np.isnan(colour[:, 0]) & ~np.isnan(centroid[:, 0])
        if seen.sum() >= MIN_FRAMES_FOR_FIT:
            fits.append((explained_variance(colour[seen], centroid[seen]),
                         explained_variance(colour[seen], np.flatnonzero(seen)[:, None])))
    fits = np.array(fits) if fits else np.full((1, 2), np.nan)
    return {"interior_spread": interior_spread(videos, mask),
            "frame_drift": float(np.nanmean(steps)) if np.isfinite(steps).any() else float("nan"),
            "position_r2": float(np.median(fits[:, 0])), "time_r2": float(np.median(fits[:, 1]))}


def mask_figures(videos: np.ndarray, masks: np.ndarray) -> dict[str, float]:
    """The three mask figures of the module docstring: videos [N, T, H, W, 3] uint8 or in
    [-1, 1], masks [N, T, H, W] in [0, 1]."""
    interior = shape_metrics.content_mask(shape_metrics.blob_stats(videos))
    background = ~shape_metrics.foreground_mask(videos)
    return {"mask_interior": float(masks[interior].mean()) if interior.any() else float("nan"),
            "mask_background": (float((masks[background] > MASK_MARGIN).mean())
                                if background.any() else float("nan")),
            "mask_soft": float(((masks > MASK_MARGIN) & (masks < 1 - MASK_MARGIN)).mean())}


def main(argv):
    del argv
    f = flags.FLAGS
    generator, config = restore.load_generator(f.model_dir)
    if config.model.gen_appearance != "none":
        videos, masks = evaluate.generate_videos(generator, config, f.num_videos, seed=f.seed,
                                                 with_masks=True)
        columns = {"generated": {**diagnose(videos), **mask_figures(videos, masks)}}
    else:
        columns = {"generated": diagnose(evaluate.generate_videos(generator, config, f.num_videos,
                                                                   seed=f.seed))}
    if f.tfrecords:
        real, _, _ = evaluate.load_real_clips(f.tfrecords, "train", f.num_videos, f.seed)
        columns["real"] = diagnose(real)
    print(f"{'':16s}" + "".join(f"{name:>12s}" for name in columns))
    for key in columns["generated"]:
        print(f"{key:16s}" + "".join(f"{column.get(key, float('nan')):12.3g}"
                                     for column in columns.values()))


if __name__ == "__main__":
    flags.DEFINE_string("model_dir", None, "Training run whose generator (EMA when kept) to measure.")
    flags.DEFINE_string("tfrecords", "", "Shape Motion shard set: real clips measured beside it.")
    flags.DEFINE_integer("num_videos", 128, "Videos (and real clips) to measure.")
    flags.DEFINE_integer("seed", 1, "Seed of the generated videos and of the real clips' pick.")
    flags.mark_flags_as_required(["model_dir"])
    app.run(main)
