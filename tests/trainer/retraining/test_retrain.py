"""Tests of scheduled retraining: the run lock, published versions, and whole `trainer.retraining.retrain` runs.

The lock tests use real processes killed by real signals; the end-to-end test runs the real Beam
job, trainer ('small' preset), evaluation and export on a few Shape Motion videos, twice, with the
input growing in between.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from trainer.retraining import publish, retrain
from pipeline.run_lock import LockHeld, RunLock

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))

HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from pipeline.run_lock import RunLock
    lock = RunLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    time.sleep(60)
""")


def _hold_lock(path):
    child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path)], stdout=subprocess.PIPE,
                             text=True, cwd=REPO)
    assert child.stdout.readline().strip() == "locked"
    return child


# ----------------------------------------------------------------------------------------- lock


def test_second_lock_names_the_live_holder_and_release_frees_it(tmp_path):
    path = tmp_path / "retrain.lock"
    holder = _hold_lock(path)
    try:
        with pytest.raises(LockHeld, match=f"pid {holder.pid} on host '{socket.gethostname()}'"):
            RunLock(str(path)).acquire()
    finally:
        holder.terminate()
        holder.wait()
    # SIGTERM ends the holder without running its release: the OS has released its lock.
    with RunLock(str(path)):
        assert json.loads(path.read_text())["pid"] == os.getpid()
        with pytest.raises(LockHeld, match=f"pid {os.getpid()} "):  # held until the block ends
            RunLock(str(path)).acquire()
    RunLock(str(path)).acquire().release()  # released


