"""Quality metrics of a trained model: generated videos against real clips from a shard set.

    python -m trainer.evaluation.evaluate --model_dir=runs/ucf101 --tfrecords=shards/ucf101 --num_videos=256 \
        [--metrics=all|fvd,fid,...] [--i3d_model=DIR] [--inception_weights=PATH] [--out=metrics.json]

Every metric is computed twice: for generated videos against real clips, and for those real clips
against a disjoint set of real clips (other videos, chosen by a stable hash of the video id), the
reference that says how good "as good as real" is at this sample size. Which metrics apply
(trainer/evaluation/metric_plan.py):

    fvd                    standard FVD: Fréchet distance of I3D (Kinetics-400) logits of clips
                           (trainer/evaluation/frechet.py); any data
    fid                    per-frame FID: Inception-v3 pool features of single frames
                           (trainer/evaluation/inception.py); any data
    fd_shapes              Fréchet distance of the project's Shape Motion feature net, trained on
                           the real clips once and cached in --feature_model_dir; Shape Motion only
    acd                    average content distance, 0-255 colour scale (trainer/evaluation/shape_metrics.py)
    single_blob_fraction   frames with exactly one foreground blob, no bigger than half the frame
    area_distance          W1 distance of per-frame largest-blob areas to the other set, pixels
    motion_deviation       centroid second difference between bounces, pixels (+ mean_speed)

The last four (and fd_shapes) assume one shape on black: they are computed only when the shard
set's manifest says the Shape Motion generator made it, and are listed as left out otherwise. I3D
and Inception-v3 come from a local copy, the cache or a download (trainer/evaluation/pretrained.py); when one
cannot be had its metric is reported as left out, with how to get it. The exit status is non-zero
only when a metric named in --metrics cannot be computed. The result goes to --out atomically
(with the feature network behind each Fréchet distance), and a table to the console.

`evaluate_videos` is the pure core (arrays in, dict out); `TrainingEvaluator` (built on
`eval_generator`) is what the training loop calls every --eval_every steps for TensorBoard scalars.
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import dataclasses
import hashlib
import json
import math
import os
import sys

import numpy as np
from absl import logging
import tensorflow as tf

from pipeline import files, schema
from trainer import data as data_lib
from trainer import flag_fields
from trainer.evaluation import frechet, metric_plan, shape_metrics
from trainer.checkpoints.paths import checkpoint_step
from trainer.evaluation.feature_networks import NetworkOptions, feature_extractor_for, load_networks
from trainer.flag_fields import option

# (key, what it measures, which way is better): the console table's rows, in order.
TABLE = (
    ("fvd", "Fréchet distance, I3D clip logits", "lower"),
    ("fid", "Fréchet distance, Inception frames", "lower"),
    ("fd_shapes", "Fréchet distance, Shape Motion net", "lower"),
    ("acd", "average content distance (0-255)", "lower"),
    ("acd_excluded_fraction", "videos with no shape to measure ACD on", "lower"),
    ("single_blob_fraction", "frames showing exactly one shape", "higher"),
    ("area_distance", "blob-area W1 distance (pixels)", "lower"),
    # Real clips measure about 0.3-0.4 (whole-pixel centroids, bounces), and a generator whose
    # tracks are straight by construction measures less: lower than real is not better.
    ("motion_deviation", "centroid 2nd difference (pixels)", "= real"),
    ("mean_speed", "blob speed (pixels/frame)", "= real"),
)
# Pick this many times --num_videos clips (at least READ_MIN), then sample from them: clips of one
# video sit together in a shard, so the first few clips would come from few videos.
READ_CAP_FACTOR = 4
READ_MIN = 512


class Scorer:
    """Scores sets of generated videos against fixed real clips; the features of the real clips
    and of their reference are computed once, however many generators are scored.

    `networks` maps Fréchet metric names (fvd, fid, fd_shapes) to feature extractors ("videos ->
    features [N, D]"); the shape scores are computed only with `shape_motion`. Videos are
    [N, T, H, W, 3], uint8 or float in [-1, 1].
    """

    def __init__(self, real: np.ndarray, reference: np.ndarray, networks: dict | None = None,
                 shape_motion: bool = True):
        if min(len(real), len(reference)) < 2:
            raise ValueError(f"need at least 2 videos per set, got {len(real)} real and "
                             f"{len(reference)} reference")
        self.real, self.reference, self.shape_motion = real, reference, shape_motion
        self.networks = dict(networks or {})
        self._real_features = {name: net(real) for name, net in self.networks.items()}
        self._reference_features = {name: net(reference) for name, net in self.networks.items()}

    def _scores(self, videos, against, features, against_features) -> dict:
        scores = shape_metrics.shape_scores(videos, against) if self.shape_motion else {}
        for name in self.networks:
            scores[name] = frechet.feature_frechet_distance(features[name], against_features[name])
        return scores

    def real_scores(self) -> dict:
        """The real clips against the reference: what a perfect generator would score."""
        return self._scores(self.real, self.reference, self._real_features, self._reference_features)

    def __call__(self, generated: np.ndarray) -> dict:
        if len(generated) < 2:
            raise ValueError(f"need at least 2 videos per set, got {len(generated)} generated")
        features = {name: net(generated) for name, net in self.networks.items()}
        return self._scores(generated, self.real, features, self._real_features)


def evaluate_videos(generated: np.ndarray, real: np.ndarray, reference: np.ndarray | None = None,
                    networks: dict | None = None, shape_motion: bool = True) -> dict:
    """Every applicable metric of `generated` against `real`, and of `real` against `reference`.

    Without `reference`, `real` is split in two halves: the first is compared with `generated`,
    the second is its reference. Returns {"generated": {metric: value}, "real": {metric: value},
    "num_generated", "num_real", "num_reference"}; a metric that cannot be computed on these
    videos (e.g. no blob at all) is None.
    """
    if reference is None:
        half = len(real) // 2
        real, reference = real[:half], real[half:]
    scorer = Scorer(real, reference, networks, shape_motion)
    return {"generated": scorer(generated), "real": scorer.real_scores(), "num_generated": len(generated),
            "num_real": len(real), "num_reference": len(reference)}


def training_scalars(generated: np.ndarray, real: np.ndarray, feature_extractor=None,
                     metric: str = "fd_shapes", shape_motion: bool = True) -> dict[str, float]:
    """Flat metrics of generated vs real videos for TensorBoard; metrics that are None are left out.
    `metric` names the Fréchet distance `feature_extractor` gives (fd_shapes or fvd)."""
    scores = shape_metrics.shape_scores(generated, real) if shape_motion else {}
    if feature_extractor is not None:
        scores[metric] = frechet.feature_frechet_distance(feature_extractor(generated), feature_extractor(real))
    return {f"eval/{key}": float(value) for key, value in scores.items() if value is not None}


def generate_videos(generator, config, num_videos: int, seed: int = 0, batch_size: int = 32):
    """uint8 [N, T, H, W, 3] from the generator, in batches (conditional models cycle classes)."""
    from trainer.generation import sample  # the training loop imports this module; keep its imports light

    batches = []
    for start in range(0, num_videos, batch_size):
        count = min(batch_size, num_videos - start)
        batches.append(sample.generate(generator, config, count, seed=seed + start))
    return np.concatenate(batches)


def eval_generator(generator, config, real_videos, feature_extractor=None, seed: int = 0,
                   metric: str = "fd_shapes", shape_motion: bool = True) -> dict[str, float]:
    """What the training loop logs every --eval_every steps: as many generated videos as there are
    real ones (a batch of real clips, uint8 or [-1, 1]), scored by `training_scalars`."""
    real_videos = np.asarray(real_videos)
    generated = generate_videos(generator, config, len(real_videos), seed=seed)
    return training_scalars(generated, real_videos, feature_extractor, metric, shape_motion)


# ----------------------------------------------------------------------------------------------
# Inputs


def _parse_with_id(serialized, shape, encoding):
    clip = schema.parse_clip(serialized, shape, encoding)  # one parse gives both
    return clip["frames"], clip["video_id"]


def _clip_key(serialized):
    """"<video id>:<start frame>", a clip's name, parsed without decoding its frames."""
    parsed = tf.io.parse_single_example(serialized, {
        schema.VIDEO_ID: tf.io.FixedLenFeature([], tf.string),
        schema.START: tf.io.FixedLenFeature([], tf.int64)})
    return tf.strings.join([parsed[schema.VIDEO_ID], tf.strings.as_string(parsed[schema.START])], ":")


def _stable_rank(key: bytes) -> bytes:
    # sha256, not crc32: crc32 is linear, so keys that differ in one digit land together.
    return hashlib.sha256(key).digest()


def _picked_keys(records: tf.data.Dataset, count: int) -> list[bytes]:
    """The `count` clip keys of lowest stable rank: the same clips however the shards are ordered
    (Beam writes the same clips in another order each run). Reads every record's name, no frames."""
    keys = records.map(_clip_key, num_parallel_calls=tf.data.AUTOTUNE).as_numpy_iterator()
    return sorted(set(keys), key=_stable_rank)[:count]


def load_real_clips(tfrecords: str, split: str, num_videos: int, seed: int = 0,
                    extra: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two disjoint sets of real clips (uint8), split by a stable hash of the video id so that no
    video is in both, each of up to `num_videos` clips sampled with `seed` from a pick of
    max(READ_CAP_FACTOR * num_videos, READ_MIN, extra) clips; plus every clip picked, for training
    the feature net. The pick and its order depend on the clips' names only, not on the order of
    the shards' records, so two runs of the pipeline on the same videos give the same sets."""
    shards = data_lib.resolve_shards(tfrecords, split)
    manifest = shards.manifest
    records = data_lib.read_records(shards)  # every complete set of a dataset root, superseded clips left out
    picked = _picked_keys(records, max(READ_CAP_FACTOR * num_videos, READ_MIN, extra))
    wanted = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(picked or [b""], tf.string), tf.range(max(len(picked), 1), dtype=tf.int64)), -1)
    ranked = records.map(lambda s: (wanted.lookup(_clip_key(s)), s))  # each name parsed once
    dataset = ranked.filter(lambda rank, _: rank >= 0).map(
        lambda rank, s: (*_parse_with_id(s, tuple(manifest.clip_shape), manifest.encoding), rank))
    clips = sorted(dataset.as_numpy_iterator(), key=lambda clip: clip[2])  # in rank order
    halves = ([], [])
    for frames, video_id, _ in clips:
        halves[hashlib.sha256(video_id).digest()[0] % 2].append(frames)
    if min(len(h) for h in halves) < 2:
        raise ValueError(f"{tfrecords} ({split}) has too few videos to form two disjoint sets of real "
                         f"clips ({len(halves[0])} and {len(halves[1])} clips); give it more videos")
    count = min(num_videos, *(len(h) for h in halves))
    rng = np.random.default_rng(seed)
    picked = [np.stack([h[i] for i in sorted(rng.permutation(len(h))[:count])]) for h in halves]
    return picked[0], picked[1], np.stack(halves[0] + halves[1])


