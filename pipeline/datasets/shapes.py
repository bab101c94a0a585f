"""Shape Motion: a circle or a square moving on a black background, written as real video files.

The MoCoGAN paper measures content consistency on such data. Each video holds one shape of one
colour and one size that moves at constant velocity and bounces off the borders. Everything about
video k comes from a seed derived from (--seed, k), so video k is the same whatever --num_videos is
and a rerun into the same folder reuses the files already there.

    python -m pipeline.datasets.shapes --out=data/shapes --num_videos=600 --seed=0

writes `<out>/circle/video_00000.avi`, `<out>/square/video_00001.avi`, ... (the sub-folder is the
label, as the Beam job's `folder` dataset expects) and `<out>/shapes.json`, the ground truth of every
video (shape, colour, size, start position, velocity, seed).

`render_video` is the pure part, used by tests and metrics to get frames without any file.
"""

import colorsys
import concurrent.futures
import dataclasses
import json
import math
import os
from typing import Sequence

import numpy as np

from pipeline import files, media
from pipeline.shape_drawing import SHAPES, mirrored_path, render_frames

GROUND_TRUTH_NAME = "shapes.json"
FORMATS = ("avi", "mp4")

# Ranges in pixels of a 64-pixel frame; scaled with --size.
SIZE_RANGE = (5.0, 10.0)  # radius of a circle, half the side of a square
# With equal_areas a square's half side is the drawn radius times this, so that it covers what a
# circle of that radius covers (pi r^2): the two classes then differ in shape and not in size.
EQUAL_AREA_HALF_SIDE = math.sqrt(math.pi) / 2
SPEED_RANGE = (1.5, 3.5)  # pixels per frame
# Colours are at least this bright (ITU-R BT.601 luma, 0-255) so that lossy encoding, which blurs
# colour at edges but keeps luma sharp, leaves the shape well above the metrics' foreground threshold.
MIN_LUMA = 100.0
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# Encoder quality per format (xvid q:v, x264 crf): high enough that no background pixel rings
# up to the foreground threshold.
ENCODE_QUALITY = {"avi": 3, "mp4": 18}
# Directions keep this far from the axes, so both velocity components are visible in a few frames
# and the quadrant of the motion is well defined.
MIN_ANGLE_FROM_AXIS = math.radians(15)


@dataclasses.dataclass(frozen=True)
class ShapeParams:
    """Everything that defines one video; positions are (x, y) in pixels, origin top-left."""

    shape: str
    colour: tuple[int, int, int]  # RGB 0-255
    size: float  # circle radius or half the square's side
    position: tuple[float, float]  # centre at frame 0
    velocity: tuple[float, float]  # pixels per frame
    seed: int


def video_seed(seed: int, index: int) -> int:
    """The seed of video `index` in a data set made with `seed`; independent of the video count."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _sample_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A saturated colour whose luma is at least MIN_LUMA (drawn again until it is)."""
    while True:
        hsv = rng.uniform(0, 1), rng.uniform(0.5, 1.0), rng.uniform(0.8, 1.0)
        colour = tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(*hsv))
        if float(np.dot(colour, LUMA_WEIGHTS)) >= MIN_LUMA:
            return colour


def sample_params(seed: int, index: int, size: int = 64, equal_areas: bool = False) -> ShapeParams:
    """Draws the parameters of video `index`: shape, a bright colour, size, start and velocity.

    equal_areas: a square's size is scaled so it covers a circle's area for the same draw (every
    other draw is the same as without it)."""
    own_seed = video_seed(seed, index)
    rng = np.random.default_rng(own_seed)
    scale = size / 64.0
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    colour = _sample_colour(rng)
    radius = rng.uniform(*SIZE_RANGE) * scale
    if equal_areas and shape == "square":
        radius *= EQUAL_AREA_HALF_SIDE
    position = tuple(float(v) for v in rng.uniform(radius, size - radius, size=2))
    quadrant = int(rng.integers(4))
    angle = quadrant * math.pi / 2 + rng.uniform(MIN_ANGLE_FROM_AXIS, math.pi / 2 - MIN_ANGLE_FROM_AXIS)
    speed = rng.uniform(*SPEED_RANGE) * scale
    velocity = (speed * math.cos(angle), speed * math.sin(angle))
    return ShapeParams(shape=shape, colour=colour, size=float(radius), position=position,
                       velocity=velocity, seed=own_seed)


def trajectory(params: ShapeParams, num_frames: int, size: int) -> np.ndarray:
    """Centres [T, 2] (x, y) of the shape: constant velocity, mirrored at the borders. The centre
    lives in [r, size - r], so the whole shape stays in the frame."""
    return mirrored_path(params.position, params.velocity, params.size, size - params.size,
                         num_frames)


def render_video(params: ShapeParams, num_frames: int, size: int = 64) -> np.ndarray:
    """Renders uint8 [T, size, size, 3] frames; a pixel is foreground when its centre is inside.

    No antialiasing: every frame holds exactly one connected blob of exactly the video's colour.
    """
    return render_frames(params.shape, params.colour, params.size,
                         trajectory(params, num_frames, size), size)


def video_path(params: ShapeParams, index: int, fmt: str) -> str:
    """Path of a video relative to the data set folder: `<shape>/video_<index>.<fmt>`."""
    return os.path.join(params.shape, f"video_{index:05d}.{fmt}")


