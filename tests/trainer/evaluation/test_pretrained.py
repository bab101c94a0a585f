"""trainer.evaluation.pretrained: where I3D and Inception-v3 come from, up to the point of downloading them.

Nothing is downloaded here (conftest sets MOCOGAN_OFFLINE): the download calls themselves are
replaced by ones that fail as an offline machine's do, or are never reached.
"""

import os
import urllib.error

import pytest

from trainer.evaluation import pretrained


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _offline_download(*args, **kwargs):
    raise urllib.error.URLError("[Errno -2] Name or service not known")


def test_offline_without_a_copy_names_both_ways_and_the_save_command(cache):
    with pytest.raises(pretrained.Unavailable) as error:
        pretrained.i3d_path()
    message = str(error.value)
    assert "FVD needs I3D" in message and str(cache) in message and pretrained.CACHE_ENV in message
    assert "online" in message and "--i3d_model=" in message and pretrained.SAVE_COMMAND in message
    with pytest.raises(pretrained.Unavailable, match="FID needs Inception-v3.*--inception_weights="):
        pretrained.inception_path()


def test_a_failed_download_is_reported_with_its_cause(cache, monkeypatch):
    monkeypatch.setenv(pretrained.OFFLINE_ENV, "0")
    monkeypatch.setattr(pretrained, "_hub_download", _offline_download)
    with pytest.raises(pretrained.Unavailable, match=r"downloading https://tfhub.dev/deepmind/i3d-kinetics-400/1 "
                                                     r"failed \(.*Name or service not known"):
        pretrained.i3d_path()
    # TF Hub was pointed at the documented cache folder before it was asked.
    assert os.environ["TFHUB_CACHE_DIR"] == os.path.join(str(cache), "tfhub")

    def keras_offline(folder):
        raise Exception(f"URL fetch failure on {pretrained.INCEPTION_URL}")

    monkeypatch.setattr(pretrained, "_keras_download", keras_offline)
    with pytest.raises(pretrained.Unavailable, match="URL fetch failure"):
        pretrained.inception_path()


def test_a_download_is_noted_and_reused_without_asking_again(cache, monkeypatch, tmp_path):
    folder = tmp_path / "tfhub" / "i3d"
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    monkeypatch.setenv(pretrained.OFFLINE_ENV, "0")
    monkeypatch.setattr(pretrained, "_hub_download", lambda handle: str(folder))
    assert pretrained.i3d_path() == str(folder)
    monkeypatch.setattr(pretrained, "_hub_download", _offline_download)
    monkeypatch.setenv(pretrained.OFFLINE_ENV, "1")
    assert pretrained.i3d_path() == str(folder)  # from the cache: no download, even offline


def test_a_cached_inception_file_is_used_offline(cache):
    (cache / "inception").mkdir(parents=True)
    (cache / "inception" / pretrained.INCEPTION_FILE).write_bytes(b"weights")
    assert pretrained.inception_path() == str(cache / "inception" / pretrained.INCEPTION_FILE)


def test_a_local_copy_that_is_missing_is_named(cache, tmp_path):
    with pytest.raises(pretrained.Unavailable, match=f"--i3d_model={tmp_path}/nowhere does not exist"):
        pretrained.i3d_path(str(tmp_path / "nowhere"))
    assert pretrained.i3d_path(str(tmp_path)) == str(tmp_path)