def is_shape_motion(tfrecords: str, split: str = "train") -> bool:
    """Whether the shard set's manifest says the Shape Motion generator made its videos."""
    return data_lib.resolve_shards(tfrecords, split).manifest.is_shape_motion


class TrainingEvaluator:
    """What the training loop holds to log metrics every --eval_every steps.

        evaluator = TrainingEvaluator(config.tfrecords, num_videos=64,
                                      feature_model_dir=os.path.join(config.model_dir, "feature_net"))
        for name, value in evaluator(generator, config).items():   # {"eval/fd_shapes": ..., ...}
            tf.summary.scalar(name, value, step=step)

    Real clips are read once, on the first call; the feature net is loaded, or trained once on
    those clips, then too. Without a feature_model_dir or i3d_model the scalars have no Fréchet
    distance; off Shape Motion data they have no shape scores.
    """

    def __init__(self, tfrecords: str, num_videos: int = 64, split: str = "train", seed: int = 0,
                 feature_model_dir: str = "", i3d_model: str = "", feature_train_steps: int = 300):
        self._args = (tfrecords, split, num_videos, seed)
        self._features = (i3d_model, feature_model_dir, feature_train_steps)
        self._real = None
        self._extractor = None
        self._metric = "fd_shapes"
        self._seed = seed
        self._shape_motion = True

    def __call__(self, generator, config) -> dict[str, float]:
        if self._real is None:
            self._real, _, pool = load_real_clips(*self._args)
            self._shape_motion = is_shape_motion(self._args[0], self._args[1])
            i3d_model, feature_model_dir, steps = self._features
            if i3d_model or (feature_model_dir and self._shape_motion):
                self._extractor, info = feature_extractor_for(i3d_model, feature_model_dir, pool, steps)
                self._metric = info["metric"]
        return eval_generator(generator, config, self._real, self._extractor, seed=self._seed,
                              metric=self._metric, shape_motion=self._shape_motion)

    @property
    def frechet_metric(self) -> str | None:
        """The scalar name of the Fréchet distance it reports (after the first call), or None
        when no feature network applies to the data."""
        return f"eval/{self._metric}" if self._extractor is not None else None


