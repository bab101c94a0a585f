"""The real side of FVD, computed once per shard set and protocol and kept beside the run.

    <model_dir>/fvd_real_stats/<key>.npz   mean and covariance of the I3D logits of the real clips
                                           and of the reference clips (real against real)

The key is a hash of what the statistics depend on: the shard set (the content of every manifest
behind the files read, and the files' names), the protocol (N, split, pick rule, seed, frames) and
the network (the weights' origin, or the SavedModel's path). The file also holds those fields in
full, and a file whose fields differ from the ones asked for is never used: a new shard set, another
N or other weights compute new statistics. Written under a temporary name and renamed, so a reader
never sees half a file. Evaluation during training, trainer.evaluation.evaluate (and so `make
retrain`) and the demo's report then run I3D on the generated clips only.
"""

import hashlib
import io
import json
import os

import numpy as np
import tensorflow as tf

from pipeline import files
from trainer import data as data_lib
from trainer.evaluation.real_clips import RealClips
from trainer.evaluation.scoring import Scorer

SUBDIR = "fvd_real_stats"
SIDES = ("real", "reference")


def shard_set_fingerprint(shards: data_lib.Shards) -> str:
    """sha256 of the manifests behind `shards.files` (a dataset root has several) and the files'
    names: a changed, added or rebuilt set gives another fingerprint."""
    digest = hashlib.sha256()
    for folder in sorted({os.path.dirname(path) for path in shards.files} | {shards.directory}):
        manifest = os.path.join(folder, "manifest.json")
        if tf.io.gfile.exists(manifest):
            with tf.io.gfile.GFile(manifest, "rb") as f:
                digest.update(folder.encode() + b"\0" + f.read() + b"\0")
    for path in sorted(shards.files):
        digest.update(os.path.basename(path).encode() + b"\0")
    return digest.hexdigest()


def network_identity(info: dict) -> str:
    """What names FVD's network for the key: the weights' origin (with its hash), else the path."""
    return info.get("weights") or f"saved_model {info.get('model')}"


class RealStatsCache:
    """One entry: load() gives {"real": (mean, cov), "reference": (mean, cov)} or None."""

    def __init__(self, model_dir: str, fields: dict):
        self.fields = dict(fields)
        text = json.dumps(self.fields, sort_keys=True)
        self.key = hashlib.sha256(text.encode()).hexdigest()[:24]
        self.path = os.path.join(model_dir, SUBDIR, f"{self.key}.npz")

    def load(self) -> dict | None:
        if not tf.io.gfile.exists(self.path):
            return None
        try:
            with tf.io.gfile.GFile(self.path, "rb") as f:
                arrays = np.load(io.BytesIO(f.read()))
                stored = json.loads(str(arrays["fields"]))
                stats = {side: (arrays[f"{side}_mean"], arrays[f"{side}_cov"]) for side in SIDES}
        except (OSError, ValueError, KeyError) as error:  # unreadable: computed again, then replaced
            tf.get_logger().warning("ignoring unreadable %s (%s)", self.path, error)
            return None
        return stats if stored == self.fields else None

    def store(self, stats: dict) -> str:
        buffer = io.BytesIO()
        arrays = {f"{side}_{part}": value for side in SIDES
                  for part, value in zip(("mean", "cov"), stats[side])}
        np.savez(buffer, fields=json.dumps(self.fields, sort_keys=True), **arrays)
        return files.atomic_write(self.path, buffer.getvalue())


def cache_for(model_dir: str, shards: data_lib.Shards, protocol_record: dict, network_info: dict) -> RealStatsCache:
    """The entry of this shard set, protocol (its record: N, split, pick, seed, frames) and network."""
    what = {key: protocol_record[key] for key in ("num_real", "num_reference", "num_frames", "split",
                                                 "pick", "seed")}
    return RealStatsCache(model_dir, {"shard_set": shard_set_fingerprint(shards), "protocol": what,
                                      "network": network_identity(network_info)})


def scorer_with_cache(clips: RealClips, networks: dict, network_info: dict, shape_motion: bool,
                      model_dir: str, protocol_record: dict) -> tuple[Scorer, dict]:
    """A Scorer of `clips` whose FVD real side comes from the cache when it holds this entry, and
    is stored there when it did not; and {"path", "reused"} of the entry (empty without FVD)."""
    if "fvd" not in networks or not model_dir:
        return Scorer(clips.real, clips.reference, networks, shape_motion), {}
    cache = cache_for(model_dir, clips.shards, protocol_record, network_info["fvd"])
    stats = cache.load()
    scorer = Scorer(clips.real, clips.reference, networks, shape_motion, {"fvd": stats} if stats else None)
    if stats is None:
        cache.store(scorer.gaussians["fvd"])
    return scorer, {"path": cache.path, "reused": stats is not None}
