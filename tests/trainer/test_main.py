"""`python -m trainer.main` as a user runs it: dry run, bad input, and SIGTERM mid-training."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from tests.trainer_shards import write_shards

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
TIMEOUT = 600


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("shards"), num_files=2, clips_per_file=4,
                        shape=(4, 32, 32, 3))


def main_args(shard_dir, model_dir, *extra):
    return [sys.executable, "-m", "trainer.main", f"--tfrecords={shard_dir}",
            f"--model_dir={model_dir}", "--preset=small", "--batch_size=4",
            "--image_batch_size=4", *extra]


def test_dry_run_prints_the_resolved_config(shard_dir, tmp_path):
    result = subprocess.run(main_args(shard_dir, tmp_path / "run", "--dry_run", "--conditional",
                                      "--loss=hinge", "--ema_decay=0.99"),
                            cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads(result.stdout)
    assert config["clip_shape"] == [4, 32, 32, 3]
    assert config["class_names"] == ["right", "down"] and config["model"]["num_classes"] == 2
    assert config["model"]["gen_channels"] == [64, 32, 16, 8]  # the small preset
    assert config["loss"] == "hinge" and config["ema_decay"] == 0.99
    assert not os.path.exists(tmp_path / "run")  # a dry run writes nothing


def test_missing_manifest_exits_with_what_to_run(tmp_path):
    os.makedirs(tmp_path / "empty")
    result = subprocess.run(main_args(tmp_path / "empty", tmp_path / "run", "--dry_run"),
                            cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode != 0
    assert "manifest.json" in result.stderr and "make preprocess" in result.stderr


def test_sigterm_checkpoints_and_exits_cleanly(shard_dir, tmp_path):
    model_dir = tmp_path / "run"
    process = subprocess.Popen(
        main_args(shard_dir, model_dir, "--train_steps=100000", "--summary_every=1",
                  "--checkpoint_every=100000", "--sample_every=100000"),
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:  # wait until it is really training
            line = process.stderr.readline()
            log.append(line)
            if "step 2/100000" in line or not line:
                break
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
    output = "".join(log) + rest
    assert process.returncode == 0, output[-3000:]
    assert "SIGTERM received" in output
    # Through TensorFlow's PreemptionCheckpointHandler, as on several workers.
    assert "PreemptionCheckpointHandler: Starting saving a checkpoint" in output
    assert "preempted at step" in output
    reader = tf.train.load_checkpoint(str(model_dir / "checkpoints"))
    step = int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))
    assert 2 <= step < 100000
    assert f"stopped at step {step} of 100000" in output


def test_more_steps_counts_from_the_latest_checkpoint(shard_dir, tmp_path):
    model_dir = tmp_path / "run"
    first = subprocess.run(main_args(shard_dir, model_dir, "--more_steps=2"),
                           cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert first.returncode == 0, first.stderr[-2000:]
    assert tf.train.latest_checkpoint(str(model_dir / "checkpoints")).endswith("ckpt-2")
    again = subprocess.run(main_args(shard_dir, model_dir, "--more_steps=3", "--dry_run"),
                           cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["train_steps"] == 5


def test_importing_the_trainer_turns_onednn_on_unless_told_otherwise():
    # TensorFlow leaves oneDNN off on CPUs without AVX-512; Conv3D gradients are then far slower.
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    probe = "import os, trainer; print(os.environ['TF_ENABLE_ONEDNN_OPTS'])"
    assert subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "1"
    env["TF_ENABLE_ONEDNN_OPTS"] = "0"
    assert subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "0"


def test_recipe_sets_defaults_and_the_command_line_wins(shard_dir, tmp_path):
    from trainer.configs import recipe

    result = subprocess.run(
        [sys.executable, "-m", "trainer.main", f"--tfrecords={shard_dir}",
         f"--model_dir={tmp_path / 'run'}", "--recipe=demo", "--batch_size=4", "--dry_run"],
        cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads(result.stdout)
    demo = recipe("demo")
    assert config["batch_size"] == 4 != demo["batch_size"]  # given on the command line
    assert config["image_batch_size"] == demo["image_batch_size"]
    assert config["learning_rate"] == demo["learning_rate"]
    assert config["model"]["video_disc_pool"] == demo["video_disc_pool"]  # the recipe's nets
    assert config["model"]["image_disc_channels"] == [16, 32, 64]  # the recipe's small preset
    bad = subprocess.run(main_args(shard_dir, tmp_path / "run2", "--recipe=nope", "--dry_run"),
                         cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert bad.returncode != 0 and "recipe" in bad.stderr


def test_a_recipe_on_a_shard_set_without_classes_trains_unconditionally(tmp_path):
    from trainer.configs import recipe

    unlabelled = write_shards(tmp_path / "shards", num_files=1, clips_per_file=4,
                              shape=(4, 64, 64, 3), labelled=False)
    result = subprocess.run(
        [sys.executable, "-m", "trainer.main", f"--tfrecords={unlabelled}",
         f"--model_dir={tmp_path / 'run'}", "--recipe=video64", "--dry_run"],
        cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads(result.stdout)
    assert not config["conditional"] and config["model"]["image_class_head"] == "none"
    assert config["r1_every"] == recipe("video64")["r1_every"]  # the rest of the recipe stays
    forced = subprocess.run(  # asked for on the command line, it is refused as before
        main_args(unlabelled, tmp_path / "run2", "--recipe=video64", "--conditional", "--dry_run"),
        cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert forced.returncode != 0 and "class names" in forced.stderr


def test_help_lists_every_option_with_its_help_text():
    from trainer import config as config_lib, flag_fields, networks

    result = subprocess.run([sys.executable, "-m", "trainer.main", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=TIMEOUT)
    text = " ".join(result.stdout.split())  # absl wraps help lines (and exits 1 after --help)
    names = flag_fields.flag_names(config_lib.Config) + flag_fields.flag_names(networks.ModelConfig)
    for name in names + ("recipe", "preset", "more_steps", "dry_run"):
        assert f"--{name}:" in text or f"--[no]{name}:" in text, name
    assert "--train_steps: Total iterations (D_I, D_V, G). (default: '100000')" in text
    assert "Frame generator widths at 4, 8, 16 and 32 pixels" in text
    assert "--gen_upsample: <transpose|resize>" in text
    assert "--image_class_head: <none|shared|separate|adc>" in text
    assert len(names) + 4 == 56
