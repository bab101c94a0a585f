"""Incremental runs of the preprocessing job: only the videos no earlier shard set holds.

With `--incremental=on` the job's --output is a dataset root holding versioned shard sets:

    <output>/20261121T224512.123456Z/manifest.json, train-00000-of-00001.tfrecord, ...
    <output>/20261122T030000.000000Z/...       the next run: only the videos that arrived since

A version is the UTC time the run started (sortable as text; the layout, its listing and the
manifest's entry are pipeline/shard_layout.py). Each set's manifest records, in its typed
`incremental` entry, the fingerprint (size and modification time, from
`pipeline.sources.source_fingerprint`) of every video the run processed, whether it gave clips or
failed, so a failed video is not retried until it changes. A later run processes a video when no
earlier set has its id, or when its fingerprint differs (a changed video); the ids of changed
videos go to the new manifest's `superseded` list, and readers skip those ids' clips in every
earlier set. Nothing new: the job says so, writes nothing and exits 0. A set folder without a
manifest (a killed run) is deleted by the next incremental run, which processes its videos again.

`--incremental=auto` (the default) is on when <output> already holds versioned sets and off
otherwise; off is the single-set layout (<output>/manifest.json, replaced by each run).

    plan = plan_run(config, listed.items, listed.class_names)   # None when not incremental
    plan.items            # the sources to process; empty means nothing new
    plan.config.output    # <output>/<version>
    plan.manifest_entry() # the manifest's `incremental` entry
"""

import dataclasses
import datetime
import logging
import posixpath

import tensorflow as tf

from pipeline import schema, shard_layout, sources
from pipeline.shard_layout import Fingerprint, IncrementalEntry

_log = logging.getLogger("pipeline.incremental")

MODES = ("auto", "on", "off")
INCREMENTAL_DATASETS = ("ucf101", "folder")


