"""Faults a new user meets, each ending in one `error:` line (no traceback) that names the value or
file and says what to do: real trainer, sample and retrain processes, real files."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from pipeline import schema
from pipeline.main import run as run_job
from tests.model_dirs import checkpointed_model_dir
from tests.test_kill_resume import SHAPE, TRAINER, check_latest_checkpoint_loads
from tests.trainer_shards import write_shards
from tests.video_fixtures import make_video
from trainer import data, train_lib
from trainer.checkpoints import paths as checkpoint_paths
from tests.trainer.test_train_lib import make_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WAIT_S = 240



def _sigint_default():
    """In the child: Ctrl-C's default action, even when this suite runs in a background job,
    whose children inherit SIGINT ignored (and Python then installs no KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def _env(**extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    return {**env, **extra}


def _run(module, *args):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=WAIT_S)


def one_error_line(result) -> str:
    """The single `error:` line of a failed run; fails on a traceback or a success."""
    assert result.returncode not in (0, None), result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if re.match(r"(\w+: )?error: ", line)]
    assert len(lines) == 1, result.stderr[-2000:]
    return lines[0]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("shards"), num_files=2, clips_per_file=4, shape=SHAPE)


def _trainer(shards, model_dir, *extra):
    return _run("trainer.main", f"--tfrecords={shards}", f"--model_dir={model_dir}",
                "--train_steps=2", *TRAINER, *extra)


# ------------------------------------------------------------------------------------ trainer


def test_multi_worker_without_tf_config(shards, tmp_path):
    line = one_error_line(_trainer(shards, tmp_path / "run", "--strategy=multi_worker"))
    assert "--strategy=multi_worker needs the TF_CONFIG" in line


def test_model_dir_that_is_a_file(shards, tmp_path):
    a_file = tmp_path / "run"
    a_file.write_text("notes")
    line = one_error_line(_trainer(shards, a_file))
    assert f"--model_dir={a_file} is a file, not a folder" in line
    assert a_file.read_text() == "notes"


@pytest.mark.parametrize("content, said", [
    ('{"schema_version": 4, "clip_shape": [4, 32, 32, 3]', "is not JSON"),
    ('[1, 2, 3]', "holds a JSON list, not a manifest"),
    ('{"schema_version": 4, "clip_shape": [4, 32, 32, 3], "encoding": "raw", "compression": "none",'
     ' "data_generator": ""}', "has no 'splits'"),
    ('{"schema_version": 4, "clip_shape": [4, "32", 32, 3], "encoding": "raw", '
     '"compression": "none", "splits": {}, "data_generator": ""}', "clip_shape must be four positive integers"),
])
def test_damaged_manifests_are_named(tmp_path, content, said):
    directory = write_shards(tmp_path / "s", num_files=1, clips_per_file=1, shape=SHAPE)
    path = os.path.join(directory, schema.MANIFEST_NAME)
    with open(path, "w") as f:
        f.write(content)
    with pytest.raises(data.DataError) as error:
        data.resolve_shards(directory)
    assert path in str(error.value) and said in str(error.value) and "make preprocess" in str(error.value)


def test_a_manifest_that_is_not_json_from_the_command_line(tmp_path):
    directory = write_shards(tmp_path / "s", num_files=1, clips_per_file=1, shape=SHAPE)
    path = os.path.join(directory, schema.MANIFEST_NAME)
    with open(path, "w") as f:
        f.write("\x00\x01 not json")
    line = one_error_line(_trainer(directory, tmp_path / "run"))
    assert line.startswith("error:") and f"{path} is not JSON" in line


