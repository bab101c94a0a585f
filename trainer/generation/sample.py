"""Writes generated videos from a trained model directory: a grid, or MoCoGAN's factor grids.

    python -m trainer.generation.sample --model_dir=runs/ucf101 --out=samples.gif
    python -m trainer.generation.sample --model_dir=runs/ucf101 --out=samples.mp4 --num_videos=16 --seed=3
    python -m trainer.generation.sample --model_dir=runs/ucf101 --out=sheet.png --label=Biking  # contact sheet
    python -m trainer.generation.sample --model_dir=runs/shapes --out=motion.gif --num_videos=16 --vary=motion
    python -m trainer.generation.sample --model_dir=runs/shapes --out=long.gif --num_frames=48

MoCoGAN splits a video into content and motion, and the factor grids show it:
- `--vary=motion`: each row keeps one content code; each column has its own motion (GRU noise
  and h0). Read along a row: the same thing, moving in different ways.
- `--vary=content`: each row keeps one motion; each column has its own content code.
- `--vary=class` (conditional models): one row per class; each column keeps one content code and
  one motion, so a column shows the same draw as every class.
`--num_frames` makes videos longer (or shorter) than the training clips: the GRU unrolls further.

`--checkpoint=best` takes the best checkpoint kept by training with --eval_every.
Uses the latest checkpoint's EMA generator when the run kept one (--no_ema: the trained one).
The same --seed gives the same videos. Conditional models cycle through the classes unless
--label names one (by name or index). .gif and .mp4 get an animated grid; .png a contact sheet
with one row per video.
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import math
import os
import sys

import tensorflow as tf
from absl import app
from absl import flags

from pipeline import media
from trainer import config as config_lib
from trainer import grids, pixels
from trainer.generation import restore

EXTENSIONS = (".gif", ".mp4", ".png")
VARY = ("none", "motion", "content", "class")
# Peak memory of one generator call over its float output: the widest two layers of the frame
# generator (the paper's 128@16 and 64@32 beside a 3@64 frame) hold about 8 times its size.
ACTIVATION_FACTOR = 8


def define_flags():
    """Called only when run as a program, so importing this module defines no flags (no clash
    with trainer.main's --model_dir in one process)."""
    flags.DEFINE_string("model_dir", None, "Model directory written by trainer.main.")
    flags.DEFINE_string("out", None, "Output file: .gif, .mp4 (grid video) or .png (sheet).")
    flags.DEFINE_integer("num_videos", 16, "How many videos to generate (with --vary: about a "
                         "square grid of this many).")
    flags.DEFINE_string("label", None, "Class name or index (conditional models only).")
    flags.DEFINE_integer("seed", 0, "Latent seed; the same seed gives the same videos.")
    flags.DEFINE_float("fps", 8.0, "Frames per second of the output video.")
    flags.DEFINE_integer("cols", None, "Grid columns (default: about a square).")
    flags.DEFINE_bool("ema", True, "Use the EMA generator when the checkpoint has one.")
    flags.DEFINE_integer("sheet_frames", 8, "Frames per row of a .png contact sheet.")
    flags.DEFINE_enum("vary", "none", list(VARY), "A factor grid: rows share content (motion), "
                      "columns share motion (content), or one row per class.")
    flags.DEFINE_integer("num_frames", None, "Frames per video (default: the training clips').")
    flags.DEFINE_string("checkpoint", "latest", "latest, best (kept by training with "
                        "--eval_every) or a checkpoint path.")


def generate(generator, config, num_videos: int, label=None, seed: int = 0,
             num_frames: int | None = None):
    """uint8 [N, T, H, W, 3] videos from fixed latents (a function of the seed and labels)."""
    labels = restore.labels_for(num_videos, restore.resolve_label(label, config), config)
    latents = generator.sample_latents(num_videos, labels=labels, seed=seed, num_frames=num_frames)
    return pixels.to_uint8(generator(latents, training=False))


def grid_shape(vary: str, num_videos: int, config, cols: int | None = None) -> tuple[int, int]:
    """(rows, cols) of a grid: about a square, or one row per class for vary="class"."""
    if vary == "class":
        if not config.conditional:
            raise ValueError("--vary=class needs a class-conditional model (trained with "
                             "--conditional)")
        rows = len(config.class_names)
        return rows, cols or max(1, math.ceil(num_videos / rows))
    cols = cols or math.ceil(math.sqrt(num_videos))
    return max(1, math.ceil(num_videos / cols)), cols


def factor_latents(generator, config, rows: int, cols: int, vary: str, seed: int = 0,
                   label=None, num_frames: int | None = None) -> dict:
    """Latents of a rows x cols grid (row-major) in which one factor is shared along rows.

    vary="motion": cell (r, c) has row r's content and column c's motion (noise and h0);
    vary="content": row r's motion and column c's content; vary="class": class r, and column c's
    content and motion.
    """
    if vary not in VARY[1:]:
        raise ValueError(f"--vary={vary!r}: choose one of {VARY}")
    per_row = generator.sample_latents(rows, seed=seed, num_frames=num_frames)
    per_col = generator.sample_latents(cols, seed=seed + 1, num_frames=num_frames)

    def along_row(x):  # one value per row, the same in every column
        return tf.repeat(x, cols, axis=0)

    def along_col(x):  # one value per column, the same in every row
        return tf.tile(x, [rows] + [1] * (x.shape.rank - 1))

    shared_by_row = {"motion": ("content",), "content": ("motion_noise", "h0"), "class": ()}[vary]
    latents = {key: along_row(per_row[key]) if key in shared_by_row else along_col(per_col[key])
               for key in ("content", "motion_noise", "h0")}
    if config.conditional:
        if vary == "class":
            latents["labels"] = along_row(tf.range(rows, dtype=tf.int32))
        else:
            latents["labels"] = restore.labels_for(rows * cols, restore.resolve_label(label, config),
                                                   config)
    return latents


def write_samples(model_dir: str, out: str, num_videos: int = 16, label=None, seed: int = 0,
                  fps: float = 8.0, cols: int | None = None, prefer_ema: bool = True,
                  sheet_frames: int = 8, vary: str = "none", num_frames: int | None = None,
                  checkpoint: str = "latest") -> str:
    """Generates videos from model_dir's latest checkpoint and writes them to `out`."""
    extension = os.path.splitext(out)[1].lower()
    if extension not in EXTENSIONS:
        raise ValueError(f"--out={out}: use a file name ending in one of {EXTENSIONS}")
    if num_videos < 1:
        raise ValueError(f"--num_videos={num_videos} must be >= 1")
    if num_frames is not None and num_frames < 1:
        raise ValueError(f"--num_frames={num_frames} must be >= 1")
    if not fps > 0:
        raise ValueError(f"--fps={fps} must be > 0: the frame rate of the output video (e.g. 8)")
    check_fits(config_lib.load_config(model_dir), num_videos, num_frames)
    generator, config = restore.load_generator(model_dir, prefer_ema=prefer_ema,
                                               checkpoint=checkpoint)
    if vary == "none":
        videos = generate(generator, config, num_videos, label, seed, num_frames)
        cols = cols or math.ceil(math.sqrt(num_videos))
    else:
        rows, cols = grid_shape(vary, num_videos, config, cols)
        latents = factor_latents(generator, config, rows, cols, vary, seed, label, num_frames)
        videos = pixels.to_uint8(generator(latents, training=False))
    if extension == ".png":
        return media.write_png(out, grids.contact_sheet(videos, len(videos), sheet_frames))
    return media.write_video(out, grids.video_grid(videos, cols), fps)


def check_fits(config, num_videos: int, num_frames: int | None) -> None:
    """Refuses, before any work, videos whose generation cannot fit in the memory available: all
    frames go through the frame generator as one batch, whose activations take about
    ACTIVATION_FACTOR times the float output."""
    frames = num_videos * (num_frames or config.num_frames)
    needed = frames * config.image_size ** 2 * 3 * 4 * ACTIVATION_FACTOR
    available = available_memory()
    if available is not None and needed > available:
        raise ValueError(
            f"{num_videos} videos of {num_frames or config.num_frames} frames at "
            f"{config.image_size}x{config.image_size} need about {needed / 2**30:.1f} GiB to generate, "
            f"more than the {available / 2**30:.1f} GiB available: lower --num_frames or --num_videos")


def available_memory() -> int | None:
    """Bytes of memory available (Linux's MemAvailable); None when it cannot be told."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def main(argv):
    del argv
    try:
        f = flags.FLAGS
        path = write_samples(f.model_dir, f.out, f.num_videos, f.label, f.seed, f.fps, f.cols,
                             f.ema, f.sheet_frames, f.vary, f.num_frames, f.checkpoint)
    except (ValueError, restore.RestoreError) as error:  # ConfigError is a ValueError
        sys.exit(f"error: {error}")
    print(f"wrote {path}")


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["model_dir", "out"])
    app.run(main)
