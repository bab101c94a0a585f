"""trainer.evaluation.compare_recipes: two recipes, the same minutes, FVD side by side.

The end-to-end test runs the real command: two real trainers (the second stopped by SIGTERM at
the first's wall time) on tiny moving-square shards, then the real Kinetics-400 I3D at N = 4 on
10-frame clips (I3D takes 9 or more).
"""

import json
import math
import os
import subprocess
import sys

import pytest

from tests.trainer_shards import CLASS_NAMES, write_shards
from trainer import config as config_lib
from trainer import configs
from trainer.checkpoints import paths as checkpoint_paths
from trainer.configs import demo, mocogan, techniques
from trainer.evaluation import compare_recipes
from trainer.evaluation.compare_recipes import CompareOptions

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SHAPE = (10, 64, 64, 3)  # the demo recipe pools D_V's input 2x: 64x64 frames


def test_the_papers_setting_takes_the_demos_sizes_and_cadences_and_nothing_else():
    assert set(compare_recipes.FROM_RECIPE_A) <= set(techniques.SIZES_AND_SCHEDULE)
    taken = compare_recipes.from_recipe_a("demo")
    assert taken == {k: v for k, v in demo.SIZES_AND_SCHEDULE.items() if k in compare_recipes.FROM_RECIPE_A}
    assert {"preset", "batch_size", "image_batch_size"} <= set(taken)
    command = compare_recipes.train_command(CompareOptions(tfrecords="s", out="o"), "B")
    assert "--recipe=mocogan" in command and f"--train_steps={compare_recipes.UNREACHABLE_STEPS}" in command
    assert f"--preset={demo.SIZES_AND_SCHEDULE['preset']}" in command
    assert f"--batch_size={demo.SIZES_AND_SCHEDULE['batch_size']}" in command
    # As trainer.main resolves it: the demo's networks and batches, the paper's everything else.
    b = configs.recipe_config("mocogan", SHAPE, CLASS_NAMES, **taken)
    a = configs.recipe_config("demo", SHAPE, CLASS_NAMES)
    paper = configs.recipe_config("mocogan", SHAPE, CLASS_NAMES)
    assert (b.batch_size, b.image_batch_size) == (a.batch_size, a.image_batch_size)
    assert b.model.gen_channels == a.model.gen_channels != paper.model.gen_channels
    assert (b.learning_rate, b.loss, b.r1_gamma, b.ema_decay) == (
        mocogan.FLAGS["learning_rate"], "bce", paper.r1_gamma, paper.ema_decay)
    assert (a.r1_gamma, a.ema_decay) != (b.r1_gamma, b.ema_decay)  # the demo's techniques stay its own
    command_a = compare_recipes.train_command(CompareOptions(tfrecords="s", out="o", steps=7), "A")
    assert "--recipe=demo" in command_a and "--train_steps=7" in command_a
    assert not [flag for flag in command_a if flag.startswith("--preset")]


def test_runs_already_in_out_and_an_n_too_large_are_refused_before_anything_trains(tmp_path):
    shards = write_shards(tmp_path / "shards", num_files=2, clips_per_file=4, shape=SHAPE)
    folder = checkpoint_paths.checkpoint_dir(str(tmp_path / "out" / "B"))
    os.makedirs(folder)
    with open(os.path.join(folder, "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "ckpt-12"\n')
    with pytest.raises(compare_recipes.UsageError, match="holds a run already") as error:
        compare_recipes.check_inputs(CompareOptions(tfrecords=shards, out=str(tmp_path / "out")))
    assert str(tmp_path / "out" / "B") in str(error.value)
    with pytest.raises(compare_recipes.UsageError, match="--num_videos=4 or less"):
        compare_recipes.check_inputs(CompareOptions(tfrecords=shards, out=str(tmp_path / "new"),
                                                    num_videos=5))


def test_recipe_b_is_stopped_at_recipe_as_wall_time_and_both_are_scored_at_one_n(tmp_path, real_i3d_weights):
    from trainer.evaluation import pretrained

    shards = write_shards(tmp_path / "shards", num_files=2, clips_per_file=8, shape=SHAPE)
    out = tmp_path / "compare"
    env = dict(os.environ, PYTHONPATH=REPO,
               **{pretrained.CACHE_ENV: os.path.dirname(os.path.dirname(real_i3d_weights))})
    completed = subprocess.run(
        [sys.executable, "-m", "trainer.evaluation.compare_recipes", f"--tfrecords={shards}",
         f"--out={out}", "--steps=3", "--num_videos=4", "--batch_size=4"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stderr[-3000:]
    comparison = json.loads((out / "comparison.json").read_text())
    a, b = comparison["recipes"]
    assert (a["recipe"], a["steps"], a["stopped_by"]) == ("demo", 3, "steps")
    # B ran until SIGTERM, saved a checkpoint of the step it reached and exited cleanly.
    assert b["recipe"] == "mocogan" and b["stopped_by"] == "time"
    assert 1 <= b["steps"] < b["step_target"] == compare_recipes.UNREACHABLE_STEPS
    assert checkpoint_paths.latest_step(str(out / "B")) == b["steps"] and b["checkpoint"].endswith(f"ckpt-{b['steps']}")
    assert comparison["budget_seconds"] == a["wall_seconds"] <= b["wall_seconds"]
    config_b = config_lib.load_config(str(out / "B"))
    assert (config_b.batch_size, config_b.image_batch_size) == (demo.SIZES_AND_SCHEDULE["batch_size"],
                                                                 demo.SIZES_AND_SCHEDULE["image_batch_size"])
    assert config_b.r1_gamma == 0 and config_lib.load_config(str(out / "A")).r1_gamma == techniques.TECHNIQUES["r1_gamma"]
    # One FVD protocol at N = 4, the real side computed for A and reused for B.
    assert comparison["num_videos"] == 4 and comparison["protocol"]["num_real"] == 4
    assert all(math.isfinite(entry["fvd"]) and entry["fvd"] > 0 for entry in comparison["recipes"])
    assert comparison["ratio"] == pytest.approx(a["fvd"] / b["fvd"])
    assert a["real_stats"]["reused"] is False and b["real_stats"] == dict(a["real_stats"], reused=True)
    assert a["real_stats"]["path"].startswith(str(out / "fvd_real_stats"))
    for side in ("A", "B"):
        metrics = json.loads((out / side / "metrics.json").read_text())
        assert metrics["protocol"]["num_generated"] == 4 and metrics["generated"]["fvd"] == pytest.approx(
            comparison["recipes"]["AB".index(side)]["fvd"])
    # The table says the same, with the CPU.
    table = (out / "comparison.md").read_text()
    assert "| recipe | steps | minutes | FVD (N=4) |" in table
    assert f"FVD(A)/FVD(B) = {comparison['ratio']:.3f}" in table and "(stopped by time)" in table
    assert f"| A: `demo` | 3 |" in table and f"{a['fvd']:.1f} |" in table and f"{b['fvd']:.1f} |" in table
    assert comparison["cpu"]["model"] != "unknown" and f"CPU: {comparison['cpu']['model']}" in table
    assert table in completed.stdout
