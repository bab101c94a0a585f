"""Replacing the shard set of an output folder without a moment when no complete set is there.

A job never deletes the set it replaces before its own is complete. It writes its shard files
beside the old ones under names no file in the folder has (`new_tag`: untagged names when the
folder holds no untagged shard file, else a fresh tag, see pipeline/shard_layout.py), writes the
manifest last (one atomic rename switches readers from the old set to the new one), and only then
`sweep`s: every shard file the folder's manifest does not list goes, with the work folders of
killed jobs. A job that fails or is interrupted sweeps too, which removes its own partial files
and leaves the old set, still listed by the old manifest, as it was. After any job the folder
holds the files its manifest lists and nothing else of ours (and no shard file when no job ever
completed there).

    tag = set_swap.new_tag(output)      # before the pipeline: the new set's file names
    ...                                  # pipeline; schema.write_manifest(output, manifest)
    set_swap.sweep(output)               # after it, whatever happened

The caller holds the output's lock (pipeline/run_lock.py) from before `new_tag` to after `sweep`,
so no other job's files are in flight. Listing and deleting go through tf.io.gfile (gs:// too).
"""

import logging
import posixpath
import uuid

import tensorflow as tf

from pipeline import schema, shard_layout

WORK_PREFIX = ".work-"  # the job's temporary folder inside the output (manifest_writer.new_work_dir)

_log = logging.getLogger("pipeline.set_swap")


def _names(output: str) -> list[str]:
    if not tf.io.gfile.isdir(output):
        return []
    return [name.rstrip("/") for name in tf.io.gfile.listdir(output)]  # gs:// lists "name/"


def shard_names(output: str) -> list[str]:
    """The names of the shard files directly in `output`, tagged or not."""
    return sorted(name for name in _names(output) if shard_layout.parse_shard_file_name(name))


def new_tag(output: str) -> str:
    """A tag whose shard names no file in `output` has: "" (plain names) when the folder holds no
    untagged shard file, else 8 fresh hex digits."""
    tags = {shard_layout.parse_shard_file_name(name).tag for name in shard_names(output)}
    if "" not in tags:
        return ""
    while True:
        tag = uuid.uuid4().hex[:8]
        if tag not in tags:
            return tag


def listed_files(output: str) -> set[str] | None:
    """The file names the folder's manifest lists; an empty set without a manifest, None when the
    manifest cannot be read (then nothing may be deleted on its word)."""
    if not tf.io.gfile.exists(posixpath.join(output, schema.MANIFEST_NAME)):
        return set()
    try:
        manifest = schema.read_manifest(output)
    except (ValueError, KeyError, TypeError, tf.errors.OpError) as error:
        _log.warning("not removing unlisted shard files from %s: its manifest cannot be read (%s)",
                     output, error)
        return None
    return {name for info in manifest.splits.values() for name in info.files}


def sweep(output: str) -> list[str]:
    """Deletes the shard files the folder's manifest does not list, and work folders left by
    killed jobs; returns the names removed."""
    listed = listed_files(output)
    if listed is None:
        return []
    removed = []
    for name in _names(output):
        path = posixpath.join(output, name)
        if shard_layout.parse_shard_file_name(name) and name not in listed:
            tf.io.gfile.remove(path)
        elif name.startswith(WORK_PREFIX) and tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        else:
            continue
        removed.append(name)
    if removed:
        _log.info("removed from %s what its manifest does not list: %s", output,
                  ", ".join(removed[:5]) + (f" and {len(removed) - 5} more" if len(removed) > 5 else ""))
    return removed
