"""Where a Shape Motion generator's fd_shapes comes from: which attribute of its videos costs it.

    python -m trainer.evaluation.fd_attribution --model_dir=demo/run --tfrecords=demo/shards

fd_shapes is one number; this splits it. Every video, generated or real, is fitted with the four
attributes a Shape Motion video is made of,

    shape    square when the largest blob's median fill of its bounding box over the frames is above
             SQUARE_FILL (a disc fills pi/4 of it, a square all of it), else circle
    colour   the median colour of the largest blob's pixels
    size     the radius (half the side for a square) of that shape at the blob's median area
    track    the largest blob's centroid in each frame (no shape where a frame has none)

and drawn again as one clean shape from them (`pipeline.shape_drawing.render_frames`). Through the run's own
feature net (`<model_dir>/feature_net`, which the report trains) and against the same real clips it
prints the Fréchet distance of

    real                        real clips of other videos: what a perfect generator scores
    generated                   the generator's videos
    refit real                  the real clips drawn again: near `real` when the fit keeps what the
                                net sees
    refit generated             the generated videos drawn again: their cost once drawn cleanly
    real with generated X       refit real clips, each with one generated video's X: what X costs
    generated with real X       the reverse: what the other three cost

and figures of the attributes: the share of videos fitted as squares, the median over videos of
that fill (a clean disc's pi/4 = 0.785, a ragged blob's less), the share of frames whose blob
fills its box to FULL_BOX or more (squares do, discs never), the median |log| of the box's
height over width (0 for discs and squares, more for ellipses), the median and mean areas, the
median speed (pixels a frame between consecutive centroids), the share of videos whose first
steps run within AXIS_DEGREES of an axis (Shape Motion keeps every direction that far off them;
its clips measure a few percent, from bounces and whole-pixel centroids), and the share of colours paler than PALE_SATURATION (the data's palest).
For a conditional generator it then prints the same figures for videos of each class.
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import dataclasses

import numpy as np
from absl import app
from absl import flags

from pipeline import shape_drawing
from trainer.evaluation import evaluate, feature_net, frechet, shape_metrics
from trainer.generation import restore, sample

# A video whose blob fills more of its bounding box than this (median over frames) is a square:
# midway between a disc's pi/4 and a square's 1.
SQUARE_FILL = 0.9
# A frame whose blob fills this much of its box draws a square; a disc never comes near it.
FULL_BOX = 0.95
ATTRIBUTES = ("shape", "colour", "size", "track")
# Shape Motion's directions keep 15 degrees off the axes (pipeline/datasets/shapes.py), and its
# colours have an HSV saturation of 0.5 or more.
AXIS_DEGREES = 15.0
PALE_SATURATION = 0.5
# Frames over which a video's direction is read: long enough that whole-pixel centroids of
# unsmoothed shapes do not tilt it by degrees, short enough that few bounces intervene.
DIRECTION_SPAN = 4


@dataclasses.dataclass(frozen=True)
class Attributes:
    """The four attributes of N videos of T frames."""
    shape: np.ndarray  # [N] "circle" or "square"
    colour: np.ndarray  # [N, 3] uint8
    size: np.ndarray  # [N] radius, or half the side of a square
    track: np.ndarray  # [N, T, 2] centroid (x, y), NaN where a frame has no blob

    def swapped(self, other: "Attributes", name: str) -> "Attributes":
        """These attributes with `name` taken from `other`, video by video."""
        if name not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {name!r}; choose one of {ATTRIBUTES}")
        return dataclasses.replace(self, **{name: getattr(other, name)})


def fit(videos: np.ndarray) -> tuple[Attributes, dict[str, float]]:
    """The attributes of videos [N, T, H, W, 3] (uint8 or [-1, 1]) and their summary figures."""
    stats = shape_metrics.blob_stats(videos)
    fill, aspect = shape_metrics.box_fill(stats.largest_mask)
    seen = stats.largest_area > 0
    median_fill = np.array([np.median(f[s]) if s.any() else 0.0 for f, s in zip(fill, seen)])
    square = median_fill > SQUARE_FILL
    area = np.array([np.median(a[s]) if s.any() else 0.0 for a, s in zip(stats.largest_area, seen)])
    colours = shape_metrics.to_colour_scale(videos)
    colour = np.array([np.median(c[m], axis=0) if m.any() else np.zeros(3)
                       for c, m in zip(colours, stats.largest_mask)])
    attributes = Attributes(
        shape=np.where(square, "square", "circle"),
        colour=np.clip(np.round(colour), 0, 255).astype(np.uint8),
        size=np.where(square, np.sqrt(area) / 2, np.sqrt(area / np.pi)),
        track=stats.centroid)
    figures = {"square_fraction": float(square.mean()),
               "median_fill": float(np.median(median_fill[seen.any(axis=1)])) if seen.any() else 0.0,
               "full_box_frames": float((fill[seen] >= FULL_BOX).mean()) if seen.any() else 0.0,
               "box_log_aspect": float(np.median(np.abs(np.log(aspect[seen])))) if seen.any() else 0.0,
               "median_area": float(np.median(area)),
               "mean_area": float(stats.largest_area[seen].mean()) if seen.any() else 0.0,
               **track_figures(stats.centroid), "pale_colours": pale_fraction(colour)}
    return attributes, figures


def track_figures(track: np.ndarray) -> dict[str, float]:
    """Median speed and the share of near-axis directions of centroid tracks [N, T, 2]."""
    with np.errstate(invalid="ignore"):
        steps = np.linalg.norm(np.diff(track, axis=1), axis=-1)  # NaN where a frame has no blob
        speeds = np.nanmedian(np.where(np.isnan(steps).all(axis=1, keepdims=True), 0.0, steps), axis=1)
    move = track[:, DIRECTION_SPAN] - track[:, 0]
    moving = np.isfinite(move).all(axis=1) & (np.linalg.norm(np.nan_to_num(move), axis=1) > 0)
    degrees = np.degrees(np.arctan2(np.abs(move[moving, 1]), np.abs(move[moving, 0])))
    near_axis = np.minimum(degrees, 90.0 - degrees) < AXIS_DEGREES
    return {"median_speed": float(np.median(speeds)),
            "near_axis_directions": float(near_axis.mean()) if moving.any() else 0.0}


def pale_fraction(colour: np.ndarray) -> float:
    """The share of colours [N, 3] (0-255) whose HSV saturation is below PALE_SATURATION."""
    top, bottom = colour.max(axis=1), colour.min(axis=1)
    saturation = np.where(top > 0, (top - bottom) / np.maximum(top, 1e-6), 0.0)
    return float((saturation < PALE_SATURATION).mean())


def render(attributes: Attributes, size: int) -> np.ndarray:
    """uint8 [N, T, size, size, 3]: each video drawn again as one clean shape."""
    return np.stack([shape_drawing.render_frames(*video, size) for video in zip(
        attributes.shape, attributes.colour, attributes.size, attributes.track)])


def attribution(generated: np.ndarray, real: np.ndarray, against: np.ndarray, features) -> dict:
    """The distances of the module docstring: `generated` and `real` (equal counts, paired by
    index) scored against the clips `against` through `features` (videos -> [N, D])."""
    if len(generated) != len(real):
        raise ValueError(f"pair equal numbers of videos, got {len(generated)} generated and {len(real)} real")
    size = real.shape[2]
    target = features(against)

    def distance(videos):
        return frechet.feature_frechet_distance(features(videos), target)

    gen_fit, gen_figures = fit(generated)
    real_fit, real_figures = fit(real)
    distances = {"real": distance(real), "generated": distance(generated),
                 "refit real": distance(render(real_fit, size)),
                 "refit generated": distance(render(gen_fit, size))}
    for name in ATTRIBUTES:
        distances[f"real with generated {name}"] = distance(render(real_fit.swapped(gen_fit, name), size))
        distances[f"generated with real {name}"] = distance(render(gen_fit.swapped(real_fit, name), size))
    return {"distances": distances, "attributes": {"generated": gen_figures, "real": real_figures}}


def format_attribution(result: dict) -> str:
    lines = [f"{'fd_shapes of':30s}{'':>10s}"]
    lines += [f"{name:30s}{value:10.1f}" for name, value in result["distances"].items()]
    columns = result["attributes"]
    lines += ["", f"{'attribute':30s}" + "".join(f"{name:>10s}" for name in columns)]
    for key in columns["generated"]:
        lines.append(f"{key:30s}" + "".join(f"{column[key]:10.3g}" for column in columns.values()))
    return "\n".join(lines)


def load_features(model_dir: str, feature_model_dir: str) -> feature_net.FeatureNet:
    cache = feature_model_dir or f"{model_dir.rstrip('/')}/feature_net"
    loaded = feature_net.load(cache)
    if loaded is None:
        raise SystemExit(f"no feature net in {cache}: run trainer.evaluation.report on this run "
                         f"first (it trains one), or name one with --feature_model_dir")
    return feature_net.FeatureNet(loaded[0])


def main(argv):
    del argv
    f = flags.FLAGS
    features = load_features(f.model_dir, f.feature_model_dir)
    generator, config = restore.load_generator(f.model_dir)
    against, real, _ = evaluate.load_real_clips(f.tfrecords, "train", f.num_videos, f.seed)
    count = min(len(against), len(real))
    generated = evaluate.generate_videos(generator, config, count, seed=f.seed)
    print(format_attribution(attribution(generated, real[:count], against[:count], features)))
    if config.conditional:
        print("\n" + format_per_class(per_class_figures(generator, config, count, f.seed)))


def per_class_figures(generator, config, count: int, seed: int) -> dict[str, dict[str, float]]:
    """A conditional generator's attribute figures for `count` videos of each class: whether
    the class changes the shape it draws, or only something else."""
    figures = {}
    for name in config.class_names:
        videos = sample.generate(generator, config, count, label=name, seed=seed)
        figures[name] = fit(videos)[1]
    return figures


def format_per_class(figures: dict[str, dict[str, float]]) -> str:
    lines = [f"{'generated, by class':30s}" + "".join(f"{name:>10s}" for name in figures)]
    for key in next(iter(figures.values())):
        lines.append(f"{key:30s}" + "".join(f"{column[key]:10.3g}" for column in figures.values()))
    return "\n".join(lines)


if __name__ == "__main__":
    flags.DEFINE_string("model_dir", None, "Training run whose generator (EMA when kept) to measure.")
    flags.DEFINE_string("tfrecords", None, "Shape Motion shard set the run was trained on.")
    flags.DEFINE_string("feature_model_dir", "", "Feature net folder; default <model_dir>/feature_net.")
    flags.DEFINE_integer("num_videos", 128, "Videos (and real clips) to measure.")
    flags.DEFINE_integer("seed", 1, "Seed of the generated videos and of the real clips' pick.")
    flags.mark_flags_as_required(["model_dir", "tfrecords"])
    app.run(main)