# ----------------------------------------------------------------------------------------------
# The command


@dataclasses.dataclass(frozen=True)
class EvalOptions:
    """The command's options; those with help text are its flags (trainer/flag_fields.py), the
    path flags defaulting to None, i.e. to the default the help names."""

    model_dir: str = option(help="Model directory written by trainer.main.")
    tfrecords: str = option(help="Shard-set folder (with manifest.json) of the real clips.")
    num_videos: int = option(256, "Generated videos, and real clips per set.")
    out: str = option("", "metrics.json to write (default: <model_dir>/metrics.json).",
                      flag_default=None)
    split: str = option("train", "Split of the shard set to take real clips from.")
    # Asked for by name; () is every metric that applies. Its flag is a string (metric_plan).
    metrics: tuple[str, ...] = ()
    i3d_model: str = option("", "Local SavedModel folder of I3D for FVD (default: cached or "
                            "downloaded, see trainer/evaluation/pretrained.py).", flag_default=None)
    inception_weights: str = option("", "Local Inception-v3 for FID: a .keras model or the .h5 "
                                    "notop weights (default: cached or downloaded).",
                                    flag_default=None)
    fid_frames_per_video: int = option(4, "Frames per video, evenly spaced, for FID.")
    feature_model_dir: str = option("", "Where the Shape Motion feature net is cached (default: "
                                    "<model_dir>/feature_net).", flag_default=None)
    feature_train_clips: int = option(1024, "Real clips to train the feature net on, once.")
    feature_train_steps: int = option(300, "Training steps of the feature net (batch 16).")
    checkpoint: str = option("", "A checkpoint path to evaluate instead of the latest.",
                             flag_default=None)
    ema: bool = option(True, "Use the EMA generator when the checkpoint has one.")
    seed: int = option(0, "Seed of the latents and of the choice of real clips.")
    batch_size: int = option(32, "Videos generated per batch.")
    allow_fewer: bool = option(False, "Score on fewer clips than --num_videos when the shard set "
                               "is smaller (else refused: FVD compares only at equal sizes).")

    def network_options(self) -> NetworkOptions:
        return NetworkOptions(self.i3d_model, self.inception_weights, self.fid_frames_per_video,
                              self.feature_model_dir or os.path.join(self.model_dir, "feature_net"),
                              self.feature_train_steps)


