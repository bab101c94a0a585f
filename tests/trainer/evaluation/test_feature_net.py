"""The Shape Motion feature net: labels from pixels, learns above chance, is cached and reused."""

import numpy as np
import pytest

from pipeline.datasets import shapes
from trainer.evaluation import feature_net


def shape_clips(num_videos, num_frames, seed=0, size=64):
    params = [shapes.sample_params(seed, k, size) for k in range(num_videos)]
    clips = np.stack([shapes.render_video(p, num_frames, size) for p in params])
    return clips, params


def test_labels_from_pixels_agree_with_the_ground_truth():
    clips, params = shape_clips(60, 4)
    shape_truth = np.array([shapes.SHAPES.index(p.shape) for p in params])
    np.testing.assert_array_equal(feature_net.shape_labels_from_pixels(clips), shape_truth)
    direction_truth = np.array([2 * (p.velocity[0] < 0) + (p.velocity[1] < 0) for p in params])
    assert np.mean(feature_net.direction_labels(clips) == direction_truth) > 0.85


def test_trains_above_chance_and_is_cached_for_reuse(tmp_path):
    clips, params = shape_clips(240, 8, seed=1)
    labels = np.array([shapes.SHAPES.index(p.shape) for p in params])
    extractor, info = feature_net.load_or_train(str(tmp_path), clips, labels, steps=96)
    assert info["reused"] is False
    assert info["heldout_shape_accuracy"] > 0.7  # chance: 0.5
    assert info["heldout_direction_accuracy"] > 0.45  # chance: 0.25
    test_clips, _ = shape_clips(6, 12, seed=2)  # another clip length works too
    features = extractor(test_clips)
    assert features.shape == (6, feature_net.FEATURE_DIM) and np.isfinite(features).all()
    assert features.std(axis=0).max() > 0  # not a constant
    again, again_info = feature_net.load_or_train(str(tmp_path), clips[:2])
    assert again_info["reused"] is True and again_info["num_train_clips"] == info["num_train_clips"]
    np.testing.assert_allclose(again(test_clips), features, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="feature_model_dir"):
        feature_net.load_or_train(str(tmp_path), shape_clips(2, 4, size=32)[0])
