"""Quality metrics of a trained model: generated videos against real clips from a shard set.

    python -m trainer.evaluate --model_dir=runs/shapes --tfrecords=shards/shapes \
        --num_videos=256 --out=runs/shapes/metrics.json [--i3d_model=PATH] [--feature_model_dir=DIR]

Every metric is computed twice: for generated videos against real clips, and for those real clips
against a disjoint set of real clips (other videos, chosen by a stable hash of the video id), the
reference that says how good "as good as real" is at this sample size:

    acd                    average content distance, 0-255 colour scale (trainer/shape_metrics.py)
    single_blob_fraction   frames with exactly one foreground blob, and that no bigger than half
                           the frame (a bright frame is not a shape)
    area_distance          W1 distance of per-frame largest-blob areas to the other set, pixels
    motion_deviation       centroid second difference between bounces, pixels (+ mean_speed)
    fvd                    Fréchet distance of clip features to the other set: I3D with
                           --i3d_model (standard FVD), else the project's Shape Motion feature net,
                           trained on the real clips once and cached in --feature_model_dir

The shape metrics assume Shape Motion data (one blob on black); on other data use --i3d_model and
read only fvd. The result goes to --out atomically, and a table to the console.

`evaluate_videos` is the pure core (arrays in, dict out); `TrainingEvaluator` (built on
`eval_generator`) is what the training loop calls every --eval_every steps for TensorBoard scalars.
"""

import dataclasses
import hashlib
import json
import math
import os

import numpy as np
import tensorflow as tf

from pipeline import schema
from trainer import data as data_lib
from trainer import feature_net, frechet, shape_metrics
from trainer.checkpoint_paths import checkpoint_step

# (key, what it measures, which way is better): the console table's rows, in order.
TABLE = (
    ("fvd", "Fréchet distance of clip features", "lower"),
    ("acd", "average content distance (0-255)", "lower"),
    ("acd_excluded_fraction", "videos with no shape to measure ACD on", "lower"),
    ("single_blob_fraction", "frames showing exactly one shape", "higher"),
    ("area_distance", "blob-area W1 distance (pixels)", "lower"),
    ("motion_deviation", "centroid 2nd difference (pixels)", "lower"),
    ("mean_speed", "blob speed (pixels/frame)", "= real"),
)
# Read up to this many times --num_videos clips (at least READ_MIN), then sample from them: clips
# of one video sit together in a shard, so the first few clips would come from few videos.
READ_CAP_FACTOR = 4
READ_MIN = 512


def evaluate_videos(generated: np.ndarray, real: np.ndarray, feature_extractor=None,
                    reference: np.ndarray | None = None) -> dict:
    """Every metric of `generated` against `real`, and of `real` against `reference`.

    Videos are [N, T, H, W, 3], uint8 or float in [-1, 1]. Without `reference`, `real` is split in
    two halves: the first is compared with `generated`, the second is its reference. Without a
    `feature_extractor` ("videos -> features [N, D]"), fvd is None. Returns
    {"generated": {metric: value}, "real": {metric: value}, "num_generated", "num_real",
    "num_reference"}; a metric that cannot be computed (e.g. no blob at all) is None.
    """
    if reference is None:
        half = len(real) // 2
        real, reference = real[:half], real[half:]
    if min(len(generated), len(real), len(reference)) < 2:
        raise ValueError(f"need at least 2 videos per set, got {len(generated)} generated, "
                         f"{len(real)} real and {len(reference)} reference")
    result = {"generated": shape_metrics.shape_scores(generated, real),
              "real": shape_metrics.shape_scores(real, reference)}
    if feature_extractor is None:
        result["generated"]["fvd"] = result["real"]["fvd"] = None
    else:
        real_features = feature_extractor(real)
        result["generated"]["fvd"] = frechet.feature_frechet_distance(feature_extractor(generated), real_features)
        result["real"]["fvd"] = frechet.feature_frechet_distance(real_features, feature_extractor(reference))
    result.update(num_generated=len(generated), num_real=len(real), num_reference=len(reference))
    return result


def training_scalars(generated: np.ndarray, real: np.ndarray, feature_extractor=None) -> dict[str, float]:
    """Flat metrics of generated vs real videos for TensorBoard; metrics that are None are left out."""
    scores = shape_metrics.shape_scores(generated, real)
    if feature_extractor is not None:
        scores["fvd"] = frechet.feature_frechet_distance(feature_extractor(generated), feature_extractor(real))
    return {f"eval/{key}": float(value) for key, value in scores.items() if value is not None}


def generate_videos(generator, config, num_videos: int, seed: int = 0, batch_size: int = 32) -> np.ndarray:
    """uint8 [N, T, H, W, 3] from the generator, in batches (conditional models cycle classes)."""
    from trainer import sample  # the training loop imports this module; keep its imports light

    batches = []
    for start in range(0, num_videos, batch_size):
        count = min(batch_size, num_videos - start)
        batches.append(sample.generate(generator, config, count, seed=seed + start))
    return np.concatenate(batches)