def _settings(seed: int, num_frames: int, size: int, fps: float, fmt: str,
              equal_areas: bool) -> dict:
    return {"seed": seed, "num_frames": num_frames, "size": size, "fps": fps, "format": fmt,
            "equal_areas": equal_areas}


# Settings added after data sets were written: a folder without one was made with this value.
LATER_SETTINGS = {"equal_areas": False}


def _check_folder_matches(out: str, settings: dict) -> None:
    """Refuses to mix videos made with other settings into one folder."""
    path = os.path.join(out, GROUND_TRUTH_NAME)
    if not os.path.exists(path):
        return
    with open(path) as f:
        existing = json.load(f)
    old = {key: existing.get(key, LATER_SETTINGS.get(key)) for key in settings}
    if old != settings:
        raise ValueError(
            f"{out} already holds Shape Motion videos made with {old}, not {settings}; "
            "choose another --out or delete that folder")


def _write_one(out: str, params: ShapeParams, index: int, num_frames: int, size: int,
               fps: float, fmt: str) -> bool:
    """Encodes one video unless it is already there; returns whether it wrote a file."""
    path = os.path.join(out, video_path(params, index, fmt))
    if os.path.exists(path) and os.path.getsize(path) > 0:
        return False
    os.makedirs(os.path.dirname(path), exist_ok=True)
    media.write_video(path, render_video(params, num_frames, size), fps=fps,
                       quality=ENCODE_QUALITY[fmt])
    return True


def write_dataset(out: str, num_videos: int, seed: int = 0, num_frames: int = 32, size: int = 64,
                  fps: float = 25.0, fmt: str = "avi", num_workers: int | None = None,
                  equal_areas: bool = False) -> dict:
    """Writes `num_videos` encoded videos and the ground truth JSON; returns the ground truth.

    Videos already present (from an earlier run with the same settings) are kept as they are.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown --format {fmt!r}; choose one of {FORMATS}")
    if num_videos < 1 or num_frames < 2 or size < 16:
        raise ValueError(f"need num_videos >= 1, num_frames >= 2 and size >= 16, got "
                         f"{num_videos}, {num_frames}, {size}")
    settings = _settings(seed, num_frames, size, fps, fmt, equal_areas)
    os.makedirs(out, exist_ok=True)
    _check_folder_matches(out, settings)
    all_params = [sample_params(seed, index, size, equal_areas) for index in range(num_videos)]
    # Each task runs one ffmpeg process, so threads are enough to keep every core busy.
    with concurrent.futures.ThreadPoolExecutor(num_workers or os.cpu_count() or 1) as pool:
        written = sum(pool.map(
            lambda item: _write_one(out, item[1], item[0], num_frames, size, fps, fmt),
            enumerate(all_params)))
    truth = dict(settings, num_videos=num_videos, classes=list(SHAPES), videos=[
        dict(dataclasses.asdict(params), index=index, path=video_path(params, index, fmt))
        for index, params in enumerate(all_params)])
    files.atomic_write(os.path.join(out, GROUND_TRUTH_NAME), json.dumps(truth, indent=1))
    truth["written"] = written
    return truth


def read_ground_truth(out: str) -> dict:
    """The ground truth JSON of a data set folder, with each video's `ShapeParams` under "params"."""
    path = os.path.join(out, GROUND_TRUTH_NAME)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no {GROUND_TRUTH_NAME} in {out}; run `python -m pipeline.datasets.shapes --out={out}`")
    with open(path) as f:
        truth = json.load(f)
    fields = {f.name for f in dataclasses.fields(ShapeParams)}
    for video in truth["videos"]:
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in video.items() if k in fields}
        video["params"] = ShapeParams(**kwargs)
    return truth


def main(argv: Sequence[str]) -> None:
    del argv
    from absl import flags
    f = flags.FLAGS
    truth = write_dataset(f.out, f.num_videos, seed=f.seed, num_frames=f.num_frames, size=f.size,
                          fps=f.fps, fmt=f.format, num_workers=f.num_workers,
                          equal_areas=f.equal_areas)
    counts = {name: sum(v["shape"] == name for v in truth["videos"]) for name in SHAPES}
    print(f"Shape Motion: {truth['num_videos']} videos in {f.out} ({truth['written']} newly written, "
          f"the rest reused); per class {counts}; ground truth in {os.path.join(f.out, GROUND_TRUTH_NAME)}")


def _define_flags() -> None:
    from absl import flags
    flags.DEFINE_string("out", None, "Folder to write <shape>/video_NNNNN.<format> and shapes.json into.")
    flags.DEFINE_integer("num_videos", 600, "How many videos.")
    flags.DEFINE_integer("seed", 0, "Data set seed; video k depends only on (seed, k).")
    flags.DEFINE_integer("num_frames", 32, "Frames per video (clips of 16 are cut from these).")
    flags.DEFINE_integer("size", 64, "Frame height and width in pixels.")
    flags.DEFINE_float("fps", 25.0, "Frame rate written into the files.")
    flags.DEFINE_enum("format", "avi", list(FORMATS), "avi (xvid) or mp4 (h264).")
    flags.DEFINE_bool("equal_areas", False, "Squares as large in area as circles of the same "
                      "drawn radius, so that size tells nothing of the class.")
    flags.DEFINE_integer("num_workers", None, "Parallel ffmpeg encoders; default one per core.")
    flags.mark_flag_as_required("out")


if __name__ == "__main__":
    from absl import app
    _define_flags()
    app.run(main)
