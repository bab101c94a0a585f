"""The job on Beam's DaskRunner, on a dask.distributed cluster of two worker processes, equals the
DirectRunner's output clip for clip.

The cluster lives only inside the test (a LocalCluster in a `with`), and the Dask job runs as the
command a user would type, in a subprocess with a time limit.
"""

import os
import subprocess
import sys

import pytest
from dask.distributed import Client, LocalCluster, get_task_stream

from pipeline import schema
from pipeline.main import EXIT_OK, run
from pipeline.options import parse_options
from tests.pipeline.test_main_e2e import IN_MEMORY, read_split
from tests.video_fixtures import make_ucf101_tree

TIMEOUT_S = 300
BROKEN_VIDEO = "YoYo/v_YoYo_g08_c01.avi"  # emptied: its failure report must not meet the decoded videos


def ucf_flags(tmp_path):
    input_root, splits_dir = make_ucf101_tree(tmp_path, groups=(1, 8), num_frames=40, add_missing_entry=True)
    open(os.path.join(input_root, BROKEN_VIDEO), "wb").close()
    return ["--dataset=ucf101", f"--input={input_root}", f"--splits={splits_dir}", "--num_frames=8",
            "--size=32", "--clip_stride=12", "--encoding=png", "--max_failure_fraction=0.5"]


def clips_of(output):
    """Every clip of the set, per split, in a fixed order: (video_id, start, label, frame bytes)."""
    return {split: sorted((c.video_id, c.start, c.label, c.frames.tobytes()) for c in read_split(output, split))
            for split in ("train", "test")}


def run_on_dask(flags, address, output):
    command = [sys.executable, "-m", "pipeline.main", *flags, f"--output={output}", "--runner=DaskRunner",
               f"--dask_client_address={address}", "--dask_partition_size=2"]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)


def test_dask_cluster_output_equals_the_direct_runner(tmp_path):
    flags = ucf_flags(tmp_path)
    direct_output, dask_output = str(tmp_path / "direct"), str(tmp_path / "dask")
    assert run([*flags, f"--output={direct_output}", *IN_MEMORY]) == EXIT_OK
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client, get_task_stream(client) as tasks:
        result = run_on_dask(flags, cluster.scheduler_address, dask_output)
        assert result.returncode == EXIT_OK, result.stdout[-2000:] + result.stderr[-3000:]
    assert len({task["worker"] for task in tasks.data}) == 2, "the job did not spread over both workers"

    direct, dask = schema.read_manifest(direct_output), schema.read_manifest(dask_output)
    assert {s: (i.num_videos, i.num_clips) for s, i in dask.splits.items()} == {
        s: (i.num_videos, i.num_clips) for s, i in direct.splits.items()} == {"train": (2, 6), "test": (3, 9)}
    assert dask.failed == direct.failed
    assert sorted(entry["video_id"] for entry in dask.failed) == [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g25_c99.avi", BROKEN_VIDEO]
    assert clips_of(dask_output) == clips_of(direct_output)
    assert dask.producer["beam_options"]["runner"] == "DaskRunner"


def test_decode_threads_are_refused_on_dask():
    # The DaskRunner drops finish_bundle's outputs, which is where decode threads leave their last videos.
    with pytest.raises(ValueError, match="--decode_threads=2 does not work on the DaskRunner"):
        parse_options(["--input=/in", "--output=/out", "--runner=DaskRunner", "--decode_threads=2"])
    _, config = parse_options(["--input=/in", "--output=/out", "--runner=DaskRunner"])
    assert config.decode_threads == 1
