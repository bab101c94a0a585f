"""pipeline.files: a file (or folder) appears whole under its name or not at all, locally and
through tf.io.gfile (ram:// stands in for gs://), and a failed writer leaves nothing behind."""

import os
import subprocess
import sys

import pytest
import tensorflow as tf

from pipeline import files

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))


def _leftovers(folder) -> list[str]:
    return [name for name in tf.io.gfile.listdir(str(folder)) if files.PARTIAL in name]


@pytest.mark.parametrize("root", ["local", "ram://files_test"])
def test_text_and_bytes_replace_the_old_file_and_leave_no_temporary_name(tmp_path, root):
    folder = str(tmp_path / "new" / "folder") if root == "local" else f"{root}/new/folder"
    path = os.path.join(folder, "a.json")
    assert files.atomic_write(path, "old") == path  # the folder is made
    files.atomic_write(path, '{"new": 1}')
    with tf.io.gfile.GFile(path) as f:
        assert f.read() == '{"new": 1}'
    files.atomic_write(os.path.join(folder, "b.bin"), b"\x00\xff")
    with tf.io.gfile.GFile(os.path.join(folder, "b.bin"), "rb") as f:
        assert f.read() == b"\x00\xff"
    assert sorted(tf.io.gfile.listdir(folder)) == ["a.json", "b.bin"]


@pytest.mark.parametrize("root", ["local", "ram://files_fail"])
def test_a_failed_writer_keeps_the_old_file_and_removes_its_own(tmp_path, root):
    folder = str(tmp_path) if root == "local" else root
    path = os.path.join(folder, "metrics.json")
    files.atomic_write(path, "good")
    with pytest.raises(RuntimeError, match="killed"):
        with files.atomic_path(path) as tmp:
            with tf.io.gfile.GFile(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("killed mid-write")
    with tf.io.gfile.GFile(path) as f:
        assert f.read() == "good"
    assert _leftovers(folder) == []


def test_two_writers_never_share_a_temporary_name(tmp_path):
    names = {files.temporary_path(str(tmp_path / "x.json")) for _ in range(100)}
    assert len(names) == 100
    assert all(os.path.dirname(n) == str(tmp_path) and str(os.getpid()) in n for n in names)


def test_a_folder_replaces_the_old_one_and_a_failed_one_is_removed(tmp_path):
    target = tmp_path / "export"
    for content in ("one", "two"):
        with files.atomic_path(str(target) + "/") as tmp:
            os.makedirs(os.path.join(tmp, "variables"))
            with open(os.path.join(tmp, "variables", "v"), "w") as f:
                f.write(content)
    assert (target / "variables" / "v").read_text() == "two"
    with pytest.raises(ValueError):
        with files.atomic_path(str(target)) as tmp:
            os.makedirs(tmp)
            raise ValueError("save failed")
    assert (target / "variables" / "v").read_text() == "two"
    assert _leftovers(tmp_path) == []


def test_local_writes_do_not_import_tensorflow(tmp_path):
    code = (f"import sys; from pipeline import files; files.atomic_write({str(tmp_path / 'a')!r}, "
            "b'x'); assert 'tensorflow' not in sys.modules, 'tensorflow was imported'")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
    assert (tmp_path / "a").read_bytes() == b"x"
