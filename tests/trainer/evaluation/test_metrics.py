"""Shape Motion metrics and the Fréchet distance, checked against independent computations."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from pipeline import media
from pipeline.datasets import shapes
from pipeline.decode import decode_video as decode
from trainer.evaluation import frechet, shape_metrics


def rendered(num_videos=12, num_frames=16, seed=0):
    return np.stack([shapes.render_video(shapes.sample_params(seed, k), num_frames)
                     for k in range(num_videos)])


def bfs_count(mask):
    """Number of 8-connected components by breadth-first search: an independent reference."""
    seen = np.zeros_like(mask)
    count = 0
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        count += 1
        queue = collections.deque([start])
        seen[start] = True
        while queue:
            y, x = queue.popleft()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = y + dy, x + dx
                    if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        queue.append((ny, nx))
    return count


def test_component_labels_match_breadth_first_search():
    rng = np.random.default_rng(0)
    masks = rng.uniform(size=(6, 24, 20)) < np.array([0.1, 0.3, 0.45, 0.55, 0.7, 0.9])[:, None, None]
    masks[0] = False  # an empty frame
    labels = shape_metrics.label_components(masks)
    for mask, label in zip(masks, labels):
        assert (label >= 0).sum() == mask.sum()
        assert len(np.unique(label[label >= 0])) == bfs_count(mask)
    spiral = np.zeros((15, 15), bool)  # one long winding component
    spiral[1, 1:14] = spiral[1:14, 13] = spiral[13, 1:14] = spiral[3:14, 1] = spiral[3, 1:12] = True
    spiral[3:12, 11] = spiral[11, 3:12] = spiral[5:12, 3] = spiral[5, 3:10] = True
    assert len(np.unique(shape_metrics.label_components(spiral[None])[0][spiral])) == 1 == bfs_count(spiral)


def test_component_roots_are_first_pixels_and_labels_never_join_frames():
    masks = np.zeros((2, 4, 5), bool)
    masks[0, 1, 1] = masks[0, 2, 2] = True  # diagonal neighbours: one blob
    masks[0, 0, 4] = masks[1, 1, 1] = True  # the same pixel in the next frame is another blob
    labels = shape_metrics.label_components(masks)
    assert labels[0, 1, 1] == labels[0, 2, 2] == 6 and labels[0, 0, 4] == 4
    assert labels[1, 1, 1] == 20 + 6 and (labels[~masks] == -1).all()


def test_interior_is_a_3x3_erosion_and_the_frame_edge_is_never_interior():
    masks = np.ones((2, 5, 6), bool)
    masks[0, 2, 3] = False
    inside = shape_metrics.interior(masks)
    assert inside[1].sum() == 3 * 4 and inside[1, 1:-1, 1:-1].all()  # all but the edge
    assert not inside[0, 1:4, 2:5].any() and inside[0].sum() == 3 * 4 - 9


def test_acd_is_the_mean_pairwise_colour_distance():
    video = np.zeros((1, 3, 16, 16, 3), np.uint8)
    colours = np.array([[200, 100, 100], [200, 130, 140], [190, 100, 100]])
    for t, c in enumerate(colours):
        video[0, t, 4:12, 4:12] = c
    distances = [np.linalg.norm(colours[i] - colours[j]) for i, j in [(0, 1), (0, 2), (1, 2)]]
    result = shape_metrics.average_content_distance(video)
    assert result["acd"] == pytest.approx(np.mean(distances), rel=1e-5)
    as_float = video.astype(np.float32) / 127.5 - 1
    assert shape_metrics.average_content_distance(as_float)["acd"] == pytest.approx(result["acd"], rel=1e-4)


def test_acd_skips_empty_frames_and_reports_excluded_videos():
    videos = np.zeros((2, 4, 16, 16, 3), np.uint8)
    videos[0, 0, 4:12, 4:12] = 200
    videos[0, 2, 4:12, 4:12] = (200, 200, 170)
    videos[1, 1, 4:12, 4:12] = 200  # one foreground frame only: no pair to compare
    result = shape_metrics.average_content_distance(videos)
    assert result["acd"] == pytest.approx(30.0, rel=1e-5)
    assert result["acd_excluded_fraction"] == 0.5
    assert shape_metrics.average_content_distance(np.zeros_like(videos))["acd"] is None


def test_a_bright_background_is_not_an_object_and_a_stray_speck_is_not_the_content():
    grey = np.full((2, 4, 32, 32, 3), 0.2, np.float32)  # what an untrained generator tends to show
    stats = shape_metrics.blob_stats(grey)
    assert (stats.num_blobs == 1).all() and shape_metrics.single_blob_fraction(stats) == 0.0
    assert shape_metrics.average_content_distance(grey) == {"acd": None, "acd_excluded_fraction": 1.0}
    video = np.zeros((1, 2, 32, 32, 3), np.uint8)
    video[0, :, 8:20, 8:20] = (200, 120, 60)
    video[0, 1, 28:30, 28:30] = (250, 250, 250)  # a small second blob in frame 1 only
    assert shape_metrics.average_content_distance(video)["acd"] == pytest.approx(0.0)
    assert shape_metrics.single_blob_fraction(shape_metrics.blob_stats(video)) == 0.5


def test_acd_near_zero_on_real_shape_videos_and_large_when_colour_flickers(tmp_path):
    clean = rendered()
    real = []
    for k, video in enumerate(clean):
        path = str(tmp_path / f"{k}.avi")
        media.write_video(path, video, quality=shapes.ENCODE_QUALITY["avi"])
        real.append(decode(path))
    real = np.stack(real)
    assert shape_metrics.average_content_distance(clean)["acd"] == 0.0
    real_acd = shape_metrics.average_content_distance(real)["acd"]
    gain = np.random.default_rng(1).uniform(0.6, 1.0, size=(len(real), real.shape[1], 1, 1, 1))
    flicker = (real * gain).astype(np.uint8)
    assert real_acd < 4.0
    assert shape_metrics.average_content_distance(flicker)["acd"] > 5 * real_acd


def test_blob_scores_separate_real_videos_from_noise():
    real = rendered()
    rng = np.random.default_rng(2)
    sparse = ((rng.uniform(size=real.shape[:4]) < 0.05)[..., None] * 255).astype(np.uint8).repeat(3, -1)
    dense = rng.uniform(-1, 1, size=real.shape).astype(np.float32)
    real_stats, sparse_stats = shape_metrics.blob_stats(real), shape_metrics.blob_stats(sparse)
    assert shape_metrics.single_blob_fraction(real_stats) == 1.0
    assert shape_metrics.single_blob_fraction(sparse_stats) < 0.05
    other_real = shape_metrics.blob_stats(rendered(seed=1))
    real_distance = shape_metrics.area_distance(other_real, real_stats)
    assert shape_metrics.area_distance(shape_metrics.blob_stats(dense), real_stats) > 20 * real_distance
    assert shape_metrics.area_distance(sparse_stats, real_stats) > 5 * real_distance


def test_wasserstein_matches_sorted_differences_and_a_hand_example():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=50), rng.normal(2, 1, size=50)
    assert shape_metrics.wasserstein_1d(a, b) == pytest.approx(np.mean(np.abs(np.sort(a) - np.sort(b))))
    assert shape_metrics.wasserstein_1d([0.0], [0.0, 1.0]) == pytest.approx(0.5)
    assert shape_metrics.wasserstein_1d([1, 2, 3], [1, 2, 3]) == 0.0


def test_motion_deviation_is_small_for_constant_velocity_with_bounces_and_large_for_jitter():
    fast = [shapes.ShapeParams("circle", (250, 250, 0), 6.0, (20.0, 30.0), (3.4, -3.1), seed=0),
            shapes.ShapeParams("square", (0, 250, 250), 7.0, (40.0, 12.0), (-2.9, 3.3), seed=0)]
    bouncing = np.stack([shapes.render_video(p, 48) for p in fast])
    assert (np.diff(np.sign(np.diff(shapes.trajectory(fast[0], 48, 64), axis=0)), axis=0) != 0).any()
    smooth = shape_metrics.motion_deviation(shape_metrics.blob_stats(bouncing))
    assert smooth["motion_deviation"] < 0.6 and smooth["motion_valid_fraction"] > 0.2
    assert smooth["mean_speed"] == pytest.approx(np.hypot(3.4, 3.1), abs=0.5)
    rng = np.random.default_rng(4)
    jitter = np.stack([shapes.render_video(shapes.ShapeParams(
        "circle", (250, 250, 0), 6.0, tuple(rng.uniform(16, 48, 2)), (0.0, 0.0), 0), 1)[0]
        for _ in range(16)])[None]
    assert shape_metrics.motion_deviation(shape_metrics.blob_stats(jitter))["motion_deviation"] > 5.0
    empty = shape_metrics.motion_deviation(shape_metrics.blob_stats(np.zeros_like(jitter)))
    assert empty["motion_deviation"] is None and empty["motion_valid_fraction"] == 0.0


def test_frechet_distance_of_diagonal_gaussians_has_the_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var1, var2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    got = frechet.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
    assert got == pytest.approx(expected, rel=1e-10)
    assert got == pytest.approx(5.0 + 4.0 + 1.0)


def test_frechet_distance_matches_eigenvalues_of_the_product_on_random_gaussians():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(8, 8)), rng.normal(size=(8, 5))  # the second is rank-deficient
    sigma1, sigma2 = a @ a.T, b @ b.T
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    # tr((S1 S2)^1/2) is the sum of square roots of the eigenvalues of S1 S2 (real, >= 0).
    eigenvalues = np.linalg.eigvals(sigma1 @ sigma2).real
    cross = np.sqrt(np.clip(eigenvalues, 0, None)).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * cross
    assert frechet.frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-7)
    assert frechet.frechet_distance(mu2, sigma2, mu1, sigma1) == pytest.approx(expected, rel=1e-7)
    assert frechet.frechet_distance(mu1, sigma1, mu1, sigma1) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="mismatched"):
        frechet.frechet_distance(mu1, sigma1, mu2[:3], sigma2[:3, :3])


def test_feature_frechet_distance_grows_with_the_shift_between_samples():
    rng = np.random.default_rng(6)
    base = rng.normal(size=(400, 4))
    same = frechet.feature_frechet_distance(base, rng.normal(size=(400, 4)))
    shifted = frechet.feature_frechet_distance(base, rng.normal(size=(400, 4)) + 1.0)
    assert same < 0.3 and shifted == pytest.approx(4.0, abs=0.6)


class TinyI3D(tf.Module):
    """Stands in for I3D with its calling convention; its 'features' describe what it was fed."""

    @tf.function(input_signature=[tf.TensorSpec([None, None, 224, 224, 3], tf.float32, name="input_frames")])
    def serve(self, input_frames):
        shape = tf.cast(tf.shape(input_frames), tf.float32)
        stats = tf.stack([tf.reduce_min(input_frames, axis=[1, 2, 3, 4]),
                          tf.reduce_max(input_frames, axis=[1, 2, 3, 4]),
                          tf.reduce_mean(input_frames, axis=[1, 2, 3, 4]),
                          tf.fill([shape[0]], shape[1])], axis=1)
        return {"default": stats}


def test_i3d_path_preprocesses_and_calls_the_serving_signature(tmp_path):
    module = TinyI3D()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve})
    videos = np.zeros((3, 5, 32, 32, 3), np.uint8)
    videos[1] = 255
    videos[2, :, :16] = 255
    features = frechet.I3DFeatures(str(tmp_path), batch_size=2)(videos)
    assert features.shape == (3, 4)
    np.testing.assert_allclose(features[:, :2], [[-1, -1], [1, 1], [-1, 1]], atol=1e-6)
    # Half white, half black: the reference's resize (no half-pixel centres) moves the edge a
    # little, so the mean is what that resize gives, not 0.
    from tests.stand_ins import reference_resize
    expected = reference_resize(videos[2:3].astype(np.float64) * 2 / 255 - 1).mean()
    assert features[2, 2] == pytest.approx(expected, abs=1e-5) and expected != pytest.approx(0.0, abs=0.01)
    np.testing.assert_array_equal(features[:, 3], 5)
    assert frechet.i3d_preprocess(videos).shape == (3, 5, 224, 224, 3)
    with pytest.raises(ValueError, match="not a loadable SavedModel"):
        frechet.I3DFeatures(str(tmp_path / "missing"))
