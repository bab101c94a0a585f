"""trainer.evaluation.evaluate: the pure core on arrays, the training-loop hook, and the command end to end."""

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
from trainer.evaluation import evaluate, frechet
from trainer.generation import restore

SHAPE_KEYS = {"acd", "acd_excluded_fraction", "single_blob_fraction", "area_distance",
              "motion_deviation", "motion_valid_fraction", "mean_speed"}
METRIC_KEYS = SHAPE_KEYS | {"fd_shapes"}  # everything on Shape Motion data with no I3D or Inception here


def colour_features(videos):
    """A cheap stand-in feature extractor: per-channel mean and spread of each video."""
    videos = np.asarray(videos, np.float64)
    return np.concatenate([videos.mean(axis=(1, 2, 3)), videos.std(axis=(1, 2, 3))], axis=1)


def shape_videos(first, count, num_frames=16, size=64):
    return np.stack([shapes.render_video(shapes.sample_params(0, k, size), num_frames, size)
                     for k in range(first, first + count)])


def test_evaluate_videos_returns_every_metric_for_both_sides():
    real = shape_videos(0, 16)
    noise = np.random.default_rng(0).uniform(-1, 1, size=(8,) + real.shape[1:]).astype(np.float32)
    result = evaluate.evaluate_videos(noise, real, networks={"fd_shapes": colour_features})
    assert set(result["generated"]) == METRIC_KEYS == set(result["real"])
    assert (result["num_generated"], result["num_real"], result["num_reference"]) == (8, 8, 8)
    generated, reference = result["generated"], result["real"]
    assert reference["single_blob_fraction"] == 1.0
    assert reference["area_distance"] < generated["area_distance"]
    assert reference["fd_shapes"] < generated["fd_shapes"]
    assert generated["motion_deviation"] is None  # noise has no trackable blob
    without = evaluate.evaluate_videos(noise, real[:8], reference=real[8:])
    assert "fd_shapes" not in without["generated"]
    assert without["real"]["area_distance"] == pytest.approx(reference["area_distance"])
    with pytest.raises(ValueError, match="at least 2"):
        evaluate.evaluate_videos(noise[:1], real)


def test_off_shape_motion_data_only_the_frechet_distances_are_computed():
    real = shape_videos(0, 16)
    result = evaluate.evaluate_videos(shape_videos(16, 8), real, networks={"fvd": colour_features},
                                      shape_motion=False)
    assert set(result["generated"]) == {"fvd"} == set(result["real"])


def test_training_scalars_are_flat_finite_floats():
    real = shape_videos(0, 6)
    scalars = evaluate.training_scalars(shape_videos(6, 6), real, colour_features)
    assert {"eval/acd", "eval/single_blob_fraction", "eval/area_distance", "eval/fd_shapes"} <= set(scalars)
    assert all(isinstance(v, float) and np.isfinite(v) for v in scalars.values())
    empty = evaluate.training_scalars(np.zeros_like(real), real)
    assert "eval/acd" not in empty and empty["eval/single_blob_fraction"] == 0.0
    assert evaluate.training_scalars(real, real, shape_motion=False) == {}


def write_shape_shards(directory, num_videos=24, clip_shape=(4, 32, 32, 3), reverse=False):
    """Two clips per Shape Motion video, written with the pipeline's schema, labelled by shape;
    `reverse` writes the same records in the opposite order."""
    t, size = clip_shape[0], clip_shape[1]
    os.makedirs(directory, exist_ok=True)
    name = "train-00000-of-00001.tfrecord"
    records = []
    for k in range(num_videos):
        params = shapes.sample_params(0, k, size)
        frames = shapes.render_video(params, 2 * t, size)
        for start in (0, t):
            clip = schema.Clip(frames=frames[start:start + t], label=shapes.SHAPES.index(params.shape),
                               video_id=f"{params.shape}/video_{k:05d}.avi", start=start)
            records.append(schema.encode_clip(clip))
    with tf.io.TFRecordWriter(os.path.join(directory, name)) as writer:
        for record in reversed(records) if reverse else records:
            writer.write(record)
    schema.write_manifest(directory, schema.Manifest(
        clip_shape=clip_shape, encoding="raw", compression="none", class_names=shapes.SHAPES,
        splits={"train": schema.SplitInfo(files=(name,), num_videos=num_videos, num_clips=2 * num_videos)},
        dataset="folder", data_generator=schema.SHAPE_MOTION))
    return directory


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
    extractor, _ = evaluate.feature_extractor_for(None, os.path.join(model_dir, "feature_net"))
    real, _, _ = evaluate.load_real_clips(shards, "train", 4)
    scalars = evaluate.eval_generator(generator, config, real, extractor)
    assert {"eval/fd_shapes", "eval/single_blob_fraction", "eval/area_distance"} <= set(scalars)
    evaluator = evaluate.TrainingEvaluator(shards, num_videos=4,
                                           feature_model_dir=os.path.join(model_dir, "feature_net"))
    assert evaluator(generator, config) == pytest.approx(evaluator(generator, config))
    assert "eval/fd_shapes" in evaluator(generator, config)


