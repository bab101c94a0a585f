"""trainer.evaluation.scoring: the scoring core on arrays, with stand-in networks."""

import numpy as np
import pytest

from pipeline.datasets import shapes
from trainer.evaluation import frechet, scoring

SHAPE_KEYS = {"acd", "acd_excluded_fraction", "single_blob_fraction", "area_distance",
              "motion_deviation", "motion_valid_fraction", "mean_speed"}
METRIC_KEYS = SHAPE_KEYS | {"fd_shapes"}

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
    result = scoring.evaluate_videos(noise, real, networks={"fd_shapes": colour_features})
    assert set(result["generated"]) == METRIC_KEYS == set(result["real"])
    assert (result["num_generated"], result["num_real"], result["num_reference"]) == (8, 8, 8)
    generated, reference = result["generated"], result["real"]
    assert reference["single_blob_fraction"] == 1.0
    assert reference["area_distance"] < generated["area_distance"]
    assert reference["fd_shapes"] < generated["fd_shapes"]
    assert generated["motion_deviation"] is None  # noise has no trackable blob
    without = scoring.evaluate_videos(noise, real[:8], reference=real[8:])
    assert "fd_shapes" not in without["generated"]
    assert without["real"]["area_distance"] == pytest.approx(reference["area_distance"])
    with pytest.raises(ValueError, match="at least 2"):
        scoring.evaluate_videos(noise[:1], real)


def test_off_shape_motion_data_only_the_frechet_distances_are_computed():
    real = shape_videos(0, 16)
    result = scoring.evaluate_videos(shape_videos(16, 8), real, networks={"fvd": colour_features},
                                      shape_motion=False)
    assert set(result["generated"]) == {"fvd"} == set(result["real"])


def test_flat_scalars_are_finite_floats_without_the_none_ones():
    real = shape_videos(0, 6)
    scores = scoring.Scorer(real, shape_videos(12, 6), {"fd_shapes": colour_features})(shape_videos(6, 6))
    scalars = scoring.flat_scalars(scores)
    assert {"eval/acd", "eval/single_blob_fraction", "eval/area_distance", "eval/fd_shapes"} <= set(scalars)
    assert all(isinstance(v, float) and np.isfinite(v) for v in scalars.values())
    empty = scoring.flat_scalars(scoring.Scorer(real, real, shape_motion=True)(np.zeros_like(real)))
    assert "eval/acd" not in empty and empty["eval/single_blob_fraction"] == 0.0


def test_known_real_gaussians_stand_in_for_the_network_on_real_clips():
    real, reference, generated = shape_videos(0, 6), shape_videos(6, 6), shape_videos(12, 6)
    computed = scoring.Scorer(real, reference, {"fvd": colour_features}, shape_motion=False)
    seen = []

    def counting(videos):
        seen.append(len(videos))
        return colour_features(videos)

    reused = scoring.Scorer(real, reference, {"fvd": counting}, shape_motion=False, known=computed.gaussians)
    assert seen == []  # the real and reference clips were not run through the network
    assert reused(generated)["fvd"] == pytest.approx(computed(generated)["fvd"])
    assert reused.real_scores() == pytest.approx(computed.real_scores())
    assert seen == [6]
    # Generated videos longer than the real clips are scored on the real clips' frames.
    longer = np.concatenate([generated, generated[:, :2]], axis=1)
    assert computed(longer)["fvd"] == pytest.approx(computed(generated)["fvd"])


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
    result = scoring.evaluate_videos(noise, real, shape_videos(6, 6), networks={"fid": net}, shape_motion=False)
    assert result["real"]["fid"] < result["generated"]["fid"]
