"""trainer.generation.export: a SavedModel that generates uint8 videos in a process that cannot import us."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.model_dirs import SHAPE, checkpointed_model_dir
from tests.trainer_shards import CLASS_NAMES
from trainer import pixels
from trainer.generation import export, restore

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))

# Runs in a fresh interpreter outside the repo, with imports of this project made to fail.
LOADER = textwrap.dedent("""
    import json, sys

    class NoProject:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("trainer", "pipeline", "tests"):
                raise ImportError("the export must not need " + name)

    sys.meta_path.insert(0, NoProject())
    import numpy as np
    import tensorflow as tf

    out = {}
    conditional = tf.saved_model.load(sys.argv[1])
    a = conditional.generate(num_videos=3, seed=7, label=1).numpy()
    served = conditional.signatures["serving_default"](
        num_videos=tf.constant(3), seed=tf.constant(7, tf.int64), label=tf.constant(1))["videos"]
    out["conditional"] = dict(
        shape=list(a.shape), dtype=str(a.dtype),
        served_equal=bool(np.array_equal(served.numpy(), a)),
        same_seed_equal=bool(np.array_equal(conditional.generate(3, 7, 1).numpy(), a)),
        other_seed_equal=bool(np.array_equal(conditional.generate(3, 8, 1).numpy(), a)),
        other_label_equal=bool(np.array_equal(conditional.generate(3, 7, 0).numpy(), a)),
        random_labels_shape=list(conditional.generate(2, 7, -1).shape),
        class_names=[n.decode() for n in conditional.class_names().numpy()])
    np.save(sys.argv[3], a)
    plain = tf.saved_model.load(sys.argv[2])
    b = plain.signatures["serving_default"](num_videos=tf.constant(2), seed=tf.constant(0, tf.int64))
    out["plain"] = dict(shape=list(b["videos"].shape), dtype=b["videos"].dtype.name,
                        class_names=plain.class_names().numpy().tolist())
    out["project_modules"] = sorted(m for m in sys.modules if m.split(".")[0] in ("trainer", "pipeline"))
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    conditional_dir = checkpointed_model_dir(root / "conditional", conditional=True, ema_decay=0.9)
    plain_dir = checkpointed_model_dir(root / "plain", conditional=False, ema_decay=0.0)
    # The conditional one through the real command line, the plain one through the function.
    result = subprocess.run(
        [sys.executable, "-m", "trainer.generation.export", f"--model_dir={conditional_dir}",
         f"--export_dir={root / 'conditional_export'}"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    export.export(plain_dir, str(root / "plain_export"))
    return dict(root=root, conditional_dir=conditional_dir, plain_dir=plain_dir,
                conditional=str(root / "conditional_export"), plain=str(root / "plain_export"))


def test_saved_model_generates_in_a_fresh_process_without_the_project(exports, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", LOADER, exports["conditional"], exports["plain"],
         str(tmp_path / "videos.npy")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    conditional = report["conditional"]
    assert conditional["shape"] == [3, *SHAPE] and conditional["dtype"] == "uint8"
    assert conditional["served_equal"] and conditional["same_seed_equal"]
    assert not conditional["other_seed_equal"] and not conditional["other_label_equal"]
    assert conditional["random_labels_shape"] == [2, *SHAPE]
    assert conditional["class_names"] == list(CLASS_NAMES)
    assert report["plain"] == dict(shape=[2, *SHAPE], dtype="uint8", class_names=[])
    assert report["project_modules"] == []
    # The export holds the EMA generator: it reproduces what that generator makes here.
    generator, _ = restore.load_generator(exports["conditional_dir"])
    latents = generator.sample_latents(3, labels=[1, 1, 1], seed=7)
    here = pixels.to_uint8(generator(latents, training=False))
    exported = np.load(tmp_path / "videos.npy")
    assert np.abs(here.astype(int) - exported).max() <= 1


def test_export_keeps_the_run_config_and_leaves_no_partial_dirs(exports):
    saved = json.load(open(os.path.join(exports["conditional"], "assets.extra", "config.json")))
    assert saved["class_names"] == list(CLASS_NAMES)
    assert [p for p in os.listdir(exports["root"]) if "partial" in p] == []


def test_existing_export_dir_needs_overwrite(exports):
    with pytest.raises(ValueError, match="--overwrite"):
        export.export(exports["plain_dir"], exports["plain"])
    marker = os.path.join(exports["plain"], "stale.txt")
    open(marker, "w").close()
    export.export(exports["plain_dir"], exports["plain"], overwrite=True)
    assert not os.path.exists(marker)
    assert os.path.exists(os.path.join(exports["plain"], "saved_model.pb"))


def _run_export(model_dir, export_dir, *extra):
    return subprocess.run(
        [sys.executable, "-m", "trainer.generation.export", f"--model_dir={model_dir}",
         f"--export_dir={export_dir}", *extra], cwd=REPO, capture_output=True, text=True, timeout=300)


def error_lines(stderr):
    assert "Traceback" not in stderr, stderr[-2000:]
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_overwrite_refuses_a_folder_that_is_not_an_export_and_a_file(exports, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "holiday.mp4").write_bytes(b"not ours to delete")
    result = _run_export(exports["plain_dir"], videos, "--overwrite")
    assert result.returncode != 0
    [line] = error_lines(result.stderr)
    assert line.startswith("error: --overwrite refuses") and str(videos) in line and "holiday.mp4" in line
    assert os.listdir(videos) == ["holiday.mp4"]
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep")
    result = _run_export(exports["plain_dir"], a_file, "--overwrite")
    assert result.returncode != 0
    [line] = error_lines(result.stderr)
    assert f"{a_file} is a file" in line
    assert a_file.read_text() == "keep"


def test_a_failed_overwrite_leaves_the_old_export(exports, monkeypatch):
    before = os.path.getmtime(os.path.join(exports["plain"], "saved_model.pb"))

    def fail_midway(module, model_dir, target):
        os.makedirs(target)
        open(os.path.join(target, "saved_model.pb"), "wb").close()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "_save", fail_midway)
    with pytest.raises(OSError):
        export.export(exports["plain_dir"], exports["plain"], overwrite=True)
    assert os.path.getmtime(os.path.join(exports["plain"], "saved_model.pb")) == before
    assert [p for p in os.listdir(exports["root"]) if "partial" in p] == []
    loaded = restore_saved_model(exports["plain"])
    assert loaded.generate(num_videos=1, seed=0).shape[0] == 1


def restore_saved_model(path):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    return tf.saved_model.load(path)
