"""What has a run's track head learnt? Its logit over the directions and speeds of one square.

    python -m trainer.evaluation.track_head_readout --model_dir=demo/run

Restores the video discriminator of a run trained with `--track_head_units` and prints its
track head's logit (`trainer.discriminators.TrackHead`) for a 10-pixel square that starts at
the frame's centre and moves at each speed and each direction from 0 (along x) to 90 degrees
(along y). Shape Motion's videos move at 1.5-3.5 pixels a frame and never within 15 degrees of
an axis: a head that has learnt them scores those speeds above the rest and the axes below.
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)

import math

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags

from pipeline import shape_drawing
from trainer import config as config_lib
from trainer import pixels
from trainer.generation import restore

SIDE = 10  # pixels of the square's side


def moving_square(angle_degrees: float, speed: float, num_frames: int, size: int) -> np.ndarray:
    """[1, T, size, size, 3] a white square on black in [-1, 1] from the frame's centre, moving
    `speed` pixels a frame at `angle_degrees` (0: +x, 90: +y), drawn and mirrored at the
    borders as Shape Motion draws its shapes (on whole pixels)."""
    angle = math.radians(angle_degrees)
    half = SIDE / 2
    centres = shape_drawing.mirrored_path(
        (size / 2, size / 2), (speed * math.cos(angle), speed * math.sin(angle)),
        half, size - half, num_frames)
    frames = shape_drawing.render_frames("square", (255, 255, 255), half, centres, size)
    return pixels.to_model_range(frames[None])


def readout(head, angles, speeds, num_frames: int, size: int) -> np.ndarray:
    """[len(speeds), len(angles)] the head's logit for a square at each speed and angle."""
    return np.array([[float(head(tf.constant(moving_square(a, s, num_frames, size)))[0])
                      for a in angles] for s in speeds])


def load_track_head(model_dir: str):
    """(the track head of the run's latest checkpoint, its config)."""
    config = config_lib.load_config(model_dir)
    if not config.model.track_head_units:
        raise ValueError(f"{model_dir} was trained without a track head (--track_head_units=0): "
                         "there is nothing to read out")
    disc = config.build_models().video_discriminator
    disc(tf.zeros([1, *config.clip_shape]), labels=tf.zeros([1], tf.int32))  # builds the head
    path = restore.latest_checkpoint(model_dir)
    tf.train.Checkpoint(video_discriminator=disc).restore(path).expect_partial()
    return disc.track_head, config


def main(argv):
    del argv
    head, config = load_track_head(FLAGS.model_dir)
    angles = list(range(0, 91, 10))
    speeds = [float(s) for s in FLAGS.speeds]
    table = readout(head, angles, speeds, config.clip_shape[0], config.clip_shape[1])
    print("px/frame  " + " ".join(f"{a:>6}" for a in angles) + "   (degrees from the x axis)")
    for speed, row in zip(speeds, table):
        print(f"{speed:8.2f}  " + " ".join(f"{v:6.2f}" for v in row))


if __name__ == "__main__":
    FLAGS = flags.FLAGS
    flags.DEFINE_string("model_dir", None, "A run trained with --track_head_units.", required=True)
    flags.DEFINE_list("speeds", ["0.5", "1.5", "2.5", "3.5", "5"], "Speeds in pixels a frame.")
    app.run(main)
