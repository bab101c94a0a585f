"""One scheduled retraining run: new videos in, a better (or no) new model version out.

    python -m trainer.retraining.retrain --shards=shards/mine --model_dir=runs/mine --publish_dir=models/mine \\
        --preprocess_flags="--dataset=folder --input=/data/videos" --train_steps=2000 \\
        --trainer_flags="--preset=small --batch_size=8" --metric=fvd

(`make retrain` wraps it.) Under a lock (<model_dir>/retrain.lock, an OS lock: pipeline.run_lock)
it first checks that --metric is defined on the data (trainer/evaluation/metric_plan.py): fvd (the
default) with I3D at hand, fid only with Inception-v3, the Shape Motion scores and fd_shapes only
on Shape Motion data (trainer/evaluation/pretrained.py: --evaluate_flags="--i3d_model=PATH", the cache, or a fetch).
An undefined metric stops the run before anything is preprocessed. Then it runs, each as a child
process whose failure stops the run with its exit status:
1. preprocess: `python -m pipeline.main --output=<shards> --incremental=on ...`, which writes only
   the videos no earlier shard set holds, as a new versioned set under <shards>;
2. train: `python -m trainer.main` to the latest checkpoint's step + --train_steps;
3. evaluate: `python -m trainer.evaluation.evaluate` into the run's metrics.json;
4. publish: when --metric is not worse than the published version's (the rule: --higher_is_better,
   --tolerance), `python -m trainer.generation.export` into a staging folder beside the versions, renamed to
   <publish_dir>/<N>/; `latest` then names N; only the newest --keep_versions are kept.
Every run writes <runs_log_dir>/<UTC time>.json: inputs seen, new videos, steps before and after,
metrics, the feature network behind --metric, the decision and why (also on failure). SIGTERM is
passed to the running child (the trainer checkpoints) and the run stops, releasing the lock. Its
children never outlive it (trainer/retraining/child_processes.py): killed even by kill -9, it takes the
running child with it, and the next run stops any child an earlier run left. Every file it reads
or writes goes through tf.io.gfile (gs:// works), except its lock, which needs this host's file
system. Exit status: 0 done (published or
not), 1 a step failed or was interrupted, 3 another run holds the lock.
"""

import dataclasses
import json
import os
import shlex
import sys
import time

from absl import app
from absl import flags
from absl import logging

from pipeline import files
from trainer.evaluation import metric_plan
from trainer.retraining import publish
from trainer.checkpoints.paths import latest_step
from trainer.retraining.child_processes import Children, RunFailed, stop_orphans
from pipeline.run_lock import LockHeld, RunLock

EXIT_OK, EXIT_FAILED, EXIT_LOCKED = 0, 1, 3
RESERVED = {"preprocess_flags": ("--output", "--incremental"),
            "trainer_flags": ("--tfrecords", "--model_dir", "--train_steps"),
            "evaluate_flags": ("--model_dir", "--tfrecords", "--out")}


@dataclasses.dataclass(frozen=True)
class RetrainConfig:
    shards: str
    model_dir: str
    publish_dir: str
    train_steps: int = 1000  # more steps, counted from the latest checkpoint
    preprocess_flags: tuple[str, ...] = ()
    trainer_flags: tuple[str, ...] = ()
    evaluate_flags: tuple[str, ...] = ()
    skip_preprocess: bool = False
    metric: str = "fvd"
    higher_is_better: bool = False
    tolerance: float = 0.0
    keep_versions: int = 3
    runs_log_dir: str = ""  # default <model_dir>/retrain_runs
    lock_file: str = ""  # default <model_dir>/retrain.lock; on this host's file system

    def __post_init__(self):
        if self.train_steps < 0:
            raise ValueError(f"--train_steps={self.train_steps} must be >= 0")
        if self.keep_versions < 1:
            raise ValueError(f"--keep_versions={self.keep_versions} must be at least 1")
        for field, names in RESERVED.items():
            given = [a for a in getattr(self, field) if a.split("=", 1)[0] in names]
            if given:
                raise ValueError(f"--{field} must not set {', '.join(given)}: retrain sets it")

    @property
    def lock_path(self) -> str:
        return self.lock_file or os.path.join(self.model_dir, "retrain.lock")

    @property
    def children_path(self) -> str:
        """Names the running child, for the next run to stop an orphan (trainer/child_processes)."""
        return self.lock_path + ".children.json"

    @property
    def log_dir(self) -> str:
        return self.runs_log_dir or os.path.join(self.model_dir, "retrain_runs")


