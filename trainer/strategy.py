"""Chooses the tf.distribute strategy for `--strategy` and tells a worker whether it is the chief;
says what the devices compute natively (bfloat16: `--mixed_precision=auto`).

    auto          TPU when --tpu is given, else MirroredStrategy over several GPUs, else default
    default       one device
    mirrored      every local GPU (or the logical devices that exist, e.g. two CPUs in tests)
    multi_worker  MultiWorkerMirroredStrategy; the cluster comes from the TF_CONFIG variable
    tpu           TPUStrategy through TPUClusterResolver(--tpu)
"""

import json
import os

import tensorflow as tf


def cpu_description() -> dict:
    """This machine's CPU as Linux describes it (its first core): model name, family and model
    numbers, the cores this process may use, and whether it computes bfloat16 natively
    (AVX-512 BF16, AMX). Figures are quoted with it."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if not line.strip():  # the first core's block ends here
                    break
                fields[key.strip()] = value.strip()
    except OSError:  # not Linux: all unknown
        pass
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name", "unknown"), "family": fields.get("cpu family", "?"),
            "model_number": fields.get("model", "?"), "cores": len(os.sched_getaffinity(0)),
            "avx512_bf16": "avx512_bf16" in flags, "amx": any(flag.startswith("amx") for flag in flags)}


def native_bf16(tpu: str = "") -> bool:
    """Whether training here computes bfloat16 natively: a TPU, GPUs of compute capability 8.0
    or later (Ampere on), or else a CPU with AVX-512 BF16 or AMX. Elsewhere bfloat16 is emulated
    and about 10x slower than float32."""
    if tpu:
        return True
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capabilities = [tf.config.experimental.get_device_details(gpu).get("compute_capability")
                        for gpu in gpus]
        return all(c is not None and tuple(c) >= (8, 0) for c in capabilities)
    cpu = cpu_description()
    return cpu["avx512_bf16"] or cpu["amx"]


def make_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        name = "tpu" if tpu else ("mirrored" if len(gpus) > 1 else "default")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy=multi_worker needs the TF_CONFIG environment variable "
                             "describing the cluster (see tf.distribute.MultiWorkerMirroredStrategy)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        # No TPU can be reached here, so this branch is the standard three calls and nothing more.
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown strategy {name!r}")


def task() -> tuple[str | None, int]:
    """(task type, index) of this process from TF_CONFIG; (None, 0) outside a cluster."""
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task_info = tf_config.get("task", {})
    return task_info.get("type"), int(task_info.get("index", 0))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """The one process that writes summaries and owns the model directory."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = task()
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if "chief" in cluster:
        return task_type == "chief"
    return task_type in (None, "worker") and task_id == 0


def worker_dir(model_dir: str, strategy: tf.distribute.Strategy) -> str:
    """Where this worker writes checkpoints: the model dir on the chief, a scratch dir elsewhere.

    Every worker must take part in a save (its variables may be needed), but only the chief's copy
    is kept; the others write beside it and delete theirs (the tf.distribute pattern). The scratch
    dir is the one PreemptionCheckpointHandler creates for a non-chief worker (workertemp_<id>), so
    the delete after each save also removes the folder the handler made.
    """
    if is_chief(strategy):
        return model_dir
    _, task_id = task()
    return os.path.join(model_dir, f"workertemp_{task_id}")
