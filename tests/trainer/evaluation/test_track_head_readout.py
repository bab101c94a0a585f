"""The track head read-out draws the motions it names and reports the head's own logits."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from trainer import config as config_lib
from trainer import discriminators
from trainer.evaluation import track_head_readout


@pytest.mark.parametrize("angle", [0, 30, 90])
def test_the_square_moves_at_the_speed_and_angle_asked(angle):
    clip = track_head_readout.moving_square(angle, 2.5, 16, 64)
    assert clip.shape == (1, 16, 64, 64, 3)
    features = discriminators.track_features(clip).numpy()[0]
    velocity = features[2:4] * discriminators.TRACK_SPEED_SCALE
    expected = [2.5 * math.cos(math.radians(angle)), 2.5 * math.sin(math.radians(angle))]
    np.testing.assert_allclose(velocity, expected, atol=0.25)  # whole pixels over 4 frames
    np.testing.assert_allclose(features[:2], [0, 0], atol=0.02)  # from the centre


def test_the_square_turns_whole_at_the_border():
    mask = track_head_readout.moving_square(0, 5.0, 16, 64)[0, ..., 0] > 0
    np.testing.assert_array_equal(mask.sum(axis=(1, 2)), 100)  # a 10x10 square in every frame
    steps = np.diff([np.nonzero(frame.any(axis=0))[0].mean() for frame in mask])
    assert steps.max() == 5.0 and steps.min() < 0  # 5 px a frame, then back from the wall


def test_readout_is_the_head_s_logit_for_each_speed_and_angle():
    keras.utils.set_random_seed(0)
    head = discriminators.TrackHead(8)
    table = track_head_readout.readout(head, [0, 45, 90], [1.0, 3.0], 16, 64)
    assert table.shape == (2, 3)
    direct = float(head(tf.constant(track_head_readout.moving_square(45, 3.0, 16, 64)))[0])
    assert table[1, 1] == pytest.approx(direct)
    assert len({round(v, 6) for v in table.ravel()}) > 1


def test_a_run_without_a_track_head_is_refused(tmp_path):
    config = config_lib.Config(model=config_lib.model_config("small"), clip_shape=(16, 64, 64, 3),
                               model_dir=str(tmp_path))
    config_lib.save_config(config)
    with pytest.raises(ValueError, match="without a track head"):
        track_head_readout.load_track_head(str(tmp_path))