class IncrementalError(ValueError):
    """The output cannot take an incremental run as asked; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """What an incremental run processes and where it writes."""

    config: object  # the JobConfig, with output = <root>/<version>
    root: str
    version: str
    items: tuple  # VideoSource to process
    fingerprints: dict[str, Fingerprint]  # video_id -> fingerprint, of every item
    new: tuple[str, ...]  # ids no earlier set holds
    changed: tuple[str, ...]  # ids an earlier set holds with another fingerprint (superseded)
    listed: int  # videos in the input
    earlier_sets: tuple[str, ...]

    def manifest_entry(self) -> IncrementalEntry:
        return IncrementalEntry(version=self.version, listed=self.listed, new=self.new,
                                changed=self.changed, fingerprints=self.fingerprints,
                                earlier_sets=self.earlier_sets)


# ----------------------------------------------------------------------------------------------
# The dataset root


def is_incremental(mode: str, root: str, dataset: str) -> bool:
    """Whether this run writes a versioned set; refuses layouts that would mix."""
    if mode not in MODES:
        raise IncrementalError(f"--incremental={mode}: choose one of {MODES}")
    versioned = bool(shard_layout.version_folders(root))
    single = tf.io.gfile.exists(posixpath.join(root, schema.MANIFEST_NAME))
    if mode == "auto":
        mode = "on" if versioned else "off"
    if mode == "off":
        if versioned:
            raise IncrementalError(
                f"{root} holds versioned shard sets from incremental runs; a single-set run "
                "would mix layouts. Pass --incremental=on, or a new --output for a single set.")
        return False
    if single:
        raise IncrementalError(
            f"{root} holds a single shard set ({schema.MANIFEST_NAME} directly in it), which "
            "does not record what it processed; start incremental runs in a new --output, or "
            "run with --incremental=off to rebuild this one")
    if dataset not in INCREMENTAL_DATASETS:
        raise IncrementalError(f"--incremental=on works for --dataset in {INCREMENTAL_DATASETS}, "
                               f"not {dataset!r}")
    return True


def new_version(existing: list[str], now: datetime.datetime | None = None) -> str:
    version = shard_layout.version_name(now or datetime.datetime.now(datetime.timezone.utc))
    if existing and version <= existing[-1]:
        raise IncrementalError(f"the clock ({version}) is behind the newest shard set "
                               f"{existing[-1]}; fix the clock before running again")
    return version


# ----------------------------------------------------------------------------------------------
# What is new


def held_fingerprints(sets: list[schema.ShardSet]) -> dict[str, Fingerprint]:
    """video_id -> fingerprint of the set that holds it now (later sets win)."""
    held = {}
    for shard_set in sets:
        if shard_set.manifest.incremental is not None:
            held.update(shard_set.manifest.incremental.fingerprints)
    return held


def fingerprint(path: str) -> Fingerprint:
    """The source's fingerprint; a file that cannot be read gets a fixed one, so it is tried once
    (and listed as failed) rather than on every run."""
    try:
        return Fingerprint.from_dict(sources.source_fingerprint(path))
    except (tf.errors.OpError, OSError):
        return Fingerprint(size=-1, mtime=-1.0)


def check_compatible(config, class_names, sets: list[schema.ShardSet]) -> None:
    """The new set must be readable with the earlier ones as one data set."""
    if not sets:
        return
    last = sets[-1].manifest
    now = {"dataset": config.dataset, "clip_shape": (config.num_frames, config.size, config.size, 3),
           "encoding": config.encoding, "compression": config.compression, "fps": config.fps,
           "frame_stride": config.frame_stride, "class_names": tuple(class_names)}
    before = {field: getattr(last, field) for field in shard_layout.SHARED_FIELDS}
    differ = [f"{field}: earlier {before[field]!r}, now {now[field]!r}"
              for field in shard_layout.SHARED_FIELDS if before[field] != now[field]]
    if differ:
        raise IncrementalError(
            f"this run does not match the shard sets under {posixpath.dirname(sets[-1].path)} "
            f"({'; '.join(differ)}). Labels or clips would not mean the same across sets: use the "
            "same options (and class folders), or write a new --output.")


def plan_run(config, items, class_names) -> RunPlan | None:
    """The plan of an incremental run, or None when the run is not incremental."""
    root = shard_layout.normalise(config.output)
    if not is_incremental(config.incremental, root, config.dataset):
        return None
    sets, incomplete = schema.read_sets(root)
    for path in incomplete:
        _log.warning("removing %s: a shard set without a manifest (a killed run); its videos are "
                     "processed again", path)
        tf.io.gfile.rmtree(path)
    check_compatible(config, class_names, sets)
    held = held_fingerprints(sets)
    todo, new, changed, prints = [], [], [], {}
    for item in items:
        current = fingerprint(item.path)
        before = held.get(item.video_id)
        if before is not None and before.same_as(current):
            continue
        (changed if before is not None else new).append(item.video_id)
        todo.append(item)
        prints[item.video_id] = current
    version = new_version([s.name for s in sets])
    return RunPlan(config=dataclasses.replace(config, output=posixpath.join(root, version)),
                   root=root, version=version, items=tuple(todo), fingerprints=prints,
                   new=tuple(new), changed=tuple(changed), listed=len(items),
                   earlier_sets=tuple(s.name for s in sets))


def restrict_expected_clips(expected: dict[str, float], items, todo) -> dict[str, float]:
    """Scales the expected clips per split (which sizes the shards) to the videos processed."""
    total = {split: sum(1 for i in items if i.split == split) for split in expected}
    kept = {split: sum(1 for i in todo if i.split == split) for split in expected}
    return {split: expected[split] * kept[split] / total[split]
            for split in expected if kept[split]}


def describe_nothing_new(plan: RunPlan) -> str:
    return (f"nothing new: all {plan.listed} videos are held, unchanged, by the "
            f"{len(plan.earlier_sets)} shard sets under {plan.root}; nothing was written")


def summary(plan: RunPlan) -> str:
    return (f"incremental run {plan.version}: {len(plan.new)} new and {len(plan.changed)} changed "
            f"of {plan.listed} videos ({len(plan.earlier_sets)} earlier sets)")