def test_real_sets_hold_different_videos(tmp_path):
    shards = write_shape_shards(str(tmp_path / "shards"))
    real, reference, pool = evaluate.load_real_clips(shards, "train", 8, seed=1)
    assert real.shape == reference.shape == (8, 4, 32, 32, 3) and len(pool) == 48
    def colours(videos):  # every video has its own colour; the brightest pixel of a clip shows it
        return {tuple(v.reshape(-1, 3)[np.argmax(v.reshape(-1, 3).sum(1))]) for v in videos}
    assert len(colours(real)) > 3 and not colours(real) & colours(reference)
    few = write_shape_shards(str(tmp_path / "few"), num_videos=1)
    with pytest.raises(ValueError, match="too few videos"):
        evaluate.load_real_clips(few, "train", 8)


def test_real_sets_do_not_depend_on_the_order_the_shards_hold_the_clips_in(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate, "READ_MIN", 20)  # pick 20 of the 48 clips
    forward = evaluate.load_real_clips(write_shape_shards(str(tmp_path / "a")), "train", 4, seed=2)
    backward = evaluate.load_real_clips(write_shape_shards(str(tmp_path / "b"), reverse=True),
                                        "train", 4, seed=2)
    for one, other in zip(forward, backward):
        np.testing.assert_array_equal(one, other)
    assert len(forward[2]) == 20


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
    real, reference, _ = evaluate.load_real_clips(shards, "train", 4, seed=0, extra=options.feature_train_clips)
    generator, config = restore.load_generator(model_dir, prefer_ema=False)
    generated = evaluate.generate_videos(generator, config, len(real), seed=0, batch_size=4)
    logits = {name: stand_ins.i3d_stand_in_logits(v) for name, v in
              (("generated", generated), ("real", real), ("reference", reference))}
    assert result["generated"]["fvd"] == pytest.approx(
        stand_ins.frechet_numpy(logits["generated"], logits["real"]), rel=1e-3)
    assert result["real"]["fvd"] == pytest.approx(
        stand_ins.frechet_numpy(logits["real"], logits["reference"]), rel=1e-3)
    assert result["generated"]["fvd"] > 0


def test_i3d_features_batch_and_preprocess_as_the_reference():
    from tests import stand_ins
    import tempfile

    videos = np.random.default_rng(1).integers(0, 256, size=(5, 3, 20, 28, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        features = frechet.I3DFeatures(stand_ins.save_i3d_stand_in(folder), batch_size=2)(videos)
    assert features.shape == (5, 400)  # three batches, the last of one clip
    np.testing.assert_allclose(features, stand_ins.i3d_stand_in_logits(videos), rtol=1e-4, atol=1e-4)


def test_fid_of_the_inception_stand_in_on_frames(tmp_path):
    from tests import stand_ins
    from trainer.evaluation import inception

    net = inception.InceptionFrameFeatures(stand_ins.save_inception_stand_in(str(tmp_path / "s.keras")),
                                           frames_per_video=2, batch_size=3)
    real = shape_videos(0, 6)
    features = net(real)
    assert features.shape == (12, 8)  # two frames of each of six videos
    np.testing.assert_array_equal(inception.pick_frames(real, 2)[1], real[0, -1])  # first and last
    noise = np.random.default_rng(0).integers(0, 256, size=real.shape, dtype=np.uint8)
    result = evaluate.evaluate_videos(noise, real, shape_videos(6, 6), networks={"fid": net}, shape_motion=False)
    assert result["real"]["fid"] < result["generated"]["fid"]
