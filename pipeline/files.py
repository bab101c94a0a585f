"""Atomic writes for both halves: a file appears whole under its name, or not at all.

Each writer writes under a temporary name of its own in the target's folder (the pid and a random
part, so two writers never share one), then renames it over the target; a writer that fails or is
killed leaves the old file in place, and a failure removes its temporary file.

    from pipeline import files
    files.atomic_write("gs://bucket/run/metrics.json", json.dumps(result))
    with files.atomic_path("out/export") as tmp:  # for writers that want a path of their own
        tf.saved_model.save(module, tmp)

Paths with a scheme (gs://, ram://...) go through tf.io.gfile; local ones through os, so that the
pipeline's media writes do not pay for TensorFlow's import. A folder (a SavedModel) can only be
renamed into place on a local path: object stores rename object by object.
"""

import contextlib
import os
import shutil
import uuid

# In every temporary name: tests (and people) look for leftovers by it.
PARTIAL = "partial"


def is_remote(path: str) -> bool:
    return "://" in path


def temporary_path(path: str) -> str:
    """A hidden name beside `path`, unique to this writer."""
    folder, name = os.path.split(path.rstrip("/"))
    return os.path.join(folder, f".{name}.{PARTIAL}-{os.getpid()}-{uuid.uuid4().hex[:12]}")


@contextlib.contextmanager
def atomic_path(path: str):
    """Yields a temporary path beside `path` to write a file or a folder into; renames it over
    `path` when the block succeeds (a folder replaces the old one), removes it when it fails."""
    tmp = temporary_path(path)
    folder = os.path.dirname(tmp)
    if folder:
        _makedirs(folder)
    try:
        yield tmp
        _replace(tmp, path.rstrip("/"))
    except BaseException:
        _remove(tmp)
        raise


def atomic_write(path: str, data: str | bytes) -> str:
    """Writes `data` (text or bytes) to `path` through a temporary name; returns `path`."""
    with atomic_path(path) as tmp:
        if is_remote(path):
            with _gfile().GFile(tmp, "wb" if isinstance(data, bytes) else "w") as f:
                f.write(data)
        else:
            with open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
                f.write(data)
    return path


def _gfile():
    import tensorflow as tf  # only for remote paths

    return tf.io.gfile


def _makedirs(folder: str) -> None:
    if is_remote(folder):
        _gfile().makedirs(folder)
    else:
        os.makedirs(folder, exist_ok=True)


def _replace(tmp: str, path: str) -> None:
    if is_remote(path):
        _gfile().rename(tmp, path, overwrite=True)
        return
    if os.path.isdir(tmp) and os.path.isdir(path):
        # rename(2) does not replace a full folder: the old one moves aside first and is deleted
        # only once the new one holds its name, so at every moment one of them is whole.
        aside = temporary_path(path)
        os.replace(path, aside)
        os.replace(tmp, path)
        shutil.rmtree(aside, ignore_errors=True)
        return
    os.replace(tmp, path)


def _remove(tmp: str) -> None:
    """Removes what a failed writer left under `tmp`, if anything."""
    if is_remote(tmp):
        gfile = _gfile()
        if gfile.isdir(tmp):
            gfile.rmtree(tmp)
        elif gfile.exists(tmp):
            gfile.remove(tmp)
    elif os.path.isdir(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
    elif os.path.lexists(tmp):
        os.remove(tmp)
