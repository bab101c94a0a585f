"""Published model versions: `<publish_dir>/<N>/` SavedModels, a `latest` pointer, retention.

    <publish_dir>/1/saved_model.pb ...      version 1 (with metrics.json beside the SavedModel)
    <publish_dir>/2/...
    <publish_dir>/latest                    "2\\n": the version to use

Versions are integers counting up, the layout TensorFlow Serving watches (`--model_base_path=
<publish_dir>` serves the highest number). On a local or mounted file system a version appears
whole or not at all: the caller
exports into `staging_dir(...)` (a hidden folder beside the versions, which Serving ignores) and
`promote` renames it into place, then rewrites `latest` through a temporary file and a rename.
`keep_last` removes the oldest versions beyond K.

All through tf.io.gfile, so <publish_dir> may be gs://. A folder rename is one step only on a
local or mounted file system; where it is not (object stores such as gs://, TensorFlow's ram://,
which renames a folder's marker and leaves its files behind), `promote` copies the staged files
into <publish_dir>/<N>/ one by one and the version appears file by file: there `latest`, written
last, is what names a complete version (read it; do not watch the folders).
"""

import json
import os

import tensorflow as tf

from pipeline import files

LATEST_NAME = "latest"
METRICS_NAME = "metrics.json"
STAGING_PREFIX = ".staging-"
gfile = tf.io.gfile


def renames_folders(path: str) -> bool:
    """Whether a folder under `path` can be renamed in one step (a local or mounted file system)."""
    return "://" not in path


def _names(folder: str) -> list[str]:
    return [n.rstrip("/") for n in gfile.listdir(folder)] if gfile.isdir(folder) else []


def versions(publish_dir: str) -> list[int]:
    """The published version numbers, ascending."""
    return sorted(int(name) for name in _names(publish_dir)
                  if name.isdigit() and gfile.isdir(os.path.join(publish_dir, name)))


def latest_version(publish_dir: str) -> int | None:
    """The version `latest` points at; the highest one when the pointer is missing or broken."""
    try:
        with gfile.GFile(os.path.join(publish_dir, LATEST_NAME)) as f:
            version = int(f.read().strip())
        if gfile.isdir(os.path.join(publish_dir, str(version))):
            return version
    except (tf.errors.OpError, ValueError):
        pass
    published = versions(publish_dir)
    return published[-1] if published else None


def published_metrics(publish_dir: str) -> tuple[int | None, dict | None]:
    """(latest version, the metrics it was published with), (None, None) when nothing is published."""
    version = latest_version(publish_dir)
    if version is None:
        return None, None
    path = os.path.join(publish_dir, str(version), METRICS_NAME)
    try:
        with gfile.GFile(path) as f:
            return version, json.load(f)
    except (tf.errors.OpError, ValueError):
        return version, None


def next_version(publish_dir: str) -> int:
    published = versions(publish_dir)
    return published[-1] + 1 if published else 1


def staging_dir(publish_dir: str, version: int) -> str:
    """Where to export version `version` before `promote` moves it into place."""
    gfile.makedirs(publish_dir)
    path = os.path.join(publish_dir, f"{STAGING_PREFIX}{version}")
    if gfile.exists(path):  # left by a killed run
        gfile.rmtree(path)
    return path


def move_file(source: str, target: str) -> None:
    """A rename on any file system tf.io.gfile reaches (a copy and a delete where it must be)."""
    gfile.rename(source, target, overwrite=True)


def promote(publish_dir: str, staged: str, version: int) -> str:
    """Moves the staged export to `<publish_dir>/<version>` and points `latest` at it."""
    target = os.path.join(publish_dir, str(version))
    if gfile.exists(target):
        raise FileExistsError(f"{target} exists already; refusing to replace a published version")
    if renames_folders(publish_dir):
        gfile.rename(staged, target)
    else:
        _copy_tree(staged, target)
        gfile.rmtree(staged)
    write_pointer(publish_dir, version)
    return target


def _copy_tree(source: str, target: str) -> None:
    for folder, _, files in gfile.walk(source):
        relative = os.path.relpath(folder, source)  # "." for the top: no "/." in a URL path
        into = target if relative == "." else os.path.join(target, relative)
        gfile.makedirs(into)
        for name in files:
            gfile.copy(os.path.join(folder, name), os.path.join(into, name), overwrite=True)


def write_pointer(publish_dir: str, version: int) -> None:
    files.atomic_write(os.path.join(publish_dir, LATEST_NAME), f"{version}\n")


def keep_last(publish_dir: str, count: int) -> list[int]:
    """Deletes all but the newest `count` versions (never the one `latest` names); returns them."""
    if count < 1:
        raise ValueError(f"--keep_versions={count} must be at least 1")
    current = latest_version(publish_dir)
    removed = [v for v in versions(publish_dir)[:-count] if v != current]
    for version in removed:
        gfile.rmtree(os.path.join(publish_dir, str(version)))
    for name in _names(publish_dir):  # staging folders of killed runs
        if name.startswith(STAGING_PREFIX):
            gfile.rmtree(os.path.join(publish_dir, name))
    return removed


def is_not_worse(new: float | None, published: float | None, lower_is_better: bool,
                 tolerance: float) -> tuple[bool, str]:
    """The promotion rule: (publish?, why), comparing one metric of the new and published models.

    `tolerance` is in the metric's own units: a new value up to `tolerance` worse still counts as
    not worse. Nothing published yet: publish. A missing (None) new value: do not.
    """
    if new is None:
        return False, "the new model's metric could not be computed"
    if published is None:
        return True, f"nothing comparable is published; new value {new:.6g}"
    limit = published + tolerance if lower_is_better else published - tolerance
    ok = new <= limit if lower_is_better else new >= limit
    direction = "lower" if lower_is_better else "higher"
    verdict = "not worse" if ok else "worse"
    return ok, (f"new {new:.6g} vs published {published:.6g} ({direction} is better, tolerance "
                f"{tolerance:g}, limit {limit:.6g}): {verdict}")