def test_ctrl_c_during_training_saves_the_step_and_says_the_next_run_resumes(shards, tmp_path):
    model_dir = tmp_path / "run"
    command = [sys.executable, "-m", "trainer.main", f"--tfrecords={shards}", f"--model_dir={model_dir}",
               "--train_steps=10000", *TRAINER, "--checkpoint_every=100000"]
    trainer = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True,
                               preexec_fn=_sigint_default)
    deadline = time.monotonic() + WAIT_S
    for line in trainer.stderr:
        if "step 2/10000" in line:
            break
        assert time.monotonic() < deadline
    os.killpg(trainer.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends
    rest = trainer.stderr.read()
    assert trainer.wait(timeout=WAIT_S) == 130, rest[-2000:]
    assert "Traceback" not in rest, rest[-3000:]
    reached = check_latest_checkpoint_loads(model_dir)
    assert reached >= 2
    assert (f"interrupted (Ctrl-C) at step {reached} of 10000: checkpoint {reached} is saved in "
            f"{checkpoint_paths.checkpoint_dir(str(model_dir))}; the same command resumes from it") in rest


def test_a_truncated_newest_checkpoint_falls_back_to_the_one_before(shards, tmp_path, caplog):
    model_dir = tmp_path / "run"
    train_lib.train(make_config(shards, model_dir, train_steps=2, checkpoint_every=1))
    newest = tf.train.latest_checkpoint(checkpoint_paths.checkpoint_dir(str(model_dir)))
    assert newest.endswith("ckpt-2")
    [data_file] = tf.io.gfile.glob(newest + ".data-*")
    with open(data_file, "r+b") as f:  # a copy cut short
        f.truncate(os.path.getsize(data_file) // 3)
    with caplog.at_level("WARNING"):
        result = train_lib.train(make_config(shards, model_dir, train_steps=3))
    assert f"checkpoint {newest} cannot be read" in caplog.text and "falling back" in caplog.text
    assert f"moved the unreadable checkpoint {newest}" in caplog.text
    assert tf.io.gfile.glob(os.path.join(os.path.dirname(newest), "unreadable", "ckpt-2.*"))
    assert result.step == 3
    assert check_latest_checkpoint_loads(model_dir) == 3


# ------------------------------------------------------------------------------------- sample


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return checkpointed_model_dir(tmp_path_factory.mktemp("model"), conditional=False, ema_decay=0.0)


def test_sample_refuses_videos_that_cannot_fit_before_any_work(model_dir, tmp_path):
    started = time.monotonic()
    result = _run("trainer.generation.sample", f"--model_dir={model_dir}",
                  f"--out={tmp_path / 'long.gif'}", "--num_frames=100000000")
    line = one_error_line(result)
    assert "--num_frames or --num_videos" in line and "GiB" in line
    assert not (tmp_path / "long.gif").exists()
    del started  # no time is asserted; the refusal comes before the generator is built


def test_sample_refuses_fps_zero(model_dir, tmp_path):
    line = one_error_line(_run("trainer.generation.sample", f"--model_dir={model_dir}",
                               f"--out={tmp_path / 's.gif'}", "--fps=0"))
    assert "--fps=0.0 must be > 0" in line


# -------------------------------------------------------------------------------- preprocessing


def test_a_file_name_that_is_not_utf8_fails_that_video_only(tmp_path):
    videos = tmp_path / "videos"
    for i in range(3):
        make_video(videos / f"good{i}.avi", num_frames=16, height=24, width=32, seed=i)
    make_video(videos / "two.avi", num_frames=16, height=24, width=32, seed=9)
    os.rename(videos / "two.avi", os.fsencode(str(videos)) + b"/bad\xff.avi")
    output = str(tmp_path / "shards")
    status = run_job(["--dataset=folder", f"--input={videos}", f"--output={output}", "--num_frames=8",
                      "--size=16", "--no_folder_labels", "--test_fraction=0", "--max_failure_fraction=0.5",
                      "--direct_running_mode=in_memory", "--direct_num_workers=1"])
    assert status == 0
    manifest = schema.read_manifest(output)
    assert manifest.splits["train"].num_videos == 3
    [failed] = manifest.failed
    assert failed["video_id"] == "bad\\xff.avi" and "not valid UTF-8" in failed["reason"]
    json.dumps(manifest.failed, ensure_ascii=True)  # written safely


# -------------------------------------------------------------------------------------- retrain


def test_retrain_names_an_unclosed_quote_in_trainer_flags(tmp_path):
    line = one_error_line(_run("trainer.retraining.retrain", f"--shards={tmp_path / 's'}",
                               f"--model_dir={tmp_path / 'm'}", f"--publish_dir={tmp_path / 'p'}",
                               "--trainer_flags=--preset=small --label='open"))
    assert "--trainer_flags=" in line and "No closing quotation" in line and "close each quote" in line


def test_retrain_fd_shapes_on_shape_videos_without_their_ground_truth(tmp_path):
    from pipeline.datasets import shapes

    videos = tmp_path / "videos"
    shapes.write_dataset(str(videos), num_videos=2, num_frames=4, size=16)
    os.remove(videos / schema.SHAPE_MOTION_GROUND_TRUTH)
    line = one_error_line(_run("trainer.retraining.retrain", f"--shards={tmp_path / 's'}",
                               f"--model_dir={tmp_path / 'm'}", f"--publish_dir={tmp_path / 'p'}",
                               "--metric=fd_shapes", f"--preprocess_flags=--dataset=folder --input={videos}"))
    assert "applies only to Shape Motion data and this data is not" in line
    assert "--metric=fvd" in line and "shapes.json" in line
    assert not os.path.exists(tmp_path / "s")  # refused before preprocessing
