"""Published model versions: `<publish_dir>/<N>/` SavedModels, a `latest` pointer, retention.

    <publish_dir>/1/saved_model.pb ...      version 1 (with metrics.json beside the SavedModel)
    <publish_dir>/2/...
    <publish_dir>/latest                    "2\\n": the version to use

Versions are integers counting up, the layout TensorFlow Serving watches (`--model_base_path=
<publish_dir>` serves the highest number). A version appears whole or not at all: the caller
exports into `staging_dir(...)` (a hidden folder beside the versions, which Serving ignores) and
`promote` renames it into place, then rewrites `latest` through a temporary file and a rename.
`keep_last` removes the oldest versions beyond K. Local or mounted file systems only: object
stores cannot rename a folder in one step.
"""

import json
import os
import shutil

LATEST_NAME = "latest"
METRICS_NAME = "metrics.json"
STAGING_PREFIX = ".staging-"


def _check_local(publish_dir: str) -> None:
    if "://" in publish_dir:
        raise ValueError(f"--publish_dir={publish_dir}: publishing needs a local or mounted file "
                         "system (a version is renamed into place in one step, which object "
                         "stores cannot do); mount the bucket or publish locally and copy")


def versions(publish_dir: str) -> list[int]:
    """The published version numbers, ascending."""
    if not os.path.isdir(publish_dir):
        return []
    return sorted(int(name) for name in os.listdir(publish_dir)
                  if name.isdigit() and os.path.isdir(os.path.join(publish_dir, name)))


def latest_version(publish_dir: str) -> int | None:
    """The version `latest` points at; the highest one when the pointer is missing or broken."""
    try:
        with open(os.path.join(publish_dir, LATEST_NAME)) as f:
            version = int(f.read().strip())
        if os.path.isdir(os.path.join(publish_dir, str(version))):
            return version
    except (OSError, ValueError):
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
        with open(path) as f:
            return version, json.load(f)
    except (OSError, ValueError):
        return version, None


def next_version(publish_dir: str) -> int:
    published = versions(publish_dir)
    return published[-1] + 1 if published else 1


def staging_dir(publish_dir: str, version: int) -> str:
    """Where to export version `version` before `promote` renames it into place."""
    _check_local(publish_dir)
    os.makedirs(publish_dir, exist_ok=True)
    path = os.path.join(publish_dir, f"{STAGING_PREFIX}{version}")
    if os.path.exists(path):  # left by a killed run
        shutil.rmtree(path)
    return path


def promote(publish_dir: str, staged: str, version: int) -> str:
    """Renames the staged export to `<publish_dir>/<version>` and points `latest` at it."""
    target = os.path.join(publish_dir, str(version))
    if os.path.exists(target):
        raise FileExistsError(f"{target} exists already; refusing to replace a published version")
    os.replace(staged, target)
    write_pointer(publish_dir, version)
    return target


def write_pointer(publish_dir: str, version: int) -> None:
    path = os.path.join(publish_dir, LATEST_NAME)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{version}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def keep_last(publish_dir: str, count: int) -> list[int]:
    """Deletes all but the newest `count` versions (never the one `latest` names); returns them."""
    if count < 1:
        raise ValueError(f"--keep_versions={count} must be at least 1")
    current = latest_version(publish_dir)
    removed = [v for v in versions(publish_dir)[:-count] if v != current]
    for version in removed:
        shutil.rmtree(os.path.join(publish_dir, str(version)))
    for name in os.listdir(publish_dir):  # staging folders of killed runs
        if name.startswith(STAGING_PREFIX):
            shutil.rmtree(os.path.join(publish_dir, name), ignore_errors=True)
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
