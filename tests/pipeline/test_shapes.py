"""The Shape Motion generator: deterministic, true to its ground truth after a real encode/decode."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pipeline.datasets import shapes
from pipeline.decode import decode_video as decode
from trainer.evaluation import shape_metrics


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("shapes"))
    truth = shapes.write_dataset(out, num_videos=6, seed=3, num_frames=40)
    return out, truth


def test_video_k_does_not_depend_on_the_video_count():
    few = [shapes.sample_params(7, k) for k in range(3)]
    many = [shapes.sample_params(7, k) for k in range(10)]
    assert few == many[:3]
    assert shapes.sample_params(8, 0) != few[0]
    np.testing.assert_array_equal(shapes.render_video(few[1], 20), shapes.render_video(many[1], 20))


def test_parameters_vary_across_videos():
    params = [shapes.sample_params(0, k) for k in range(40)]
    assert {p.shape for p in params} == set(shapes.SHAPES)
    assert len({p.colour for p in params}) == 40
    assert np.std([p.size for p in params]) > 1.0


def test_equal_areas_give_squares_a_circles_area_and_change_nothing_else():
    plain = [shapes.sample_params(0, k) for k in range(200)]
    equal = [shapes.sample_params(0, k, equal_areas=True) for k in range(200)]
    for a, b in zip(plain, equal):
        assert (a.shape, a.colour, a.velocity) == (b.shape, b.colour, b.velocity)
        assert b.size == (a.size * shapes.EQUAL_AREA_HALF_SIDE if a.shape == "square" else a.size)
    # A square covers what a circle of the radius drawn for it would cover, pixels counted.
    ratios = [(shapes.render_video(b, 1).max(-1) > 0).sum() / (np.pi * a.size ** 2)
              for a, b in zip(plain, equal) if a.shape == "square"]
    assert abs(np.mean(ratios) - 1) < 0.03  # without it, 4 / pi = 1.27


def test_a_folder_keeps_its_area_setting(tmp_path):
    out = str(tmp_path / "shapes")
    shapes.write_dataset(out, num_videos=1, num_frames=4, size=16)
    with pytest.raises(ValueError, match="equal_areas"):
        shapes.write_dataset(out, num_videos=1, num_frames=4, size=16, equal_areas=True)


def test_bounce_keeps_the_whole_shape_in_the_frame():
    params = shapes.ShapeParams(shape="square", colour=(200, 200, 50), size=6.0,
                                position=(10.0, 50.0), velocity=(3.0, 2.5), seed=0)
    centres = shapes.trajectory(params, 80, 64)
    assert centres.min() >= 6.0 and centres.max() <= 58.0
    velocity = np.diff(centres, axis=0)
    assert (np.sign(velocity[:, 0]) < 0).any() and (np.sign(velocity[:, 1]) < 0).any()  # it bounced
    np.testing.assert_allclose(np.abs(velocity).max(axis=0), [3.0, 2.5], atol=1e-9)
    frames = shapes.render_video(params, 80)
    areas = (frames.max(-1) > 0).sum(axis=(1, 2))
    assert areas.min() >= 144 - 13 and areas.max() <= 144 + 13  # never cut off by a border


def test_files_are_labelled_by_folder_and_match_the_ground_truth(dataset):
    out, truth = dataset
    with open(os.path.join(out, shapes.GROUND_TRUTH_NAME)) as f:
        saved = json.load(f)
    assert saved["seed"] == 3 and len(saved["videos"]) == 6
    for video in shapes.read_ground_truth(out)["videos"]:
        path = os.path.join(out, video["path"])
        assert os.path.dirname(video["path"]) == video["shape"]
        frames = decode(path)
        assert frames.shape == (40, 64, 64, 3)
        expected = shapes.render_video(video["params"], 40)
        mask = shape_metrics.foreground_mask(frames[None])[0]
        assert (mask != (expected.max(-1) > 0)).mean() < 0.002
        stats = shape_metrics.blob_stats(frames[None])
        assert (stats.num_blobs == 1).all()
        # Colour constant and equal to the ground truth, inside the shape.
        inside = shape_metrics.interior(mask)
        colours = np.stack([f[m].mean(0) for f, m in zip(frames.astype(float), inside)])
        assert np.abs(colours - np.asarray(video["colour"])).max() < 12
        assert colours.std(axis=0).max() < 2.5
        # The decoded centroid follows the ground-truth trajectory.
        centres = shapes.trajectory(video["params"], 40, 64)
        assert np.abs(stats.centroid[0] - centres).max() < 1.0


def test_circles_and_squares_differ_in_fill_ratio(dataset):
    out, truth = dataset
    for video in truth["videos"]:
        frame = decode(os.path.join(out, video["path"]))[0]
        mask = shape_metrics.foreground_mask(frame[None, None])[0, 0]
        ys, xs = np.nonzero(mask)
        fill = mask.sum() / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1))
        assert (fill > 0.9) == (video["shape"] == "square"), (video["path"], fill)


def test_rerun_reuses_files_and_refuses_other_settings(dataset):
    out, _ = dataset
    path = os.path.join(out, shapes.video_path(shapes.sample_params(3, 0), 0, "avi"))
    before = os.stat(path).st_mtime_ns
    again = shapes.write_dataset(out, num_videos=7, seed=3, num_frames=40)
    assert again["written"] == 1 and os.stat(path).st_mtime_ns == before
    with pytest.raises(ValueError, match="seed"):
        shapes.write_dataset(out, num_videos=2, seed=4, num_frames=40)


def test_command_line_writes_mp4(tmp_path):
    subprocess.run([sys.executable, "-m", "pipeline.datasets.shapes", f"--out={tmp_path}",
                    "--num_videos=2", "--seed=1", "--num_frames=20", "--format=mp4"],
                   check=True, capture_output=True)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.mp4"))
    expected = sorted(shapes.video_path(shapes.sample_params(1, k), k, "mp4") for k in range(2))
    assert files == expected
    assert decode(str(tmp_path / files[0])).shape == (20, 64, 64, 3)