def eval_generator(generator, config, real_videos, feature_extractor=None, seed: int = 0) -> dict[str, float]:
    """What the training loop logs every --eval_every steps: as many generated videos as there are
    real ones (a batch of real clips, uint8 or [-1, 1]), scored by `training_scalars`."""
    real_videos = np.asarray(real_videos)
    generated = generate_videos(generator, config, len(real_videos), seed=seed)
    return training_scalars(generated, real_videos, feature_extractor)


# ----------------------------------------------------------------------------------------------
# Inputs


def _parse_with_id(serialized, shape, encoding):
    clip = schema.parse_clip(serialized, shape, encoding)
    video_id = tf.io.parse_single_example(
        serialized, {schema.VIDEO_ID: schema.feature_spec()[schema.VIDEO_ID]})[schema.VIDEO_ID]
    return clip["frames"], video_id


def load_real_clips(tfrecords: str, split: str, num_videos: int, seed: int = 0,
                    extra: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two disjoint sets of real clips (uint8), split by a stable hash of the video id so that no
    video is in both, each of up to `num_videos` clips sampled with `seed` from the first
    max(READ_CAP_FACTOR * num_videos, READ_MIN, extra) clips read; plus every clip read, for
    training the feature net."""
    shards = data_lib.resolve_shards(tfrecords, split)
    manifest = shards.manifest
    dataset = data_lib.read_records(shards)  # every complete set of a dataset root, superseded clips left out
    dataset = dataset.map(lambda s: _parse_with_id(s, tuple(manifest.clip_shape), manifest.encoding))
    halves = ([], [])
    for frames, video_id in dataset.take(max(READ_CAP_FACTOR * num_videos, READ_MIN, extra)).as_numpy_iterator():
        # sha256, not crc32: crc32 is linear, so ids that differ in one digit land together.
        halves[hashlib.sha256(video_id).digest()[0] % 2].append(frames)
    if min(len(h) for h in halves) < 2:
        raise ValueError(f"{tfrecords} ({split}) has too few videos to form two disjoint sets of real "
                         f"clips ({len(halves[0])} and {len(halves[1])} clips); give it more videos")
    count = min(num_videos, *(len(h) for h in halves))
    rng = np.random.default_rng(seed)
    picked = [np.stack([h[i] for i in sorted(rng.permutation(len(h))[:count])]) for h in halves]
    return picked[0], picked[1], np.stack(halves[0] + halves[1])


def feature_extractor_for(i3d_model: str | None, feature_model_dir: str | None,
                          training_clips: np.ndarray | None = None, train_steps: int = 300) -> tuple[object, dict]:
    """The I3D features when a model path is given, else the cached (or newly trained) feature net."""
    if i3d_model:
        return frechet.I3DFeatures(i3d_model), {"features": "i3d", "i3d_model": i3d_model}
    if not feature_model_dir:
        raise ValueError("give --i3d_model or --feature_model_dir for the Fréchet distance")
    extractor, info = feature_net.load_or_train(feature_model_dir, training_clips, steps=train_steps)
    return extractor, dict(info, features="shape_motion_feature_net", feature_model_dir=feature_model_dir)


class TrainingEvaluator:
    """What the training loop holds to log metrics every --eval_every steps.

        evaluator = TrainingEvaluator(config.tfrecords, num_videos=64,
                                      feature_model_dir=os.path.join(config.model_dir, "feature_net"))
        for name, value in evaluator(generator, config).items():   # {"eval/fvd": ..., ...}
            tf.summary.scalar(name, value, step=step)

    Real clips are read once, on the first call; the feature net is loaded, or trained once on
    those clips, then too. Without a feature_model_dir or i3d_model the scalars have no fvd.
    """

    def __init__(self, tfrecords: str, num_videos: int = 64, split: str = "train", seed: int = 0,
                 feature_model_dir: str = "", i3d_model: str = "", feature_train_steps: int = 300):
        self._args = (tfrecords, split, num_videos, seed)
        self._features = (i3d_model, feature_model_dir, feature_train_steps)
        self._real = None
        self._extractor = None
        self._seed = seed

    def __call__(self, generator, config) -> dict[str, float]:
        if self._real is None:
            self._real, _, pool = load_real_clips(*self._args)
            i3d_model, feature_model_dir, steps = self._features
            if i3d_model or feature_model_dir:
                self._extractor, _ = feature_extractor_for(i3d_model, feature_model_dir, pool, steps)
        return eval_generator(generator, config, self._real, self._extractor, seed=self._seed)


# ----------------------------------------------------------------------------------------------
# The command


@dataclasses.dataclass(frozen=True)
class EvalOptions:
    model_dir: str
    tfrecords: str
    num_videos: int = 256
    out: str = ""  # default: <model_dir>/metrics.json
    split: str = "train"
    i3d_model: str = ""
    feature_model_dir: str = ""  # default: <model_dir>/feature_net
    feature_train_clips: int = 1024
    feature_train_steps: int = 300
    checkpoint: str = ""  # default: the latest
    ema: bool = True
    seed: int = 0
    batch_size: int = 32


def run(options: EvalOptions) -> dict:
    """Loads, generates, scores, writes `out`; returns what it wrote."""
    from trainer import restore

    if options.num_videos < 2:
        raise ValueError(f"--num_videos={options.num_videos} must be at least 2")
    checkpoint = options.checkpoint or restore.latest_checkpoint(options.model_dir)
    generator, config = restore.load_generator(options.model_dir, prefer_ema=options.ema, checkpoint=checkpoint)
    real, reference, pool = load_real_clips(options.tfrecords, options.split, options.num_videos,
                                            options.seed, extra=options.feature_train_clips)
    feature_dir = options.feature_model_dir or os.path.join(options.model_dir, "feature_net")
    extractor, feature_info = feature_extractor_for(options.i3d_model, feature_dir, pool[:options.feature_train_clips],
                                                    options.feature_train_steps)
    generated = generate_videos(generator, config, len(real), seed=options.seed, batch_size=options.batch_size)
    result = evaluate_videos(generated, real, extractor, reference)
    result.update(model_dir=options.model_dir, checkpoint=checkpoint, step=checkpoint_step(checkpoint),
                  tfrecords=options.tfrecords, split=options.split, seed=options.seed, feature_extractor=feature_info)
    write_json_atomically(options.out or os.path.join(options.model_dir, "metrics.json"), result)
    return result


def _json_ready(value):
    """numpy scalars to Python, NaN and infinities to None (strict JSON has neither)."""
    if isinstance(value, dict):
        return {key: _json_ready(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomically(path: str, data: dict) -> None:
    """Writes under a temporary name and renames, so a reader never sees half a file."""
    if os.path.dirname(path):
        tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path + ".tmp", "w") as f:
        f.write(json.dumps(_json_ready(data), indent=1, sort_keys=True, allow_nan=False))
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def format_table(result: dict) -> str:
    """The metrics as a small table: generated and real side by side."""
    def cell(value):
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"

    lines = [f"{'metric':<22} {'meaning':<38} {'better':>6} {'generated':>10} {'real':>10}"]
    for key, meaning, better in TABLE:
        lines.append(f"{key:<22} {meaning:<38} {better:>6} {cell(result['generated'].get(key)):>10} "
                     f"{cell(result['real'].get(key)):>10}")
    lines.append(f"({result['num_generated']} generated vs {result['num_real']} real clips; real vs "
                 f"{result['num_reference']} clips of other real videos)")
    return "\n".join(lines)


def define_flags():
    """Called only when run as a program, so importing this module defines no flags."""
    from absl import flags

    flags.DEFINE_string("model_dir", None, "Model directory written by trainer.main.")
    flags.DEFINE_string("tfrecords", None, "Shard-set folder (with manifest.json) of the real clips.")
    flags.DEFINE_integer("num_videos", 256, "Generated videos, and real clips per set.")
    flags.DEFINE_string("out", None, "metrics.json to write (default: <model_dir>/metrics.json).")
    flags.DEFINE_string("split", "train", "Split of the shard set to take real clips from.")
    flags.DEFINE_string("i3d_model", None, "SavedModel of I3D for the standard FVD (not downloaded).")
    flags.DEFINE_string("feature_model_dir", None,
                        "Where the Shape Motion feature net is cached (default: <model_dir>/feature_net).")
    flags.DEFINE_integer("feature_train_clips", 1024, "Real clips to train the feature net on, once.")
    flags.DEFINE_integer("feature_train_steps", 300, "Training steps of the feature net (batch 16).")
    flags.DEFINE_string("checkpoint", None, "A checkpoint path to evaluate instead of the latest.")
    flags.DEFINE_bool("ema", True, "Use the EMA generator when the checkpoint has one.")
    flags.DEFINE_integer("seed", 0, "Seed of the latents and of the choice of real clips.")
    flags.DEFINE_integer("batch_size", 32, "Videos generated per batch.")
    flags.mark_flags_as_required(["model_dir", "tfrecords"])


def main(argv):
    del argv
    from absl import flags

    f = flags.FLAGS
    options = EvalOptions(
        model_dir=f.model_dir, tfrecords=f.tfrecords, num_videos=f.num_videos, out=f.out or "",
        split=f.split, i3d_model=f.i3d_model or "", feature_model_dir=f.feature_model_dir or "",
        feature_train_clips=f.feature_train_clips, feature_train_steps=f.feature_train_steps, checkpoint=f.checkpoint or "", ema=f.ema,
        seed=f.seed, batch_size=f.batch_size)
    result = run(options)
    print(format_table(result))
    print(f"metrics written to {options.out or os.path.join(options.model_dir, 'metrics.json')}")


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)
