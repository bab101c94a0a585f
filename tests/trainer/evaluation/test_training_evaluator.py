"""trainer.evaluation.training_evaluator: what --eval_every computes, FVD by default."""

import os

import pytest

from pipeline import schema
from tests import model_dirs
from tests.trainer_shards import write_shape_shards, write_shards
from trainer.evaluation import i3d, pretrained, real_stats, training_evaluator
from trainer.generation import restore

CLIP = (10, 32, 32, 3)  # I3D takes 9 frames or more


def test_fvd_by_default_with_the_real_side_computed_once(tmp_path, monkeypatch, real_i3d_weights):
    monkeypatch.setenv(pretrained.CACHE_ENV, os.path.dirname(os.path.dirname(real_i3d_weights)))
    model_dir = model_dirs.checkpointed_model_dir(tmp_path, conditional=False, ema_decay=0.0, clip_shape=CLIP)
    shards = write_shards(tmp_path / "shards", num_files=2, clips_per_file=6, shape=CLIP, seed=3,
                          data_generator=schema.SHAPE_MOTION)
    generator, config = restore.load_generator(model_dir)
    seen = []
    call = i3d.I3D.__call__
    monkeypatch.setattr(i3d.I3D, "__call__", lambda self, videos: seen.append(len(videos)) or call(self, videos))
    evaluator = training_evaluator.TrainingEvaluator(shards, model_dir, num_videos=4)
    scalars = evaluator(generator, config)
    assert scalars["eval/fvd"] > 0 and "eval/single_blob_fraction" in scalars  # diagnostics too
    assert evaluator.frechet_metric == "eval/fvd" and evaluator.num_videos == 4
    assert sum(seen) == 12  # real, reference, generated: 4 each
    assert len(os.listdir(os.path.join(model_dir, real_stats.SUBDIR))) == 1
    # A new run of the loop (a resumed training) reuses the real side: I3D sees generated clips only.
    seen.clear()
    resumed = training_evaluator.TrainingEvaluator(shards, model_dir, num_videos=4)
    assert resumed(generator, config) == pytest.approx(scalars)
    assert seen == [4]


def test_without_i3d_the_scalars_go_without_fvd_and_say_why(tmp_path, caplog):
    model_dir = model_dirs.checkpointed_model_dir(tmp_path, conditional=False, ema_decay=0.0, clip_shape=CLIP)
    shards = write_shape_shards(str(tmp_path / "shards"), clip_shape=CLIP)
    generator, config = restore.load_generator(model_dir)
    evaluator = training_evaluator.TrainingEvaluator(shards, model_dir, num_videos=4)
    scalars = evaluator(generator, config)  # offline here, with an empty cache
    assert "eval/fvd" not in scalars and "eval/single_blob_fraction" in scalars and evaluator.frechet_metric is None
    assert "no fvd" in caplog.text and "--fetch_i3d" in caplog.text
    # fd_shapes, asked for, trains the Shape Motion feature net once.
    by_shapes = training_evaluator.TrainingEvaluator(shards, model_dir, num_videos=4, metric="fd_shapes",
                                                     feature_model_dir=os.path.join(model_dir, "feature_net"),
                                                     feature_train_steps=5)
    assert by_shapes(generator, config)["eval/fd_shapes"] >= 0 and by_shapes.frechet_metric == "eval/fd_shapes"
