"""Two preprocessing jobs into one --output: the second refuses, naming the first; nothing of the
first is touched. Real processes: a holder of the output's lock and the real job."""

import json
import os
import subprocess
import sys

from pipeline import main as pipeline_main
from pipeline import run_lock, schema
from tests.pipeline.test_incremental import JOB, _videos

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
HOLD = ("import sys, time\nfrom pipeline import run_lock\n"
        "lock = run_lock.output_lock(sys.argv[1], print)\nprint('held', flush=True)\n"
        "time.sleep(600)\n")


def _job(videos, output, *extra):
    return subprocess.run([sys.executable, "-m", "pipeline.main", *JOB, f"--input={videos}",
                           f"--output={output}", *extra], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def _set_files(output) -> dict:
    """{name: mtime} of the shard set's files (the lock file is the holders' to write)."""
    return {name: os.path.getmtime(output / name) for name in os.listdir(output)
            if name != run_lock.OUTPUT_LOCK_NAME}


def test_a_second_job_into_a_held_output_refuses_naming_the_first(tmp_path):
    videos, output = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    _videos(videos, ["a.mp4", "b.mp4"])
    first = _job(videos, output)  # a finished job: its set must survive what follows
    assert first.returncode == 0, first.stderr[-2000:]
    before = _set_files(output)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(output)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for mode in ("off", "on"):  # a whole set and an incremental root alike
            second = _job(videos, output, f"--incremental={mode}")
            assert second.returncode == pipeline_main.EXIT_USAGE, second.stderr[-2000:]
            assert f"another preprocessing job holds {output / run_lock.OUTPUT_LOCK_NAME}" in (
                second.stderr)
            assert f"pid {holder.pid} on host" in second.stderr and "--output" in second.stderr
            assert "Traceback" not in second.stderr
        assert _set_files(output) == before  # not a shard, not the manifest touched
    finally:
        holder.kill()  # as a crash would: the OS releases the lock with the process
        holder.wait(30)
    third = _job(videos, output)
    assert third.returncode == 0, third.stderr[-2000:]
    with open(output / run_lock.OUTPUT_LOCK_NAME) as f:
        assert json.load(f)["pid"] != holder.pid  # the job itself held it while it ran
    assert sum(split.num_clips for split in schema.read_manifest(str(output)).splits.values()) > 0
