"""Rerunning the job into an output that holds a good set: the old set stays whole and readable
until the new one is committed, whatever stops the rerun (a real SIGINT, a flag that makes no
clip), and after any job the folder holds exactly the files its manifest lists."""

import os
import signal
import subprocess
import sys
import time

from pipeline import run_lock, schema, set_swap, shard_layout
from pipeline.main import EXIT_INTERRUPTED, EXIT_OK, EXIT_UNUSABLE, run
from tests.video_fixtures import make_video

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FRAMES = 16
JOB = ["--dataset=folder", "--num_frames=8", "--size=16", "--test_fraction=0.4",
       "--direct_running_mode=in_memory", "--direct_num_workers=1"]
WAIT_S = 240



def _sigint_default():
    """In the child: Ctrl-C's default action, even when this suite runs in a background job,
    whose children inherit SIGINT ignored (and Python then installs no KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def _videos(folder, count):
    for i in range(count):
        make_video(os.path.join(folder, f"c{i % 2}", f"v{i}.avi"), num_frames=FRAMES, height=24,
                   width=32, seed=i)
    return str(folder)


def snapshot(output):
    """{file name: bytes} of the set the manifest lists, after checking every record parses."""
    manifest = schema.read_manifest(output)
    contents = {}
    for split, info in manifest.splits.items():
        clips = 0
        for name in info.files:
            path = os.path.join(output, name)
            clips += sum(1 for _ in schema_records(path))
            with open(path, "rb") as f:
                contents[name] = f.read()
        assert clips == info.num_clips, (split, clips, info.num_clips)
        assert info.file_bytes == tuple(os.path.getsize(os.path.join(output, n)) for n in info.files)
    with open(os.path.join(output, schema.MANIFEST_NAME), "rb") as f:
        contents[schema.MANIFEST_NAME] = f.read()
    return contents


def schema_records(path):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    for record in tf.data.TFRecordDataset(path):
        yield schema.decode_clip(record.numpy())


def check_only_listed_files(output):
    manifest = schema.read_manifest(output)
    listed = {name for info in manifest.splits.values() for name in info.files}
    assert set(os.listdir(output)) == listed | {schema.MANIFEST_NAME, run_lock.OUTPUT_LOCK_NAME}


def test_a_rerun_that_makes_no_clip_leaves_the_old_set_whole(tmp_path, capsys):
    videos, output = _videos(tmp_path / "videos", 4), str(tmp_path / "shards")
    assert run([*JOB, f"--input={videos}", f"--output={output}"]) == EXIT_OK
    before = snapshot(output)
    capsys.readouterr()
    # 40-frame clips from 16-frame videos: every video is too short, found only after decoding.
    status = run([*JOB, f"--input={videos}", f"--output={output}", "--num_frames=40"])
    err = capsys.readouterr().err
    assert status == EXIT_UNUSABLE
    assert "no clip was written" in err and "too short" in err and "untouched" in err, err
    assert snapshot(output) == before
    check_only_listed_files(output)


def test_a_rerun_replaces_the_set_and_leaves_no_stale_split(tmp_path):
    videos, output = _videos(tmp_path / "videos", 6), str(tmp_path / "shards")
    assert run([*JOB, f"--input={videos}", f"--output={output}"]) == EXIT_OK
    first = schema.read_manifest(output)
    assert set(first.splits) == {"train", "test"}
    # No test split this time: the earlier job's test-* shard must not stay beside the manifest.
    assert run([*JOB, f"--input={videos}", f"--output={output}", "--test_fraction=0"]) == EXIT_OK
    second = schema.read_manifest(output)
    assert set(second.splits) == {"train"} and second.splits["train"].num_clips == 6 * 2
    [name] = second.splits["train"].files
    assert shard_layout.parse_shard_file_name(name).tag  # written beside the first set's names
    snapshot(output)
    check_only_listed_files(output)
    # The next rerun finds only tagged names and goes back to plain ones.
    assert run([*JOB, f"--input={videos}", f"--output={output}"]) == EXIT_OK
    assert all(not shard_layout.parse_shard_file_name(n).tag for n in set_swap.shard_names(output))
    snapshot(output)
    check_only_listed_files(output)


def test_a_rerun_interrupted_by_sigint_leaves_the_old_set_whole(tmp_path):
    videos, output = _videos(tmp_path / "videos", 12), str(tmp_path / "shards")
    assert run([*JOB, f"--input={videos}", f"--output={output}"]) == EXIT_OK
    before = snapshot(output)
    command = [sys.executable, "-m", "pipeline.main", *JOB, f"--input={videos}", f"--output={output}",
               "--size=32"]
    job = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True, start_new_session=True, preexec_fn=_sigint_default)
    deadline = time.monotonic() + WAIT_S
    # The job's work folder appears when the pipeline starts writing: Ctrl-C then, as a terminal
    # would send it, to the whole process group (ffmpeg children included).
    while not any(n.startswith(set_swap.WORK_PREFIX) for n in os.listdir(output)):
        assert job.poll() is None, job.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "the rerun never started writing"
        time.sleep(0.02)
    os.killpg(job.pid, signal.SIGINT)
    _, err = job.communicate(timeout=WAIT_S)
    assert job.returncode == EXIT_INTERRUPTED, err[-2000:]
    assert "untouched" in err and "Traceback" not in err, err[-2000:]
    assert snapshot(output) == before
    check_only_listed_files(output)