# ----------------------------------------------------------------------------------------------
# What is on disk


def shard_sets(shards: str) -> dict:
    """Complete shard sets under the dataset root: version -> its `pipeline.schema.Manifest`.

    Listed as pipeline/shard_layout.py says, through tf.io.gfile, so gs:// works."""
    from pipeline import schema  # imports TensorFlow, so only here

    sets, _ = schema.read_sets(shards)
    return {shard_set.name: shard_set.manifest for shard_set in sets}


def summarize_sets(before: dict, after: dict) -> dict:
    """Inputs seen and new videos, from the manifests of the sets this run added."""
    added = sorted(set(after) - set(before))
    new = changed = listed = 0
    for name in added:
        entry = after[name].incremental
        if entry is not None:
            new, changed = new + len(entry.new), changed + len(entry.changed)
            listed = max(listed, entry.listed)
    clips = sum(s.num_clips for m in after.values() for s in m.splits.values())
    return {"shard_sets": len(after), "new_sets": added, "videos_listed": listed,
            "new_videos": new, "changed_videos": changed, "clips_in_all_sets": clips}


# ----------------------------------------------------------------------------------------------
# Is the metric defined on this data?


def flag_value(args, name: str) -> str | None:
    """The value of `--name=value` or `--name value` in a list of flags, the last one given."""
    value = None
    for i, arg in enumerate(args):
        if arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
        elif arg == name and i + 1 < len(args):
            value = args[i + 1]
    return value


def data_is_shape_motion(config: RetrainConfig) -> bool:
    """Whether every set the run will train and evaluate on is Shape Motion data: the sets already
    under --shards, and (unless --skip_preprocess) the folder the preprocessing step will read."""
    import tensorflow as tf

    from pipeline import schema  # the manifest's reader; imports TensorFlow, so only here

    kinds = [manifest.is_shape_motion for manifest in shard_sets(config.shards).values()]
    if not config.skip_preprocess:
        dataset = flag_value(config.preprocess_flags, "--dataset") or "folder"
        folder = flag_value(config.preprocess_flags, "--input") or ""
        kinds.append(dataset == "folder" and bool(folder) and tf.io.gfile.isdir(folder)
                     and schema.folder_data_generator(folder) == schema.SHAPE_MOTION)
    return bool(kinds) and all(kinds)


def check_metric(config: RetrainConfig, record: dict) -> None:
    """Refuses a --metric trainer.evaluation.evaluate could not compute here, saying what to do instead."""
    from trainer.evaluation import pretrained

    shape_motion = data_is_shape_motion(config)
    record["shape_motion_data"] = shape_motion
    why = metric_plan.why_undefined(config.metric, shape_motion)
    if why:
        if config.metric in metric_plan.SHAPE_MOTION_ONLY:
            # Shape Motion videos copied without their ground truth look like footage to the job.
            from pipeline import schema  # imports TensorFlow, so only here

            why += ("; a folder of videos is Shape Motion data only when it holds the "
                    f"{schema.SHAPE_MOTION_GROUND_TRUTH} that pipeline.datasets.shapes writes beside them")
        raise RunFailed(f"{why} (data: {config.shards}, preprocess flags: "
                        f"{shlex.join(config.preprocess_flags) or 'none'})")
    try:
        if config.metric == "fvd":
            pretrained.i3d_source(flag_value(config.evaluate_flags, "--i3d_model") or "")
        elif config.metric == "fid":
            pretrained.inception_path(flag_value(config.evaluate_flags, "--inception_weights") or "")
    except pretrained.Unavailable as error:
        also = " or choose another --metric"
        raise RunFailed(f"--metric={config.metric} cannot be computed: {error} (through "
                        f"--evaluate_flags){also}") from error


# ----------------------------------------------------------------------------------------------
# Child processes


# ----------------------------------------------------------------------------------------------
# The run


def new_record(config: RetrainConfig) -> dict:
    return {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "status": "running",
            "shards": config.shards, "model_dir": config.model_dir,
            "publish_dir": config.publish_dir,
            "preprocess_flags": list(config.preprocess_flags), "metric": config.metric,
            "higher_is_better": config.higher_is_better, "tolerance": config.tolerance}