def test_lock_of_a_killed_process_is_free_at_once(tmp_path):
    path = tmp_path / "retrain.lock"
    holder = _hold_lock(path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert json.loads(path.read_text())["pid"] == holder.pid  # its record is still there...
    lock = RunLock(str(path)).acquire()  # ...but its lock died with it
    assert json.loads(path.read_text())["pid"] == os.getpid()
    lock.release()


def test_lock_needs_a_local_file_system():
    with pytest.raises(ValueError, match="gs://b/run/retrain.lock: a lock needs a local file system"):
        RunLock("gs://b/run/retrain.lock")
    # The model dir's writer lock: on gs:// none is taken, and a log line says so.
    from pipeline.run_lock import writer_lock

    said = []
    assert writer_lock("gs://b/run", said.append) is None
    assert "gs://b/run is not a local file system: no writer lock" in said[0]


# ------------------------------------------------------------------------------------- publish


def _fake_version(publish_dir, version, fvd):
    staged = publish.staging_dir(str(publish_dir), version)
    os.makedirs(staged)
    (open(os.path.join(staged, "saved_model.pb"), "w")).close()
    with open(os.path.join(staged, publish.METRICS_NAME), "w") as f:
        json.dump({"generated": {"fvd": fvd}}, f)
    return publish.promote(str(publish_dir), staged, version)


def test_versions_pointer_and_retention(tmp_path):
    publish_dir = tmp_path / "models"
    assert publish.latest_version(str(publish_dir)) is None
    for version in (1, 2, 3, 4):
        assert publish.next_version(str(publish_dir)) == version
        _fake_version(publish_dir, version, fvd=10.0 - version)
    assert (publish_dir / "latest").read_text() == "4\n"
    assert publish.published_metrics(str(publish_dir)) == (4, {"generated": {"fvd": 6.0}})
    os.makedirs(publish_dir / ".staging-9")  # as a killed run leaves it
    assert publish.keep_last(str(publish_dir), 2) == [1, 2]
    assert sorted(os.listdir(publish_dir)) == ["3", "4", "latest"]
    with pytest.raises(FileExistsError):
        publish.promote(str(publish_dir), str(publish_dir / "3"), 4)


def test_promotion_rule():
    assert publish.is_not_worse(5.0, 5.0, lower_is_better=True, tolerance=0.0)[0]
    assert not publish.is_not_worse(5.1, 5.0, lower_is_better=True, tolerance=0.0)[0]
    assert publish.is_not_worse(5.1, 5.0, lower_is_better=True, tolerance=0.2)[0]
    assert not publish.is_not_worse(0.7, 0.9, lower_is_better=False, tolerance=0.1)[0]
    assert publish.is_not_worse(0.8, 0.9, lower_is_better=False, tolerance=0.1)[0]
    assert publish.is_not_worse(3.0, None, lower_is_better=True, tolerance=0.0)[0]
    ok, reason = publish.is_not_worse(None, 1.0, lower_is_better=True, tolerance=0.0)
    assert not ok and "could not be computed" in reason


def test_latest_step_reads_the_checkpoint_index(tmp_path):
    assert retrain.latest_step(str(tmp_path)) == 0
    os.makedirs(tmp_path / "checkpoints")
    (tmp_path / "checkpoints" / "checkpoint").write_text(
        'model_checkpoint_path: "ckpt-12"\nall_model_checkpoint_paths: "ckpt-8"\n'
        'all_model_checkpoint_paths: "ckpt-12"\n')
    assert retrain.latest_step(str(tmp_path)) == 12


def test_checkpoint_step_reads_manager_names_only():
    from trainer.checkpoints.paths import checkpoint_step

    assert checkpoint_step("/runs/a/checkpoints/ckpt-1200") == 1200
    assert checkpoint_step("/runs/a/checkpoints/model.weights") is None


def test_flags_retrain_sets_itself_are_refused(tmp_path):
    with pytest.raises(ValueError, match="--trainer_flags must not set --train_steps=5"):
        retrain.RetrainConfig(shards="s", model_dir="m", publish_dir="p",
                              trainer_flags=("--preset=small", "--train_steps=5"))


# ------------------------------------------------------------------- is the metric defined?


def _checked_run(tmp_path, monkeypatch, videos, metric, *evaluate_flags):
    """retrain.run with its child processes replaced by a recorder that stops at the first one;
    returns (exit status, the stages that would have run, the run's record)."""
    stages = []

    def stop(self, stage, args):
        stages.append(stage)
        raise retrain.RunFailed(f"stopped at {stage} by the test")

    monkeypatch.setattr(retrain.Children, "run", stop)
    monkeypatch.setattr(retrain.Children, "install", lambda self: None)
    config = retrain.RetrainConfig(
        shards=str(tmp_path / "shards"), model_dir=str(tmp_path / "run"),
        publish_dir=str(tmp_path / "models"), metric=metric, evaluate_flags=tuple(evaluate_flags),
        preprocess_flags=("--dataset=folder", f"--input={videos}"))
    status = retrain.run(config)
    [record] = _records(str(tmp_path))
    return status, stages, record


@pytest.fixture
def footage(tmp_path):
    from tests.video_fixtures import make_folder_tree

    make_folder_tree(tmp_path / "videos", videos_per_label=1, num_frames=8, height=16, width=16)
    return str(tmp_path / "videos")


def test_fvd_without_i3d_on_footage_is_refused_before_preprocessing(tmp_path, monkeypatch, footage):
    status, stages, record = _checked_run(tmp_path, monkeypatch, footage, "fvd")
    assert status == retrain.EXIT_FAILED and stages == []
    assert not os.path.exists(tmp_path / "shards")
    assert record["status"] == "failed" and record["shape_motion_data"] is False
    for advice in ("I3D", "online", "python -m trainer.evaluation.pretrained --fetch_i3d", "--i3d_model",
                   "--evaluate_flags", "another --metric"):
        assert advice in record["error"], advice


def test_shape_metrics_on_footage_are_refused_with_the_metrics_to_choose(tmp_path, monkeypatch, footage):
    for metric in ("fd_shapes", "acd"):
        status, stages, record = _checked_run(tmp_path / metric, monkeypatch, footage, metric)
        assert status == retrain.EXIT_FAILED and stages == []
        assert "only to Shape Motion data" in record["error"] and "--metric=fvd" in record["error"]
    status, stages, record = _checked_run(tmp_path / "typo", monkeypatch, footage, "fvdd")
    assert stages == [] and "not a metric" in record["error"]


def test_defined_metrics_go_on_to_preprocess(tmp_path, monkeypatch, footage):
    from pipeline.datasets import shapes
    from tests import stand_ins

    i3d = stand_ins.save_i3d_stand_in(str(tmp_path / "i3d"))
    _, stages, _ = _checked_run(tmp_path / "fvd", monkeypatch, footage, "fvd", f"--i3d_model={i3d}")
    assert stages == ["preprocess"]
    shapes.write_dataset(str(tmp_path / "shapes"), num_videos=2, num_frames=4, size=16)
    _, stages, record = _checked_run(tmp_path / "fd", monkeypatch, str(tmp_path / "shapes"), "fd_shapes")
    assert stages == ["preprocess"] and record["shape_motion_data"] is True


def test_flag_value_reads_both_spellings_and_the_last_wins():
    assert retrain.flag_value(["--input=a", "--input", "b"], "--input") == "b"
    assert retrain.flag_value(["--inputs=a"], "--input") is None


# ---------------------------------------------------------------------------------- end to end

SHAPES_FRAMES, SHAPES_SIZE = 16, 32


def _retrain_command(root, *extra, train_steps=2):
    return [sys.executable, "-m", "trainer.retraining.retrain", f"--shards={root}/shards",
            f"--model_dir={root}/run", f"--publish_dir={root}/models", f"--train_steps={train_steps}",
            "--preprocess_flags=--dataset=folder --input=" + f"{root}/videos --num_frames=4 "
            f"--size={SHAPES_SIZE} --clip_stride=4 --test_fraction=0 "
            "--direct_running_mode=in_memory --direct_num_workers=1",
            "--trainer_flags=--preset=small --batch_size=2 --image_batch_size=2 "
            "--strategy=default --summary_every=1 --sample_every=100000",
            "--evaluate_flags=--num_videos=4 --feature_train_clips=16 --batch_size=4",
            "--metric=fd_shapes", *extra]  # no I3D offline: the Shape Motion net's distance


def _env():
    return dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def _records(root):
    folder = os.path.join(root, "run", "retrain_runs")
    return [json.load(open(os.path.join(folder, name))) for name in sorted(os.listdir(folder))
            if name.endswith(".json")]


def test_scheduled_runs_publish_only_when_not_worse_and_never_overlap(tmp_path):
    from pipeline.datasets import shapes

    root = str(tmp_path)
    # Ten videos: enough for evaluation's two disjoint halves of real clips.
    shapes.write_dataset(f"{root}/videos", num_videos=10, num_frames=SHAPES_FRAMES, size=SHAPES_SIZE)
    first = subprocess.Popen(_retrain_command(root), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    lock = os.path.join(root, "run", "retrain.lock")
    deadline = time.monotonic() + 120
    while not os.path.exists(lock) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run(_retrain_command(root), cwd=REPO, env=_env(), capture_output=True,
                            text=True, timeout=120)
    assert second.returncode == retrain.EXIT_LOCKED, second.stderr[-2000:]
    assert f"another run holds {lock}: pid {first.pid}" in second.stderr
    assert first.wait(timeout=900) == retrain.EXIT_OK
    [record] = _records(root)
    assert (record["status"], record["decision"], record["published_version"]) == ("done", "publish", 1)
    assert (record["steps_before"], record["steps_after"]) == (0, 2)
    assert record["inputs"]["new_videos"] == 10 and record["metrics"]["generated"]["fd_shapes"] > 0
    assert "Shape Motion feature net" in record["metric_network"] and record["shape_motion_data"]
    assert publish.latest_version(f"{root}/models") == 1
    assert os.path.exists(f"{root}/models/1/saved_model.pb")
    RunLock(lock).acquire().release()  # the run released its lock

    # A run that died holding the lock, two new videos, and a rule no model can meet.
    holder = _hold_lock(lock)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    shapes.write_dataset(f"{root}/videos", num_videos=12, num_frames=SHAPES_FRAMES, size=SHAPES_SIZE)
    third = subprocess.run(_retrain_command(root, "--tolerance=-1e12"), cwd=REPO, env=_env(),
                           capture_output=True, text=True, timeout=900)
    assert third.returncode == retrain.EXIT_OK, third.stderr[-3000:]
    assert "another run holds" not in third.stderr  # the dead run's lock died with it
    record = _records(root)[-1]
    assert (record["steps_before"], record["steps_after"]) == (2, 4)
    assert record["inputs"]["new_videos"] == 2 and record["inputs"]["shard_sets"] == 2
    assert record["decision"] == "keep" and record["published_version_before"] == 1
    assert "worse" in record["reason"] and record["published_value"] is not None
    assert publish.versions(f"{root}/models") == [1]


def test_sigterm_reaches_the_trainer_and_ends_the_run_with_a_checkpoint(tmp_path):
    from pipeline.datasets import shapes

    root = str(tmp_path)
    shapes.write_dataset(f"{root}/videos", num_videos=4, num_frames=SHAPES_FRAMES, size=SHAPES_SIZE)
    run = subprocess.Popen(_retrain_command(root, train_steps=100_000), cwd=REPO, env=_env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in run.stderr:  # the trainer's progress lines come through retrain's stderr
        seen.append(line)
        if "step 2/100000" in line:
            break
    assert any("step 2/100000" in line for line in seen), "".join(seen[-20:])
    run.send_signal(signal.SIGTERM)  # to retrain only: it passes the signal on
    rest = run.stderr.read()
    assert run.wait(timeout=300) == retrain.EXIT_FAILED, rest[-2000:]
    assert "SIGTERM received: checkpointing" in rest and "stopped by SIGTERM during train" in rest
    [record] = _records(root)
    assert record["status"] == "failed" and record["steps_after"] >= 2
    assert retrain.latest_step(f"{root}/run") == record["steps_after"]
    RunLock(f"{root}/run/retrain.lock").acquire().release()  # the run released its lock


# ------------------------------------------------------------------- children never outlive it

CHILD_EXIT_S = 60  # a trainer's SIGTERM checkpoint takes seconds here


def _gone_within(pid, seconds) -> bool:
    from trainer.retraining.child_processes import start_time

    deadline = time.monotonic() + seconds
    while start_time(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    return start_time(pid) is None


def _kill_group_if_alive(pid):
    from trainer.retraining.child_processes import start_time

    if start_time(pid) is not None:  # its group, or itself when it has none of its own
        os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGKILL)


def test_kill_9_of_retrain_takes_its_trainer_with_it(tmp_path):
    from pipeline import schema
    from tests.trainer_shards import write_shards

    root = str(tmp_path)
    write_shards(f"{root}/shards/20260101T000000.000000Z", num_files=1, clips_per_file=4,
                 shape=(4, 32, 32, 3), data_generator=schema.SHAPE_MOTION)
    run = subprocess.Popen(_retrain_command(root, "--skip_preprocess", train_steps=100_000),
                           cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
    trainer = None
    try:
        for line in run.stderr:
            if "step 2/100000" in line:
                break
        trainer = json.load(open(f"{root}/run/retrain.lock.children.json"))["pid"]
        run.kill()  # SIGKILL: retrain runs no handler, no finally
        run.wait(timeout=CHILD_EXIT_S)
        assert _gone_within(trainer, CHILD_EXIT_S), f"trainer {trainer} outlived its retrain run"
    finally:
        run.kill()
        if trainer:
            _kill_group_if_alive(trainer)
    assert retrain.latest_step(f"{root}/run") >= 2  # it got SIGTERM, so it checkpointed first


ORPHAN = "import time; print('up', flush=True); time.sleep(300)"


def test_next_run_stops_a_child_an_earlier_run_left(tmp_path, monkeypatch, footage, caplog):
    from trainer.retraining import child_processes

    orphan = subprocess.Popen([sys.executable, "-c", ORPHAN], stdout=subprocess.PIPE, text=True,
                              process_group=0)
    try:
        assert orphan.stdout.readline().strip() == "up"
        os.makedirs(tmp_path / "run")
        record = {"pid": orphan.pid, "start_time": child_processes.start_time(orphan.pid),
                  "host": socket.gethostname(), "command": "python -m trainer.main (an orphan)"}
        (tmp_path / "run" / "retrain.lock.children.json").write_text(json.dumps(record))
        with caplog.at_level("WARNING"):
            _checked_run(tmp_path, monkeypatch, footage, "fvd")  # stops at the metric check
        assert orphan.wait(timeout=CHILD_EXIT_S) == -signal.SIGTERM
        assert f"still runs (pid {orphan.pid}: python -m trainer.main (an orphan))" in caplog.text
    finally:
        if orphan.poll() is None:
            orphan.kill()
