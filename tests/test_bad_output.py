"""Faults a user meets before any video is decoded: each a one-line error, not a traceback."""

import os
import subprocess
import sys

import pytest

from pipeline import main as pipeline_main
from pipeline.options import JobConfig
from tests.trainer_shards import write_shards
from trainer import data

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_output_that_is_a_file_is_refused_by_name(tmp_path):
    output = tmp_path / "not_a_folder"
    output.write_text("x")
    with pytest.raises(ValueError, match="is an existing file, not a folder"):
        pipeline_main.check_output(str(output))
    videos = tmp_path / "videos"
    videos.mkdir()
    result = subprocess.run([sys.executable, "-m", "pipeline.main", "--dataset=folder",
                             f"--input={videos}", f"--output={output}"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == pipeline_main.EXIT_USAGE
    assert f"--output={output} is an existing file" in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_output_is_refused_before_decoding(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores the mode bits: use a path under a file
            target = str(tmp_path / "file" / "shards")
            (tmp_path / "file").write_text("x")
        else:
            target = str(locked / "shards")
        with pytest.raises(ValueError, match="cannot be written"):
            pipeline_main.check_output(target)
    finally:
        os.chmod(locked, 0o700)


def test_size_that_no_network_takes_is_refused_at_parse_time():
    with pytest.raises(ValueError, match="--size=63"):
        JobConfig(dataset="folder", input="in", output="out", size=63)
    assert JobConfig(dataset="folder", input="in", output="out", size=32).size == 32


def test_missing_tfrecords_folder_says_it_does_not_exist(tmp_path):
    with pytest.raises(data.DataError, match="does not exist"):
        data.resolve_shards(str(tmp_path / "nowhere"))
    shards = write_shards(tmp_path / "shards", num_files=1, clips_per_file=2)
    assert data.resolve_shards(shards).files