def preprocess(config: RetrainConfig, children: Children, record: dict) -> None:
    before = shard_sets(config.shards)
    if not config.skip_preprocess:
        children.run("preprocess", ["pipeline.main", f"--output={config.shards}", "--incremental=on",
                                    *config.preprocess_flags])
    record["inputs"] = summarize_sets(before, shard_sets(config.shards))
    if not record["inputs"]["shard_sets"]:
        raise RunFailed(f"{config.shards} holds no complete shard set to train on; check "
                        "--preprocess_flags (the input) or run `make preprocess` first")


def train(config: RetrainConfig, children: Children, record: dict) -> None:
    before = latest_step(config.model_dir)
    target = before + config.train_steps
    record.update(steps_before=before, steps_target=target)
    try:
        children.run("train", ["trainer.main", f"--tfrecords={config.shards}",
                               f"--model_dir={config.model_dir}", f"--train_steps={target}",
                               *config.trainer_flags])
    finally:  # also when stopped: the checkpoint the trainer left is where the next run starts
        record["steps_after"] = after = latest_step(config.model_dir)
    if after < target:
        raise RunFailed(f"the trainer exited at step {after} before reaching {target} (stopped by "
                        "a signal?); the next run continues from that checkpoint")


def evaluate(config: RetrainConfig, children: Children, record: dict, out: str) -> float | None:
    # The metric that decides is computed, whatever evaluate's default (unless the flags choose).
    metrics = [] if flag_value(config.evaluate_flags, "--metrics") else [f"--metrics={config.metric}"]
    children.run("evaluate", ["trainer.evaluation.evaluate", f"--model_dir={config.model_dir}",
                              f"--tfrecords={config.shards}", f"--out={out}", *metrics, *config.evaluate_flags])
    import tensorflow as tf

    with tf.io.gfile.GFile(out) as f:
        metrics = json.load(f)
    record["metrics"] = {"generated": metrics.get("generated"), "real": metrics.get("real"),
                         "step": metrics.get("step")}
    network = (metrics.get("feature_networks") or {}).get(config.metric)
    record["metric_network"] = network["network"] if network else "none (not a Fréchet distance)"
    value = (metrics.get("generated") or {}).get(config.metric)
    if config.metric not in (metrics.get("generated") or {}):
        raise RunFailed(f"--metric={config.metric} is not among the evaluated metrics "
                        f"{sorted(metrics.get('generated') or {})}")
    return value


def decide_and_publish(config: RetrainConfig, children: Children, record: dict, metrics_path: str,
                       value: float | None) -> None:
    published_version, published = publish.published_metrics(config.publish_dir)
    old = ((published or {}).get("generated") or {}).get(config.metric)
    ok, reason = publish.is_not_worse(value, old, not config.higher_is_better, config.tolerance)
    record.update(published_version_before=published_version, published_value=old, new_value=value,
                  decision="publish" if ok else "keep", reason=reason)
    logging.info("%s: %s -> %s", config.metric, reason, "publishing" if ok else "not publishing")
    if not ok:
        return
    version = publish.next_version(config.publish_dir)
    staged = publish.staging_dir(config.publish_dir, version)
    children.run("export", ["trainer.generation.export", f"--model_dir={config.model_dir}",
                            f"--export_dir={staged}"])
    publish.move_file(metrics_path, os.path.join(staged, publish.METRICS_NAME))
    record["published_path"] = publish.promote(config.publish_dir, staged, version)
    record["published_version"] = version
    record["removed_versions"] = publish.keep_last(config.publish_dir, config.keep_versions)