def describe(plan: metric_plan.Plan, network_info: dict, shape_motion: bool) -> dict:
    """What metrics.json says beside the values: the networks used and what was left out, why."""
    return {"feature_networks": network_info, "left_out": dict(plan.left_out),
            "shape_motion_data": shape_motion, "requested_metrics": list(plan.requested)}


class SampleSizeError(ValueError):
    """The shard set holds fewer clips than --num_videos asks for."""


def check_sample_size(options: EvalOptions, available: int) -> None:
    """Fréchet distances are comparable only at equal sample sizes: a smaller set than asked for
    is refused, or, with --allow_fewer, scored with a warning (the counts are in metrics.json)."""
    if available >= options.num_videos:
        return
    message = (f"--num_videos={options.num_videos}, but {options.tfrecords} gives only "
               f"{available} real clips per set (two sets from disjoint videos)")
    if not options.allow_fewer:
        raise SampleSizeError(f"{message}: pass --num_videos={available} or less, or "
                              "--allow_fewer to score on fewer (not comparable with other sizes)")
    logging.warning("%s: scoring %d generated videos against %d real clips", message, available,
                    available)


def run(options: EvalOptions) -> dict:
    """Loads, generates, scores, writes `out`; returns what it wrote."""
    from trainer.generation import restore

    if options.num_videos < 2:
        raise ValueError(f"--num_videos={options.num_videos} must be at least 2")
    # Named once, by the loader: a truncated latest checkpoint falls back to the one before it.
    loaded = restore.load(options.model_dir, prefer_ema=options.ema, checkpoint=options.checkpoint)
    generator, config, checkpoint = loaded.generator, loaded.config, loaded.checkpoint
    real, reference, pool = load_real_clips(options.tfrecords, options.split, options.num_videos,
                                            options.seed, extra=options.feature_train_clips)
    check_sample_size(options, len(real))
    shape_motion = is_shape_motion(options.tfrecords, options.split)
    networks, network_info, plan = load_networks(metric_plan.plan(options.metrics, shape_motion),
                                                 options.network_options(), pool[:options.feature_train_clips])
    generated = generate_videos(generator, config, len(real), seed=options.seed, batch_size=options.batch_size)
    result = evaluate_videos(generated, real, reference, networks, shape_motion)
    for side in ("generated", "real"):  # --metrics=acd asks for acd, not every shape score
        result[side] = {k: v for k, v in result[side].items() if k in plan.compute}
    result.update(describe(plan, network_info, shape_motion), model_dir=options.model_dir,
                  checkpoint=checkpoint, step=checkpoint_step(checkpoint), tfrecords=options.tfrecords,
                  split=options.split, seed=options.seed)
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
    text = json.dumps(_json_ready(data), indent=1, sort_keys=True, allow_nan=False)
    files.atomic_write(path, text)


