"""The shard-set layout (pipeline/shard_layout.py): shard names, versioned sets under a root, the
typed incremental entry, and stale clips keyed the same for every spelling of a root."""

import dataclasses
import fnmatch
import json
import os

import pytest
import tensorflow as tf

from pipeline import schema, shard_layout
from tests.trainer_shards import write_shards
from trainer import data, shard_sets

FIRST, SECOND = "20260101T000000.000000Z", "20260102T000000.000000Z"


def test_shard_names_are_built_and_parsed_by_one_rule():
    assert shard_layout.shard_file_name("train", 2, 3, "gzip") == "train-00002-of-00003.tfrecord.gz"
    parsed = shard_layout.parse_shard_file_name("my-split-00001-of-00004.tfrecord")
    assert parsed == shard_layout.ShardName("my-split", 1, 4, "none")
    for name in ("train-1-of-2.tfrecord", "train-00000-of-00001.tfrecord.tmp", "manifest.json"):
        assert shard_layout.parse_shard_file_name(name) is None
    # The glob form matches what the builder writes, and only that compression.
    assert fnmatch.fnmatch(shard_layout.shard_file_name("val", 7, 12, "none"),
                           shard_layout.shard_glob("val", "none"))
    assert not fnmatch.fnmatch("val-00007-of-00012.tfrecord.gz",
                               shard_layout.shard_glob("val", "none"))


@pytest.mark.parametrize("spelling, normal", [
    ("shards/", "shards"), ("./shards/./v//", "shards/v"), ("/a/b/", "/a/b"), ("/", "/"),
    ("gs://bucket/shards/", "gs://bucket/shards"), ("ram://x//y/./", "ram://x/y")])
def test_paths_have_one_normal_spelling(spelling, normal):
    assert shard_layout.normalise(spelling) == normal


def test_only_version_folders_are_sets_and_complete_ones_have_a_manifest(tmp_path):
    root = tmp_path / "root"
    write_shards(root / FIRST, num_files=1, clips_per_file=1)
    (root / SECOND).mkdir()  # a killed run
    (root / "notes").mkdir()  # not a version: never a set
    write_shards(root / "other", num_files=1, clips_per_file=1)
    listing = shard_layout.list_versions(str(root) + "/")
    assert (listing.complete, listing.incomplete) == ((FIRST,), (SECOND,))
    assert listing.path(FIRST) == f"{root}/{FIRST}"
    assert shard_layout.is_versioned_root(str(root))
    assert not shard_layout.is_versioned_root(str(root / FIRST))  # a set, not a root


def _entry(**changes):
    entry = {"version": SECOND, "listed": 3, "new": ["c.avi"], "changed": ["video0_0.avi"],
             "superseded": ["video0_0.avi"], "earlier_sets": [FIRST],
             "fingerprints": {"c.avi": {"size": 10, "mtime": 1.5},
                              "video0_0.avi": {"size": 11, "mtime": 2.5}}}
    return {**entry, **changes}


def _edit_manifest(directory, edit):
    path = os.path.join(directory, schema.MANIFEST_NAME)
    with open(path) as f:
        manifest = json.load(f)
    edit(manifest)
    with open(path, "w") as f:
        json.dump(manifest, f)


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_manifests_untyped_entry_is_converted(tmp_path, version):
    directory = write_shards(tmp_path / "s", num_files=1, clips_per_file=1)

    def as_older(manifest):
        manifest.update(schema_version=version, producer={"name": "pipeline.main",
                                                          "incremental": _entry()})
        manifest.pop("incremental")
    _edit_manifest(directory, as_older)
    manifest = schema.read_manifest(directory)
    entry = manifest.incremental
    assert isinstance(entry, shard_layout.IncrementalEntry) and manifest.schema_version == version
    assert (entry.version, entry.listed, entry.new, entry.superseded, entry.earlier_sets) == (
        SECOND, 3, ("c.avi",), ("video0_0.avi",), (FIRST,))
    assert entry.fingerprints["c.avi"] == shard_layout.Fingerprint(size=10, mtime=1.5)
    assert manifest.producer == {"name": "pipeline.main"}  # one home: no copy left behind


def test_a_version_3_entry_round_trips_typed(tmp_path):
    entry = shard_layout.IncrementalEntry.from_dict(_entry())
    directory = write_shards(tmp_path / "s", num_files=1, clips_per_file=1)
    manifest = schema.read_manifest(directory)
    assert manifest.incremental is None and manifest.schema_version == schema.SCHEMA_VERSION
    schema.write_manifest(directory, dataclasses.replace(manifest, incremental=entry))
    assert schema.read_manifest(directory).incremental == entry
    with open(os.path.join(directory, schema.MANIFEST_NAME)) as f:
        assert "incremental" not in json.load(f)["producer"]


def _root_with_a_superseded_video(root):
    """Two sets; the second processed video0_0.avi again, so its clips in the first are stale."""
    write_shards(root / FIRST, num_files=1, clips_per_file=3)
    second = write_shards(root / SECOND, num_files=1, clips_per_file=2, seed=1)
    _edit_manifest(second, lambda manifest: manifest.update(incremental=_entry()))


def _video_ids(shards):
    spec = {schema.VIDEO_ID: schema.feature_spec()[schema.VIDEO_ID]}
    return sorted(tf.io.parse_single_example(r, spec)[schema.VIDEO_ID].numpy().decode()
                  for r in data.read_records(shards))


@pytest.mark.parametrize("suffix", ["", "/", "/./", "//"])
def test_stale_clips_are_dropped_whatever_the_spelling_of_the_root(tmp_path, suffix, monkeypatch):
    _root_with_a_superseded_video(tmp_path / "root")
    monkeypatch.chdir(tmp_path)
    # The first set's video0_0, video0_1, video0_2 and the second's video0_0, video0_1.
    expected = ["video0_0.avi", "video0_1.avi", "video0_1.avi", "video0_2.avi"]
    for root in (str(tmp_path / "root") + suffix, "./root" + suffix, "root" + suffix):
        contents = shard_sets.resolve_root(root, "train")
        stale = f"{shard_layout.normalise(root)}/{FIRST}\x00video0_0.avi"
        assert contents.excluded.keys == (stale,)
        shards = data.Shards(directory=root, manifest=contents.manifest, files=contents.files,
                             excluded=contents.excluded)
        assert _video_ids(shards) == expected, root
        assert _video_ids(data.resolve_shards(root)) == expected, root
