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

This module is the command; the rooms behind it: trainer/evaluation/scoring.py (the scoring core,
arrays in, numbers out), real_clips.py (which real clips are compared against), results.py
(metrics.json and the table) and training_evaluator.py (what --eval_every runs).
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import dataclasses
import os
import sys

from absl import logging

from trainer import flag_fields
from trainer.checkpoints.paths import checkpoint_step
from trainer.evaluation import metric_plan, real_clips, results, scoring
from trainer.evaluation.feature_networks import NetworkOptions, load_networks
from trainer.flag_fields import option

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
    real, reference, pool = real_clips.load_real_clips(options.tfrecords, options.split, options.num_videos,
                                            options.seed, extra=options.feature_train_clips)
    check_sample_size(options, len(real))
    shape_motion = real_clips.is_shape_motion(options.tfrecords, options.split)
    networks, network_info, plan = load_networks(metric_plan.plan(options.metrics, shape_motion),
                                                 options.network_options(), pool[:options.feature_train_clips])
    generated = scoring.generate_videos(generator, config, len(real), seed=options.seed, batch_size=options.batch_size)
    result = scoring.evaluate_videos(generated, real, reference, networks, shape_motion)
    for side in ("generated", "real"):  # --metrics=acd asks for acd, not every shape score
        result[side] = {k: v for k, v in result[side].items() if k in plan.compute}
    result.update(results.describe(plan, network_info, shape_motion), model_dir=options.model_dir,
                  checkpoint=checkpoint, step=checkpoint_step(checkpoint), tfrecords=options.tfrecords,
                  split=options.split, seed=options.seed)
    results.write_json_atomically(options.out or os.path.join(options.model_dir, "metrics.json"), result)
    return result



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
    print(results.format_table(result))
    print(f"metrics written to {options.out or os.path.join(options.model_dir, 'metrics.json')}")
    failed = {m: r for m, r in result["left_out"].items() if m in options.metrics}
    if failed:
        sys.exit("evaluate: error: asked for but not computed: "
                 + "; ".join(f"{metric}: {reason}" for metric, reason in failed.items()))


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)

