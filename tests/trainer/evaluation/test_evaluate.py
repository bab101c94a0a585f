"""trainer.evaluation.evaluate, the command end to end, and the training-loop hook."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from pipeline import schema
from pipeline.datasets import shapes
from tests import model_dirs
from tests.trainer_shards import write_shape_shards
from trainer.evaluation import evaluate, real_clips, scoring, training_evaluator
from trainer.evaluation.feature_networks import feature_extractor_for
from trainer.generation import restore

SHAPE_KEYS = {"acd", "acd_excluded_fraction", "single_blob_fraction", "area_distance",
              "motion_deviation", "motion_valid_fraction", "mean_speed"}
METRIC_KEYS = SHAPE_KEYS | {"fd_shapes"}  # everything on Shape Motion data with no I3D or Inception here


def test_command_writes_metrics_and_reuses_the_feature_net(tmp_path):
    model_dir = model_dirs.checkpointed_model_dir(tmp_path, conditional=False, ema_decay=0.0)
    shards = write_shape_shards(str(tmp_path / "shards"), clip_shape=model_dirs.SHAPE)
    out = tmp_path / "metrics.json"
    completed = subprocess.run(
        [sys.executable, "-m", "trainer.evaluation.evaluate", f"--model_dir={model_dir}", f"--tfrecords={shards}",
         "--num_videos=6", f"--out={out}", "--feature_train_steps=20", "--batch_size=4"],
        capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "single_blob_fraction" in completed.stdout and str(out) in completed.stdout
    result = json.loads(out.read_text())
    assert set(result["generated"]) == METRIC_KEYS == set(result["real"])
    assert result["num_generated"] == result["num_real"] == result["num_reference"] == 6
    assert result["step"] == 1 and result["feature_networks"]["fd_shapes"]["reused"] is False
    assert "Shape Motion feature net" in result["feature_networks"]["fd_shapes"]["network"]
    # Offline here: FVD and FID are left out with how to get their networks, and nothing fails.
    assert set(result["left_out"]) == {"fvd", "fid"} and "fvd" not in result["generated"]
    assert "python -m trainer.evaluation.pretrained --fetch_i3d" in result["left_out"]["fvd"]
    assert result["real"]["single_blob_fraction"] == 1.0 and result["real"]["acd"] == 0.0
    assert os.path.exists(os.path.join(model_dir, "feature_net", "feature_net.keras"))
    # Again in process: the cached feature net is reused and the same seed gives the same numbers.
    again = evaluate.run(evaluate.EvalOptions(model_dir=model_dir, tfrecords=shards, num_videos=6,
                                              out=str(tmp_path / "again.json"), batch_size=4))
    assert again["feature_networks"]["fd_shapes"]["reused"] is True
    assert again["generated"]["fd_shapes"] == pytest.approx(result["generated"]["fd_shapes"], rel=1e-4)
    # More videos than the set holds: refused with the counts, or scored on fewer when allowed.
    too_many = subprocess.run(
        [sys.executable, "-m", "trainer.evaluation.evaluate", f"--model_dir={model_dir}", f"--tfrecords={shards}",
         "--num_videos=500", f"--out={tmp_path / 'many.json'}", "--batch_size=4"],
        capture_output=True, text=True, timeout=300)
    assert too_many.returncode != 0 and "--num_videos=500" in too_many.stderr
    assert "--allow_fewer" in too_many.stderr and not (tmp_path / "many.json").exists()
    fewer = evaluate.run(evaluate.EvalOptions(model_dir=model_dir, tfrecords=shards, num_videos=500,
                                              out=str(tmp_path / "fewer.json"), batch_size=4,
                                              allow_fewer=True))
    assert fewer["num_generated"] == fewer["num_real"] < 500
    # The training-loop hook on a batch of real clips.
    generator, config = restore.load_generator(model_dir)
    extractor, _ = feature_extractor_for(None, os.path.join(model_dir, "feature_net"))
    real, _, _ = real_clips.load_real_clips(shards, "train", 4)
    scalars = training_evaluator.eval_generator(generator, config, real, extractor)
    assert {"eval/fd_shapes", "eval/single_blob_fraction", "eval/area_distance"} <= set(scalars)
    evaluator = training_evaluator.TrainingEvaluator(shards, num_videos=4,
                                           feature_model_dir=os.path.join(model_dir, "feature_net"))
    assert evaluator(generator, config) == pytest.approx(evaluator(generator, config))
    assert "eval/fd_shapes" in evaluator(generator, config)


def test_a_truncated_latest_checkpoint_falls_back_and_the_result_names_the_one_scored(tmp_path):
    from tests.trainer_shards import write_shards

    model_dir = model_dirs.truncated_latest_model_dir(tmp_path)
    shards = write_shards(tmp_path / "real", num_files=2, clips_per_file=12, shape=model_dirs.SHAPE)
    out = tmp_path / "metrics.json"
    result = evaluate.run(evaluate.EvalOptions(model_dir=model_dir, tfrecords=shards, num_videos=4,
                                               out=str(out), batch_size=4))
    assert result["step"] == 1 and result["checkpoint"].endswith("ckpt-1")  # not the latest, 2
    assert json.loads(out.read_text())["checkpoint"] == result["checkpoint"]
    latest = result["checkpoint"][:-1] + "2"
    with pytest.raises(restore.RestoreError, match="ckpt-2 cannot be read"):  # named: no fallback
        evaluate.run(evaluate.EvalOptions(model_dir=model_dir, tfrecords=shards, num_videos=4,
                                          out=str(tmp_path / "named.json"), checkpoint=latest))


# ------------------------------------------------------------------------ footage: FVD from I3D


@pytest.fixture(scope="module")
def ucf_like(tmp_path_factory):
    """Shards of real encoded videos (a UCF-101 tree, not Shape Motion) made by the Beam job, and
    an untrained model of their clip shape."""
    from pipeline import main as pipeline_main
    from tests.video_fixtures import make_ucf101_tree

    root = tmp_path_factory.mktemp("ucf_like")
    input_root, splits = make_ucf101_tree(root / "videos", classes=("ApplyEyeMakeup", "YoYo"),
                                          groups=(8, 9), clips_per_group=2, num_frames=12,
                                          height=40, width=48)
    shards = str(root / "shards")
    status = pipeline_main.run([
        "--dataset=ucf101", f"--input={input_root}", f"--splits={splits}", f"--output={shards}",
        "--num_frames=4", "--size=32", "--clip_stride=4", "--direct_running_mode=in_memory",
        "--direct_num_workers=1"])
    assert status == 0
    model_dir = model_dirs.checkpointed_model_dir(root, conditional=False, ema_decay=0.0)
    return model_dir, shards, root


def _evaluate_command(model_dir, shards, out, *extra):
    return subprocess.run([sys.executable, "-m", "trainer.evaluation.evaluate", f"--model_dir={model_dir}",
                           f"--tfrecords={shards}", "--num_videos=4", f"--out={out}", "--batch_size=4", *extra],
                          capture_output=True, text=True, timeout=300)


def test_footage_without_i3d_reports_no_fvd_and_no_shape_scores_and_says_why(ucf_like, tmp_path):
    model_dir, shards, _ = ucf_like
    assert not schema.read_manifest(shards).is_shape_motion
    out = tmp_path / "metrics.json"
    completed = _evaluate_command(model_dir, shards, out)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["generated"] == {} == result["real"]  # nothing that applies can be computed here
    assert set(result["left_out"]) == SHAPE_KEYS | {"fd_shapes", "fvd", "fid"}
    assert "not Shape Motion data" in result["left_out"]["acd"]
    assert "--i3d_model" in result["left_out"]["fvd"] and "online" in result["left_out"]["fvd"]
    assert "not Shape Motion data" in completed.stdout and "trainer.evaluation.pretrained" in completed.stdout
    assert "acd " not in completed.stdout.split("metric")[1].split("(")[0]  # no row for it
    # Asked for by name, FVD that cannot be computed is an error.
    named = _evaluate_command(model_dir, shards, tmp_path / "named.json", "--metrics=fvd")
    assert named.returncode != 0 and "fvd" in named.stderr and "--fetch_i3d" in named.stderr


def test_footage_with_the_i3d_stand_in_reports_fvd_equal_to_numpy(ucf_like, tmp_path):
    from tests import stand_ins

    model_dir, shards, _ = ucf_like
    i3d = stand_ins.save_i3d_stand_in(str(tmp_path / "i3d_stand_in"))
    options = evaluate.EvalOptions(model_dir=model_dir, tfrecords=shards, num_videos=4,
                                   out=str(tmp_path / "metrics.json"), metrics=("fvd",), i3d_model=i3d,
                                   batch_size=4, ema=False)
    result = evaluate.run(options)
    assert set(result["generated"]) == {"fvd"} and result["feature_networks"]["fvd"]["model"] == i3d
    assert "I3D" in result["feature_networks"]["fvd"]["network"]
    # The same clips, logits and distance computed independently.
    real, reference, _ = real_clips.load_real_clips(shards, "train", 4, seed=0, extra=options.feature_train_clips)
    generator, config = restore.load_generator(model_dir, prefer_ema=False)
    generated = scoring.generate_videos(generator, config, len(real), seed=0, batch_size=4)
    logits = {name: stand_ins.i3d_stand_in_logits(v) for name, v in
              (("generated", generated), ("real", real), ("reference", reference))}
    assert result["generated"]["fvd"] == pytest.approx(
        stand_ins.frechet_numpy(logits["generated"], logits["real"]), rel=1e-3)
    assert result["real"]["fvd"] == pytest.approx(
        stand_ins.frechet_numpy(logits["real"], logits["reference"]), rel=1e-3)
    assert result["generated"]["fvd"] > 0

