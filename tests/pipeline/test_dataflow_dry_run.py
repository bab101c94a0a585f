"""The job built for Dataflow without submitting it (--dry_run=True --no_auth), offline.

The DataflowRunner translates the pipeline and builds the job request, sdist of --setup_file
included, then returns before it would call the service: as far as Dataflow can be checked here.
"""

import os
import shutil
import tarfile
import time

import pytest
from apache_beam.portability.api import beam_runner_api_pb2

from pipeline import main, schema
from pipeline.main import EXIT_OK, EXIT_USAGE, run
from tests.test_packaging import _IGNORE, REPO
from tests.video_fixtures import make_ucf101_tree

DATAFLOW = ["--runner=DataflowRunner", "--project=my-project", "--region=us-central1",
            "--temp_location=gs://my-bucket/tmp", "--staging_location=gs://my-bucket/staging",
            "--sdk_location=container", "--dry_run=True", "--no_auth"]
OUR_STEPS = ("ListedInputs", "Videos/DecodeAndCutClips", "Videos/Route/SelectRecords", "Videos/Route/SelectFailed",
             "Videos/Route/SelectWritten", "WriteShards/WritePieces",
             "WriteShards/PlanShards", "WriteShards/AssembleShards", "ShardReports", "WriteReports/ToJson")


@pytest.fixture(name="ucf_flags")
def fixture_ucf_flags(tmp_path):
    input_root, splits_dir = make_ucf101_tree(tmp_path, groups=(1, 8), num_frames=40)
    return ["--dataset=ucf101", f"--input={input_root}", f"--splits={splits_dir}"]


def package_copy(tmp_path):
    """This repository without its tests, so Beam's sdist build leaves nothing in the shared tree."""
    source = tmp_path / "package"
    shutil.copytree(REPO, source, ignore=_IGNORE, symlinks=True)
    return source


def test_dry_run_builds_the_dataflow_job_offline(tmp_path, ucf_flags, monkeypatch, capsys):
    built = []
    make_pipeline = main.make_pipeline
    monkeypatch.setattr(main, "make_pipeline", lambda options: built.append(make_pipeline(options)) or built[-1])
    output = tmp_path / "shards"
    output.mkdir()
    (output / schema.MANIFEST_NAME).write_text("{}")  # an earlier set: a dry run must leave it
    setup_file = package_copy(tmp_path) / "setup.py"
    started = time.monotonic()
    status = run([*ucf_flags, f"--output={output}", *DATAFLOW, f"--setup_file={setup_file}"])
    assert status == EXIT_OK
    assert time.monotonic() - started < 60, "the dry run waited on the network"
    assert "dry run" in capsys.readouterr().out
    assert os.listdir(output) == [schema.MANIFEST_NAME] and (output / schema.MANIFEST_NAME).read_text() == "{}"

    job = built[0].runner.job
    names = {t.unique_name for t in job.proto_pipeline.components.transforms.values()}
    assert set(OUR_STEPS) <= names, sorted(set(OUR_STEPS) - names)
    assert job.options.view_as(main.StandardOptions).runner == "DataflowRunner"
    check_package_staged(job)


def check_package_staged(job):
    """--setup_file made Beam build this package and stage it as the workers' workflow.tar.gz."""
    staged = {}
    for environment in job.proto_pipeline.components.environments.values():
        for dependency in environment.dependencies:
            role = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dependency.role_payload)
            staged[role.staged_name] = beam_runner_api_pb2.ArtifactFilePayload.FromString(dependency.type_payload).path
    assert "workflow.tar.gz" in staged, sorted(staged)
    assert os.path.basename(staged["workflow.tar.gz"]).startswith("mocogan-video-stack-")
    with tarfile.open(staged["workflow.tar.gz"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"setup.py", "pipeline/main.py", "pipeline/transforms.py", "pipeline/decode.py"} <= names


def test_a_bucket_name_beam_rejects_is_a_usage_error_not_a_bucket_lookup(tmp_path, ucf_flags, capsys):
    # gs://b/... is no valid bucket (3-63 characters); Beam would fall back to looking up a default
    # bucket over the network.
    flags = [f if not f.startswith(("--temp_location", "--staging_location")) else f.replace("my-bucket", "b")
             for f in DATAFLOW]
    started = time.monotonic()
    assert run([*ucf_flags, f"--output={tmp_path / 'shards'}", *flags]) == EXIT_USAGE
    assert time.monotonic() - started < 30
    error = capsys.readouterr().err
    assert "--temp_location=gs://b/tmp" in error and "bucket you own" in error
    assert not (tmp_path / "shards").exists()


def test_dry_run_needs_the_dataflow_runner(tmp_path, ucf_flags, capsys):
    assert run([*ucf_flags, f"--output={tmp_path / 'shards'}", "--dry_run=True"]) == EXIT_USAGE
    assert "needs --runner=DataflowRunner" in capsys.readouterr().err
    assert not (tmp_path / "shards").exists()
