"""Runs that survive being killed: real trainer and Beam processes, real SIGKILL and SIGTERM.

Kill moments are random but seeded, every wait is bounded, and the data is tiny ('small' preset,
32x32 clips of 4 frames; a handful of short videos), so the file stays fast enough for CI.
"""

import collections
import dataclasses
import os
import random
import signal
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from pipeline import schema, shard_layout
from tests.pipeline.test_incremental import CLIPS_PER_VIDEO, JOB, _videos, clips_per_video
from tests.trainer_shards import write_shards
from trainer import data, shard_sets
from trainer.checkpoints import paths as checkpoint_paths
from trainer.generation import restore
from trainer.retraining import retrain

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = (4, 32, 32, 3)
TRAINER = ["--preset=small", "--batch_size=2", "--image_batch_size=2", "--strategy=default",
           "--summary_every=1", "--sample_every=100000"]
WAIT_S = 240  # upper bound of any wait for a child; far above what the steps take here


def _env():
    return dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def _start_trainer(shards, model_dir, train_steps, *extra, stderr=subprocess.DEVNULL):
    command = [sys.executable, "-m", "trainer.main", f"--tfrecords={shards}",
               f"--model_dir={model_dir}", f"--train_steps={train_steps}", *TRAINER, *extra]
    return subprocess.Popen(command, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=stderr,
                            text=True, start_new_session=True)


def _wait_for(condition, process, what):
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return True


def _kill_group(process, sig=signal.SIGKILL):
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    return process.wait(timeout=WAIT_S)


def check_latest_checkpoint_loads(model_dir) -> int:
    """The latest checkpoint's step; fails unless the step variable and the generator restore."""
    path = restore.latest_checkpoint(model_dir)
    step = int(tf.train.load_checkpoint(path).get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))
    assert path.endswith(f"ckpt-{step}"), (path, step)
    restore.load_generator(model_dir)  # raises when the generator's variables do not match
    return step


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("shards"), num_files=2, clips_per_file=4, shape=SHAPE)


def test_trainer_killed_at_random_moments_resumes_and_counts_on(shards, tmp_path):
    rng = random.Random(5)
    model_dir = str(tmp_path / "run")
    index = os.path.join(checkpoint_paths.checkpoint_dir(model_dir), "checkpoint")
    steps = [0]
    for _ in range(2):
        # A checkpoint every step, so a kill often lands while one is being written.
        trainer = _start_trainer(shards, model_dir, 10_000, "--checkpoint_every=1")
        started = steps[-1]
        _wait_for(lambda: retrain.latest_step(model_dir) > started, trainer, "a new checkpoint")
        time.sleep(rng.uniform(0.0, 1.5))
        assert _kill_group(trainer) == -signal.SIGKILL
        assert os.path.exists(index)
        steps.append(check_latest_checkpoint_loads(model_dir))
        assert steps[-1] > steps[-2], f"no progress kept across the kill: {steps}"
    target = steps[-1] + 2
    trainer = _start_trainer(shards, model_dir, target, "--checkpoint_every=100")
    assert trainer.wait(timeout=WAIT_S) == 0
    assert check_latest_checkpoint_loads(model_dir) == target


def test_sigterm_leaves_a_checkpoint_of_the_step_reached(shards, tmp_path):
    model_dir = str(tmp_path / "run")
    trainer = _start_trainer(shards, model_dir, 10_000, "--checkpoint_every=100000",
                             stderr=subprocess.PIPE)
    lines = []
    for line in trainer.stderr:  # progress lines: "step N/10000 ..."
        lines.append(line)
        if "step 2/10000" in line:
            break
    assert any("step 2/10000" in line for line in lines), "".join(lines[-20:])
    os.killpg(trainer.pid, signal.SIGTERM)
    rest = trainer.stderr.read()
    assert trainer.wait(timeout=WAIT_S) == 0, rest[-2000:]
    assert "SIGTERM received" in rest
    assert "PreemptionCheckpointHandler" in rest  # the multi-worker mechanism, on one host
    reached = check_latest_checkpoint_loads(model_dir)
    assert reached >= 2
    resumed = _start_trainer(shards, model_dir, 10_000, "--more_steps=1", stderr=subprocess.PIPE)
    _, err = resumed.communicate(timeout=WAIT_S)
    assert resumed.returncode == 0, err[-2000:]
    assert check_latest_checkpoint_loads(model_dir) == reached + 1  # the count went on


