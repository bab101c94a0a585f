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


def make_demo(tmp_path, steps: int) -> subprocess.CompletedProcess:
    stamp = tmp_path / "installed"  # this interpreter already has the project: skip the install
    stamp.touch()
    return subprocess.run(
        ["make", "-s", "demo", f"PY={sys.executable}", f"STAMP={stamp}",
         f"DEMO_DIR={tmp_path / 'demo'}", "DEMO_VIDEOS=12", f"DEMO_STEPS={steps}",
         "DEMO_METRIC_VIDEOS=4", "DEMO_REPORT_ARGS=--feature_train_steps=5 --grid_videos=4",
         "DEMO_TRAIN_ARGS=--preset=small --batch_size=4 --image_batch_size=4 --checkpoint_every=1"],
        cwd=REPO, capture_output=True, text=True, timeout=900)


def test_make_demo_writes_every_artefact_and_continues_training(tmp_path):
    first = make_demo(tmp_path, steps=2)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    out = tmp_path / "demo" / "out"
    for name in ARTEFACTS:
        assert (out / name).stat().st_size > 0, name
        assert str(out / name) in first.stdout  # the demo says where everything is
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == 2
    assert set(metrics["metrics"]) == {"untrained", "trained", "real"}
    assert metrics["metrics"]["real"]["single_blob_fraction"] > 0.9  # real Shape Motion clips
    # The Beam job recorded the data as Shape Motion, so every shape score applies.
    assert metrics["shape_motion_data"] is True
    assert {"fd_shapes", "acd", "single_blob_fraction", "area_distance", "motion_deviation",
            "mean_speed"} <= set(metrics["metrics"]["trained"])
    assert "fd_shapes" in first.stdout and "\nacd " in first.stdout
    # Trained with the demo recipe (trainer/configs/demo.py), the command line's sizes on top.
    config = json.loads((tmp_path / "demo" / "run" / "config.json").read_text())
    assert config["model"]["video_disc_pool"] == recipe("demo")["video_disc_pool"]
    assert config["r1_every"] == recipe("demo")["r1_every"] and config["batch_size"] == 4
    # Nothing is downloaded for the demo's report: the Shape Motion metrics need no network.
    assert "fvd" not in metrics["metrics"]["trained"] and "fid" not in metrics["metrics"]["trained"]

    second = make_demo(tmp_path, steps=1)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    checkpoint = tf.train.latest_checkpoint(str(tmp_path / "demo" / "run" / "checkpoints"))
    assert checkpoint.endswith("ckpt-3")
    assert json.loads((out / "metrics.json").read_text())["step"] == 3
