"""trainer.evaluation.real_clips: which real clips the metrics compare against."""

import numpy as np
import pytest

from tests.trainer_shards import write_shape_shards
from trainer.evaluation import real_clips


def test_real_sets_hold_different_videos(tmp_path):
    shards = write_shape_shards(str(tmp_path / "shards"))
    real, reference, pool = real_clips.load_real_clips(shards, "train", 8, seed=1)
    assert real.shape == reference.shape == (8, 4, 32, 32, 3) and len(pool) == 48
    def colours(videos):  # every video has its own colour; the brightest pixel of a clip shows it
        return {tuple(v.reshape(-1, 3)[np.argmax(v.reshape(-1, 3).sum(1))]) for v in videos}
    assert len(colours(real)) > 3 and not colours(real) & colours(reference)
    few = write_shape_shards(str(tmp_path / "few"), num_videos=1)
    with pytest.raises(ValueError, match="too few videos"):
        real_clips.load_real_clips(few, "train", 8)


def test_real_sets_do_not_depend_on_the_order_the_shards_hold_the_clips_in(tmp_path, monkeypatch):
    monkeypatch.setattr(real_clips, "READ_MIN", 20)  # pick 20 of the 48 clips
    forward = real_clips.load_real_clips(write_shape_shards(str(tmp_path / "a")), "train", 4, seed=2)
    backward = real_clips.load_real_clips(write_shape_shards(str(tmp_path / "b"), reverse=True),
                                        "train", 4, seed=2)
    for one, other in zip(forward, backward):
        np.testing.assert_array_equal(one, other)
    assert len(forward[2]) == 20