# ------------------------------------------------------------------------------ preprocessing


def _start_job(videos, root):
    command = [sys.executable, "-m", "pipeline.main", *JOB, f"--input={videos}", f"--output={root}",
               "--incremental=on"]
    return subprocess.Popen(command, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def check_no_clip_lost_or_duplicated(root, expected_ids):
    counts = clips_per_video(root)
    assert counts == {video: CLIPS_PER_VIDEO for video in expected_ids}, counts


def check_complete_if_it_has_a_manifest(set_dir) -> bool:
    """A set with a manifest holds every clip of the videos it lists; returns whether it has one."""
    if not os.path.exists(os.path.join(set_dir, schema.MANIFEST_NAME)):
        return False
    manifest = schema.read_manifest(set_dir)
    counts = collections.Counter()
    spec = {schema.VIDEO_ID: schema.feature_spec()[schema.VIDEO_ID]}
    for split in manifest.splits:
        for record in data.read_records(data.resolve_shards(set_dir, split)):
            counts[tf.io.parse_single_example(record, spec)[schema.VIDEO_ID].numpy().decode()] += 1
    listed = manifest.incremental.fingerprints
    assert counts == {video: CLIPS_PER_VIDEO for video in listed}, (set_dir, counts)
    return True


def test_preprocessing_killed_midway_leaves_no_manifest_and_the_next_run_completes(tmp_path):
    rng = random.Random(11)
    videos, root = tmp_path / "videos", str(tmp_path / "shards")
    names = ["a/v0.avi", "b/v1.avi", "a/v2.avi", "b/v3.avi", "a/v4.avi", "b/v5.avi"]
    for batch in (names[:3], names[3:]):
        _videos(videos, batch, seed=names.index(batch[0]))
        before = set(shard_layout.version_folders(root))
        job = _start_job(videos, root)
        # Kill once the job has started writing its new set, at a random moment after that. A
        # kill after the manifest was written finds a complete set; before it, a set without one.
        if _wait_for(lambda: set(shard_layout.version_folders(root)) - before, job, "the new set"):
            time.sleep(rng.uniform(0.0, 0.4))
        _kill_group(job)
        for name in set(shard_layout.version_folders(root)) - before:
            check_complete_if_it_has_a_manifest(os.path.join(root, name))
        rerun = _start_job(videos, root)
        assert rerun.wait(timeout=WAIT_S) == 0
        check_no_clip_lost_or_duplicated(root, names[:names.index(batch[-1]) + 1])


# ------------------------------------------------------------------------------- corrupt shards


def _corrupt(path, truncate=False):
    with open(path, "rb") as f:
        content = bytearray(f.read())
    if truncate:  # inside the second of two records
        content = content[:len(content) * 2 // 3]
    else:
        content[len(content) // 2] ^= 0xFF
    with open(path, "wb") as f:
        f.write(bytes(content))


def _rewrite_sizes(directory):
    manifest = schema.read_manifest(directory)
    splits = {name: dataclasses.replace(info, file_bytes=()) for name, info in manifest.splits.items()}
    schema.write_manifest(directory, dataclasses.replace(manifest, splits=splits))


@pytest.mark.parametrize("truncate", [False, True])
def test_corrupt_shard_is_named_and_can_be_skipped(tmp_path, caplog, truncate):
    directory = write_shards(tmp_path / "shards", num_files=3, clips_per_file=2, shape=SHAPE)
    files = data.resolve_shards(directory).files
    _corrupt(files[1], truncate)
    if truncate:  # its size no longer matches the manifest's: refused before any read
        with pytest.raises(data.DataError, match=f"wrong size: {files[1]}"):
            data.resolve_shards(directory)
        _rewrite_sizes(directory)  # as a set from before the manifest kept sizes
    reading = data.read_records(data.resolve_shards(directory))
    with pytest.raises(tf.errors.DataLossError) as error:
        sum(1 for _ in reading)
    message = shard_sets.name_corrupt_files(files, "", error.value)
    assert files[1] in message and files[0] not in message and "--skip_corrupt_shards" in message
    with caplog.at_level("WARNING", logger="trainer.shard_sets"):
        kept = data.resolve_shards(directory, skip_corrupt=True)
    assert kept.files == (files[0], files[2])
    assert f"skipping corrupt shard file {files[1]}" in caplog.text
    assert sum(1 for _ in data.read_records(kept)) == 4


def test_file_cut_inside_a_record_header_is_found_by_validation(tmp_path):
    # TFRecordDataset ends such a file silently; only the size check of validation notices.
    directory = write_shards(tmp_path / "shards", num_files=1, clips_per_file=2, shape=SHAPE)
    [path] = data.resolve_shards(directory).files
    with open(path, "rb") as f:
        content = f.read()
    with open(path, "wb") as f:
        f.write(content[:len(content) // 2 + 5])
    assert sum(1 for _ in tf.data.TFRecordDataset(path)) == 1
    assert "truncated or padded" in shard_sets.validate_file(path, "")


def test_trainer_names_a_corrupt_file_and_skips_it_with_the_flag(tmp_path):
    # Three files; the corrupt one is not the first, so the start-up check of the first record passes.
    directory = write_shards(tmp_path / "shards", num_files=3, clips_per_file=2, shape=SHAPE)
    bad = data.resolve_shards(directory).files[2]
    _corrupt(bad)
    stopped = _start_trainer(directory, tmp_path / "run", 8, stderr=subprocess.PIPE)
    _, err = stopped.communicate(timeout=WAIT_S)
    assert stopped.returncode != 0 and f"corrupt shard file(s): {bad}" in err, err[-2000:]
    skipping = _start_trainer(directory, tmp_path / "run2", 3, "--skip_corrupt_shards",
                              stderr=subprocess.PIPE)
    _, err = skipping.communicate(timeout=WAIT_S)
    assert skipping.returncode == 0, err[-2000:]
    assert f"skipping corrupt shard file {bad}" in err
    assert check_latest_checkpoint_loads(tmp_path / "run2") == 3


# ------------------------------------------------------------------------ one writer per model dir


def test_second_trainer_on_a_model_dir_refuses_until_the_first_dies(shards, tmp_path):
    model_dir = str(tmp_path / "run")
    first = _start_trainer(shards, model_dir, 10_000, "--checkpoint_every=1")
    try:
        assert _wait_for(lambda: retrain.latest_step(model_dir) >= 1, first, "a checkpoint")
        second = _start_trainer(shards, model_dir, 10_000, "--more_steps=1", stderr=subprocess.PIPE)
        _, err = second.communicate(timeout=WAIT_S)
        assert second.returncode != 0, "a second trainer ran beside the first"
        assert (f"another trainer holds {model_dir}/trainer.lock: pid {first.pid} on host "
                f"'{socket.gethostname()}'") in err, err[-2000:]
        assert first.poll() is None  # the first one trains on undisturbed
    finally:
        _kill_group(first)  # kill -9: only the OS can release its lock now
    reached = check_latest_checkpoint_loads(model_dir)
    after = _start_trainer(shards, model_dir, 10_000, "--more_steps=1", stderr=subprocess.PIPE)
    _, err = after.communicate(timeout=WAIT_S)
    assert after.returncode == 0, err[-2000:]
    assert check_latest_checkpoint_loads(model_dir) == reached + 1