def run(config: RetrainConfig) -> int:
    """One retraining run under the lock; returns the exit status (see the module docstring)."""
    try:
        lock = RunLock(config.lock_path).acquire()
    except LockHeld as error:
        print(f"retrain: {error}", file=sys.stderr)
        return EXIT_LOCKED
    except ValueError as error:  # a gs:// lock path: flock needs this host's file system
        print(f"retrain: error: {error}; pass --lock_file=<a local path>", file=sys.stderr)
        return EXIT_FAILED
    # Holding the lock, no earlier run lives: a child it recorded is an orphan.
    stop_orphans(config.children_path)
    children, record = Children(config.children_path), new_record(config)
    children.install()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    work = os.path.join(config.log_dir, f".{stamp}-work")
    import tensorflow as tf  # gfile: the run's folders may be on gs://

    try:
        tf.io.gfile.makedirs(work)
        check_metric(config, record)
        preprocess(config, children, record)
        train(config, children, record)
        metrics_path = os.path.join(work, publish.METRICS_NAME)
        value = evaluate(config, children, record, metrics_path)
        decide_and_publish(config, children, record, metrics_path, value)
        record["status"] = "done"
        return EXIT_OK
    except (RunFailed, OSError, ValueError) as error:
        record.update(status="failed", error=str(error))
        print(f"retrain: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        record.update(finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      commands=children.commands)
        write_record(config.log_dir, stamp, record)
        if tf.io.gfile.exists(work):
            tf.io.gfile.rmtree(work)
        lock.release()


def write_record(log_dir: str, stamp: str, record: dict) -> str:
    """<log_dir>/<stamp>.json, written through a temporary file and a rename (pipeline.files)."""
    import tensorflow as tf

    tf.io.gfile.makedirs(log_dir)
    path = os.path.join(log_dir, f"{stamp}.json")
    if tf.io.gfile.exists(path):  # two runs in one second (the second after the first released the lock)
        path = os.path.join(log_dir, f"{stamp}-{os.getpid()}.json")
    files.atomic_write(path, json.dumps(record, indent=1, sort_keys=True))
    logging.info("run record: %s (%s)", path, record["status"])
    return path


# ----------------------------------------------------------------------------------------------
# Command line


def define_flags():
    """Called only when run as a program, so importing this module defines no flags."""
    flags.DEFINE_string("shards", None, "Dataset root: versioned shard sets are added under it.")
    flags.DEFINE_string("model_dir", None, "The trainer's model directory (continued each run).")
    flags.DEFINE_string("publish_dir", None, "Where versions <N>/ and the `latest` pointer go.")
    flags.DEFINE_integer("train_steps", 1000, "Steps to train beyond the latest checkpoint.")
    flags.DEFINE_string("preprocess_flags", "", "Flags for python -m pipeline.main, e.g. "
                        "\"--dataset=folder --input=/data/videos\" (--output is --shards).")
    flags.DEFINE_string("trainer_flags", "", "Flags for python -m trainer.main, e.g. "
                        "\"--preset=small --batch_size=8\".")
    flags.DEFINE_string("evaluate_flags", "", "Flags for python -m trainer.evaluation.evaluate, e.g. "
                        "\"--num_videos=256\".")
    flags.DEFINE_bool("skip_preprocess", False, "Train on the shard sets already there.")
    flags.DEFINE_string("metric", "fvd", "Metric of trainer.evaluation.evaluate (its 'generated' values) "
                        "deciding the promotion; it must be defined on the data (fd_shapes and the "
                        "shape scores: Shape Motion only; fvd: needs I3D; fid: needs Inception-v3).")
    flags.DEFINE_bool("higher_is_better", False, "The metric improves upwards (default: lower).")
    flags.DEFINE_float("tolerance", 0.0, "How much worse than the published value, in the "
                       "metric's units, still counts as not worse.")
    flags.DEFINE_integer("keep_versions", 3, "Published versions kept.")
    flags.DEFINE_string("runs_log_dir", "", "Run records (default <model_dir>/retrain_runs).")
    flags.DEFINE_string("lock_file", "", "Lock file (default <model_dir>/retrain.lock); on this "
                        "host's file system, so give one with a gs:// --model_dir.")


def split_flags(name: str, text: str) -> tuple[str, ...]:
    """The flags one --*_flags string holds, split as a shell would; a clear error for a quote
    left open."""
    try:
        return tuple(shlex.split(text))
    except ValueError as error:  # "No closing quotation", "No escaped character"
        raise ValueError(f"--{name}={text!r} cannot be split into flags ({error}): close each "
                         f"quote, e.g. --{name}=\"--preset=small --batch_size=8\"") from None


def main(argv):
    del argv
    f = flags.FLAGS
    try:
        config = RetrainConfig(
            shards=f.shards.rstrip("/"), model_dir=f.model_dir, publish_dir=f.publish_dir,
            train_steps=f.train_steps, preprocess_flags=split_flags("preprocess_flags", f.preprocess_flags),
            trainer_flags=split_flags("trainer_flags", f.trainer_flags),
            evaluate_flags=split_flags("evaluate_flags", f.evaluate_flags), skip_preprocess=f.skip_preprocess,
            metric=f.metric, higher_is_better=f.higher_is_better, tolerance=f.tolerance,
            keep_versions=f.keep_versions, runs_log_dir=f.runs_log_dir, lock_file=f.lock_file)
    except ValueError as error:
        sys.exit(f"retrain: error: {error}")
    sys.exit(run(config))


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["shards", "model_dir", "publish_dir"])
    app.run(main)