def cell(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def table_rows(metrics: dict) -> list[tuple[str, str, str]]:
    """The TABLE rows of the metrics present in `metrics`, in order."""
    return [row for row in TABLE if row[0] in metrics]


def describe_lines(result: dict) -> list[str]:
    """Which network gave each Fréchet distance, and which metrics were left out and why (one
    line per reason, so the shape scores' one reason is said once)."""
    lines = [f"{metric}: {info['network']}" for metric, info in result.get("feature_networks", {}).items()]
    by_reason = {}
    for metric, reason in result.get("left_out", {}).items():
        by_reason.setdefault(reason, []).append(metric)
    lines += [f"{', '.join(metrics)}: {reason}" for reason, metrics in by_reason.items()]
    return lines


def format_table(result: dict) -> str:
    """The metrics that apply as a small table, generated and real side by side, then the
    networks behind the Fréchet distances and what was left out."""
    lines = [f"{'metric':<22} {'meaning':<38} {'better':>6} {'generated':>10} {'real':>10}"]
    for key, meaning, better in table_rows(result["generated"]):
        lines.append(f"{key:<22} {meaning:<38} {better:>6} {cell(result['generated'].get(key)):>10} "
                     f"{cell(result['real'].get(key)):>10}")
    lines.append(f"({result['num_generated']} generated vs {result['num_real']} real clips; real vs "
                 f"{result['num_reference']} clips of other real videos)")
    return "\n".join(lines + describe_lines(result))


def define_flags():
    """Called only when run as a program, so importing this module defines no flags."""
    from absl import flags

    flag_fields.define_flags(EvalOptions)
    flags.DEFINE_string("metrics", "all", "Comma-separated metrics to compute (exit status 1 when one "
                        f"cannot be), or 'all' that apply: {', '.join(metric_plan.ALL)}.")
    flags.mark_flags_as_required(["model_dir", "tfrecords"])


def main(argv):
    del argv
    from absl import flags

    f = flags.FLAGS
    try:
        metrics = metric_plan.parse(f.metrics)
    except ValueError as error:
        sys.exit(f"evaluate: error: {error}")
    options = EvalOptions(metrics=metrics, **flag_fields.flag_values(EvalOptions))
    try:
        result = run(options)
    except SampleSizeError as error:
        sys.exit(f"evaluate: error: {error}")
    print(format_table(result))
    print(f"metrics written to {options.out or os.path.join(options.model_dir, 'metrics.json')}")
    failed = {m: r for m, r in result["left_out"].items() if m in options.metrics}
    if failed:
        sys.exit("evaluate: error: asked for but not computed: "
                 + "; ".join(f"{metric}: {reason}" for metric, reason in failed.items()))


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)
