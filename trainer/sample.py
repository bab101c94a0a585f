"""Writes a grid of generated videos from a trained model directory.

    python -m trainer.sample --model_dir=runs/ucf101 --out=samples.gif
    python -m trainer.sample --model_dir=runs/ucf101 --out=samples.mp4 --num_videos=16 --seed=3
    python -m trainer.sample --model_dir=runs/ucf101 --out=sheet.png --label=Biking  # contact sheet

Uses the latest checkpoint's EMA generator when the run kept one (--no_ema: the trained one).
The same --seed gives the same videos. Conditional models cycle through the classes unless
--label names one (by name or index). .gif and .mp4 get an animated grid; .png a contact sheet
with one row per video.
"""

import math
import os
import sys

from absl import app
from absl import flags

from trainer import restore
from trainer import video_io


def define_flags():
    """Called only when run as a program, so importing this module defines no flags (no clash
    with trainer.main's --model_dir in one process)."""
    flags.DEFINE_string("model_dir", None, "Model directory written by trainer.main.")
    flags.DEFINE_string("out", None, "Output file: .gif, .mp4 (grid video) or .png (sheet).")
    flags.DEFINE_integer("num_videos", 16, "How many videos to generate.")
    flags.DEFINE_string("label", None, "Class name or index (conditional models only).")
    flags.DEFINE_integer("seed", 0, "Latent seed; the same seed gives the same videos.")
    flags.DEFINE_float("fps", 8.0, "Frames per second of the output video.")
    flags.DEFINE_integer("cols", None, "Grid columns (default: about a square).")
    flags.DEFINE_bool("ema", True, "Use the EMA generator when the checkpoint has one.")
    flags.DEFINE_integer("sheet_frames", 8, "Frames per row of a .png contact sheet.")


EXTENSIONS = (".gif", ".mp4", ".png")


def generate(generator, config, num_videos: int, label=None, seed: int = 0):
    """uint8 [N, T, H, W, 3] videos from fixed latents (a function of the seed and labels)."""
    labels = restore.labels_for(num_videos, restore.resolve_label(label, config), config)
    latents = generator.sample_latents(num_videos, labels=labels, seed=seed)
    return restore.to_uint8(generator(latents, training=False))


def write_samples(model_dir: str, out: str, num_videos: int = 16, label=None, seed: int = 0,
                  fps: float = 8.0, cols: int | None = None, prefer_ema: bool = True,
                  sheet_frames: int = 8) -> str:
    """Generates num_videos from model_dir's latest checkpoint and writes them to `out`."""
    extension = os.path.splitext(out)[1].lower()
    if extension not in EXTENSIONS:
        raise ValueError(f"--out={out}: use a file name ending in one of {EXTENSIONS}")
    if num_videos < 1:
        raise ValueError(f"--num_videos={num_videos} must be >= 1")
    generator, config = restore.load_generator(model_dir, prefer_ema=prefer_ema)
    videos = generate(generator, config, num_videos, label, seed)
    if extension == ".png":
        return video_io.write_png(out, video_io.contact_sheet(videos, num_videos, sheet_frames))
    grid = video_io.video_grid(videos, cols or math.ceil(math.sqrt(num_videos)))
    return video_io.write_video(out, grid, fps)


def main(argv):
    del argv
    try:
        f = flags.FLAGS
        path = write_samples(f.model_dir, f.out, f.num_videos, f.label, f.seed, f.fps, f.cols,
                             f.ema, f.sheet_frames)
    except (ValueError, restore.RestoreError) as error:  # ConfigError is a ValueError
        sys.exit(f"error: {error}")
    print(f"wrote {path}")


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["model_dir", "out"])
    app.run(main)
