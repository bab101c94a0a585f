"""The colour-drift diagnosis tells a steady colour from one painted on the frame."""

import numpy as np
import pytest

from pipeline.datasets import shapes
from trainer.evaluation import colour_drift, shape_metrics


def moving_squares(colour_of_x, num_videos=4, frames=12, size=32):
    """uint8 videos of a 6-pixel square moving right 1.5 px a frame, coloured by its left edge."""
    videos = np.zeros((num_videos, frames, size, size, 3), np.uint8)
    for n in range(num_videos):
        for t in range(frames):
            x, y = int(2 + 1.5 * t), 8 + 3 * n
            videos[n, t, y:y + 6, x:x + 6] = colour_of_x(x)
    return videos


def test_a_steady_colour_has_no_spread_and_no_drift():
    clips = np.stack([shapes.render_video(shapes.sample_params(0, k), 16) for k in range(4)])
    figures = colour_drift.diagnose(clips)
    assert figures["interior_spread"] == 0.0 and figures["frame_drift"] == 0.0
    assert figures["position_r2"] == 0.0 and figures["time_r2"] == 0.0


def test_a_colour_painted_on_the_frame_is_explained_by_position():
    videos = moving_squares(lambda x: (120 + 5 * x, 200 - 4 * x, 90))
    figures = colour_drift.diagnose(videos)
    assert figures["position_r2"] > 0.99 and figures["time_r2"] > 0.95  # x moves with time here
    colours = shape_metrics.frame_colours(videos)
    expected = np.mean(np.linalg.norm(np.diff(colours, axis=1), axis=-1))
    assert figures["frame_drift"] == pytest.approx(expected) and expected > 5
    assert figures["interior_spread"] == 0.0  # each frame's square is still one colour


def test_frame_colours_are_the_interior_means_and_nan_without_a_blob():
    videos = moving_squares(lambda x: (200, 100, 50), num_videos=1, frames=3)
    videos[0, 1] = 0
    colours = shape_metrics.frame_colours(videos)
    np.testing.assert_array_equal(colours[0, [0, 2]], [[200, 100, 50]] * 2)
    assert np.isnan(colours[0, 1]).all()


def test_mask_figures_tell_a_hard_mask_from_a_soft_one():
    videos = moving_squares(lambda x: (200, 100, 50))
    on_square = shape_metrics.foreground_mask(videos).astype(np.float32)
    hard = colour_drift.mask_figures(videos, on_square)
    assert hard == {"mask_interior": 1.0, "mask_background": 0.0, "mask_soft": 0.0}
    soft = colour_drift.mask_figures(videos, 0.5 * on_square + 0.1 * (1 - on_square))
    assert soft["mask_interior"] == pytest.approx(0.5)
    assert soft["mask_background"] == 1.0 and soft["mask_soft"] == 1.0


def test_a_masked_generator_gives_its_videos_with_their_masks_in_batches():
    import dataclasses

    from trainer import config as config_lib, models
    from trainer.evaluation import evaluate
    from trainer.generation import sample
    model = dataclasses.replace(models.PRESETS["small"], gen_appearance="grey")
    config = config_lib.Config(model=model, clip_shape=(4, 32, 32, 3))
    generator = models.build_generator(model, 4, 32)
    videos, masks = evaluate.generate_videos(generator, config, 3, seed=2, batch_size=2,
                                             with_masks=True)
    assert videos.shape == (3, 4, 32, 32, 3) and masks.shape == (3, 4, 32, 32)
    # The same videos as without masks, batch by batch (seeds 2 and 4), and the masks of each.
    np.testing.assert_array_equal(videos, evaluate.generate_videos(generator, config, 3, seed=2,
                                                                   batch_size=2))
    last = sample.generate(generator, config, 1, seed=4, with_masks=True)
    _, expected = generator(generator.sample_latents(1, seed=4), with_masks=True)
    np.testing.assert_allclose(masks[2:], expected.numpy()[..., 0], atol=1e-6)
    np.testing.assert_array_equal(last[0], videos[2:])
    assert set(colour_drift.mask_figures(videos, masks)) == {"mask_interior", "mask_background",
                                                             "mask_soft"}
