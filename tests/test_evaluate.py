"""trainer.evaluate: the pure core on arrays, the training-loop hook, and the command end to end."""

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
from trainer import evaluate, restore

METRIC_KEYS = {"acd", "acd_excluded_fraction", "single_blob_fraction", "area_distance",
               "motion_deviation", "motion_valid_fraction", "mean_speed", "fvd"}


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
    result = evaluate.evaluate_videos(noise, real, colour_features)
    assert set(result["generated"]) == METRIC_KEYS == set(result["real"])
    assert (result["num_generated"], result["num_real"], result["num_reference"]) == (8, 8, 8)
    generated, reference = result["generated"], result["real"]
    assert reference["single_blob_fraction"] == 1.0
    assert reference["area_distance"] < generated["area_distance"]
    assert reference["fvd"] < generated["fvd"]
    assert generated["motion_deviation"] is None  # noise has no trackable blob
    without = evaluate.evaluate_videos(noise, real[:8], None, reference=real[8:])
    assert without["generated"]["fvd"] is None
    assert without["real"]["area_distance"] == pytest.approx(reference["area_distance"])
    with pytest.raises(ValueError, match="at least 2"):
        evaluate.evaluate_videos(noise[:1], real)


def test_training_scalars_are_flat_finite_floats():
    real = shape_videos(0, 6)
    scalars = evaluate.training_scalars(shape_videos(6, 6), real, colour_features)
    assert {"eval/acd", "eval/single_blob_fraction", "eval/area_distance", "eval/fvd"} <= set(scalars)
    assert all(isinstance(v, float) and np.isfinite(v) for v in scalars.values())
    empty = evaluate.training_scalars(np.zeros_like(real), real)
    assert "eval/acd" not in empty and empty["eval/single_blob_fraction"] == 0.0


def write_shape_shards(directory, num_videos=24, clip_shape=(4, 32, 32, 3)):
    """Two clips per Shape Motion video, written with the pipeline's schema, labelled by shape."""
    t, size = clip_shape[0], clip_shape[1]
    os.makedirs(directory, exist_ok=True)
    name = "train-00000-of-00001.tfrecord"
    with tf.io.TFRecordWriter(os.path.join(directory, name)) as writer:
        for k in range(num_videos):
            params = shapes.sample_params(0, k, size)
            frames = shapes.render_video(params, 2 * t, size)
            for start in (0, t):
                clip = schema.Clip(frames=frames[start:start + t], label=shapes.SHAPES.index(params.shape),
                                   video_id=f"{params.shape}/video_{k:05d}.avi", start=start)
                writer.write(schema.encode_clip(clip))
    schema.write_manifest(directory, schema.Manifest(
        clip_shape=clip_shape, encoding="raw", compression="none", class_names=shapes.SHAPES,
        splits={"train": schema.SplitInfo(files=(name,), num_videos=num_videos, num_clips=2 * num_videos)},
        dataset="folder"))
    return directory


def test_command_writes_metrics_and_reuses_the_feature_net(tmp_path):
    model_dir = model_dirs.checkpointed_model_dir(tmp_path, conditional=False, ema_decay=0.0)
    shards = write_shape_shards(str(tmp_path / "shards"), clip_shape=model_dirs.SHAPE)
    out = tmp_path / "metrics.json"
    completed = subprocess.run(
        [sys.executable, "-m", "trainer.evaluate", f"--model_dir={model_dir}", f"--tfrecords={shards}",
         "--num_videos=6", f"--out={out}", "--feature_train_steps=20", "--batch_size=4"],
        capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "single_blob_fraction" in completed.stdout and str(out) in completed.stdout
    result = json.loads(out.read_text())
    assert set(result["generated"]) == METRIC_KEYS == set(result["real"])
    assert result["num_generated"] == result["num_real"] == result["num_reference"] == 6
    assert result["step"] == 1 and result["feature_extractor"]["reused"] is False
    assert result["real"]["single_blob_fraction"] == 1.0 and result["real"]["acd"] == 0.0
    assert os.path.exists(os.path.join(model_dir, "feature_net", "feature_net.keras"))
    # Again in process: the cached feature net is reused and the same seed gives the same numbers.
    again = evaluate.run(evaluate.EvalOptions(model_dir=model_dir, tfrecords=shards, num_videos=6,
                                              out=str(tmp_path / "again.json"), batch_size=4))
    assert again["feature_extractor"]["reused"] is True
    assert again["generated"]["fvd"] == pytest.approx(result["generated"]["fvd"], rel=1e-4)
    # The training-loop hook on a batch of real clips.
    generator, config = restore.load_generator(model_dir)
    extractor, _ = evaluate.feature_extractor_for(None, os.path.join(model_dir, "feature_net"))
    real, _, _ = evaluate.load_real_clips(shards, "train", 4)
    scalars = evaluate.eval_generator(generator, config, real, extractor)
    assert {"eval/fvd", "eval/single_blob_fraction", "eval/area_distance"} <= set(scalars)
    evaluator = evaluate.TrainingEvaluator(shards, num_videos=4,
                                           feature_model_dir=os.path.join(model_dir, "feature_net"))
    assert evaluator(generator, config) == pytest.approx(evaluator(generator, config))
    assert "eval/fvd" in evaluator(generator, config)


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
