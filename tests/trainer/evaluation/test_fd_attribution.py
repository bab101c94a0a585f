"""The fd attribution fits clean shapes faithfully and swaps exactly one attribute."""

import dataclasses

import numpy as np
import pytest

from pipeline import shape_drawing
from pipeline.datasets import shapes
from trainer.evaluation import fd_attribution, shape_metrics


def clips(shape=None, count=8, frames=12):
    params = [shapes.sample_params(3, k) for k in range(count)]
    if shape:
        params = [dataclasses.replace(p, shape=shape) for p in params]
    return np.stack([shapes.render_video(p, frames) for p in params]), params


def test_the_fit_of_clean_shapes_draws_them_again():
    videos, params = clips()
    attributes, figures = fd_attribution.fit(videos)
    assert list(attributes.shape) == [p.shape for p in params]
    np.testing.assert_array_equal(attributes.colour, [p.colour for p in params])
    np.testing.assert_allclose(attributes.size, [p.size for p in params], atol=0.6)
    np.testing.assert_allclose(attributes.track, [shapes.trajectory(p, 12, 64) for p in params], atol=0.5)
    redrawn = fd_attribution.render(attributes, 64)
    assert (redrawn != videos).any(axis=-1).mean() < 0.005  # at most a few edge pixels differ
    squares = np.mean([p.shape == "square" for p in params])
    assert figures["square_fraction"] == squares and 0 < squares < 1
    assert figures["full_box_frames"] == squares  # every square frame fills its box, no disc does
    assert figures["near_axis_directions"] == 0.0 and figures["pale_colours"] == 0.0  # the data's
    speeds = [np.hypot(*p.velocity) for p in params]
    assert abs(figures["median_speed"] - np.median(speeds)) < 0.3


def test_track_and_colour_figures_count_near_axis_directions_and_pale_colours():
    t = np.arange(5, dtype=float)[:, None]
    tracks = np.stack([t * [2.0, 0.2], t * [1.5, 1.5], t * [-0.1, 3.0], np.full((5, 2), np.nan)])
    figures = fd_attribution.track_figures(tracks)
    assert figures["near_axis_directions"] == pytest.approx(2 / 3)  # of the three that move
    assert figures["median_speed"] == pytest.approx(np.median([np.hypot(2, 0.2), np.hypot(1.5, 1.5),
                                                               np.hypot(0.1, 3), 0.0]))
    colours = np.array([[255, 0, 0], [200, 150, 150], [100, 100, 100], [255, 128, 0]])
    assert fd_attribution.pale_fraction(colours) == 0.5  # (200, 150, 150) and grey


def test_box_fill_tells_discs_from_squares_and_ellipses():
    frame = np.zeros((3, 20, 20), bool)
    frame[0, 2:8, 3:9] = True
    frame[1] = shape_drawing.render_frames("circle", (255, 255, 255), 6, [[10, 10]], 20)[0, ..., 0] > 0
    frame[2, 5:7, 2:10] = True
    fill, aspect = shape_metrics.box_fill(frame)
    assert fill[0] == 1.0 and abs(fill[1] - np.pi / 4) < 0.05 and fill[2] == 1.0
    np.testing.assert_allclose(aspect, [1.0, 1.0, 0.25])
    assert np.isnan(shape_metrics.box_fill(np.zeros((1, 4, 4), bool))[0]).all()


def test_a_swap_takes_one_attribute_and_leaves_the_rest():
    circles, _ = fd_attribution.fit(clips("circle")[0])
    squares, _ = fd_attribution.fit(clips("square", frames=12)[0][::-1])
    swapped = circles.swapped(squares, "shape")
    assert (swapped.shape == "square").all()
    for name in ("colour", "size", "track"):
        np.testing.assert_array_equal(getattr(swapped, name), getattr(circles, name))
    with pytest.raises(ValueError, match="unknown attribute 'hue'"):
        circles.swapped(squares, "hue")


def box_fill_features(videos):
    """A stand-in feature net that sees the shape (fill of the box) and the colour."""
    stats = shape_metrics.blob_stats(videos)
    fill, _ = shape_metrics.box_fill(stats.largest_mask)
    colour = shape_metrics.to_colour_scale(videos).max(axis=(1, 2, 3)) / 255
    return np.c_[np.nanmean(fill, axis=1), colour]


def test_a_generator_that_only_gets_the_shape_wrong_is_charged_to_the_shape():
    real, _ = clips("circle", count=16)
    generated, _ = clips("square", count=16)  # the same colours, sizes and tracks
    against = real[::-1]
    result = fd_attribution.attribution(generated, real, against, box_fill_features)
    d = result["distances"]
    assert d["generated"] > 0.01 and d["real"] < 1e-6
    assert d["real with generated shape"] == pytest.approx(d["generated"], rel=0.05, abs=1e-4)
    assert d["generated with real shape"] < 0.05 * d["generated"]
    for name in ("colour", "size", "track"):
        assert d[f"real with generated {name}"] < 0.05 * d["generated"]
    assert result["attributes"]["generated"]["square_fraction"] == 1.0
    assert result["attributes"]["real"]["square_fraction"] == 0.0
    assert result["attributes"]["generated"]["median_fill"] == 1.0
    assert abs(result["attributes"]["real"]["median_fill"] - np.pi / 4) < 0.06


def test_a_conditional_generator_is_measured_class_by_class(monkeypatch):
    drawn = {"circle": clips("circle")[0], "square": clips("square")[0]}
    monkeypatch.setattr(fd_attribution.sample, "generate",
                        lambda generator, config, count, label, seed: drawn[label][:count])
    config = type("Config", (), {"class_names": ("circle", "square")})()
    figures = fd_attribution.per_class_figures(None, config, 6, seed=0)
    assert list(figures) == ["circle", "square"]
    assert figures["circle"]["square_fraction"] == 0.0 and figures["square"]["square_fraction"] == 1.0
    assert figures["square"]["mean_area"] > figures["circle"]["mean_area"]  # 4 r^2 against pi r^2
    assert "square_fraction" in fd_attribution.format_per_class(figures)
