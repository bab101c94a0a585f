"""A checkpoint that cannot be written (a full disk): a real trainer process whose file writes fail.

The child's file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored) makes every write past it fail
with EFBIG, as a full disk fails with ENOSPC: TensorFlow's save raises, and the trainer must say so
in one line, leave no partial checkpoint and keep the last good one.
"""

import os
import resource
import signal
import subprocess
import sys

import tensorflow as tf

from tests.trainer_shards import write_shards
from trainer.checkpoints import paths as checkpoint_paths
from trainer.generation import restore

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
TRAINER = ["--preset=small", "--batch_size=2", "--image_batch_size=2", "--strategy=default",
           "--summary_every=1", "--sample_every=100000", "--checkpoint_every=2"]


def _train(shards, model_dir, steps, file_size_limit=None):
    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        [sys.executable, "-m", "trainer.main", f"--tfrecords={shards}", f"--model_dir={model_dir}",
         f"--train_steps={steps}", *TRAINER],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES=""),
        preexec_fn=limit_file_size if file_size_limit else None)


def test_failed_checkpoint_write_is_one_line_and_keeps_the_last_good_one(tmp_path):
    shards = write_shards(tmp_path / "shards", num_files=1, clips_per_file=4, shape=(4, 32, 32, 3))
    model_dir = tmp_path / "run"
    assert _train(shards, model_dir, 2).returncode == 0
    ckpt_dir = checkpoint_paths.checkpoint_dir(str(model_dir))
    good = tf.train.latest_checkpoint(ckpt_dir)
    assert checkpoint_paths.checkpoint_step(good) == 2
    data_size = max(os.path.getsize(path) for path in tf.io.gfile.glob(good + ".data*"))

    # Every other file the run writes (config, events, the lock) stays far below half a checkpoint.
    result = _train(shards, model_dir, 4, file_size_limit=data_size // 2)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, result.stderr[-2000:]
    assert "could not write checkpoint 4" in error[0] and ckpt_dir in error[0]
    assert "ckpt-2" in error[0] and "rerun" in error[0]
    leftovers = [name for name in os.listdir(ckpt_dir) if name.startswith("ckpt-4")]
    assert leftovers == [], leftovers
    assert tf.train.latest_checkpoint(ckpt_dir) == good
    assert restore.resolve_checkpoint(str(model_dir), "latest") == good  # sample and export load it
    # With the space back, the same command resumes from step 2 and writes step 4.
    assert _train(shards, model_dir, 4).returncode == 0
    assert checkpoint_paths.checkpoint_step(tf.train.latest_checkpoint(ckpt_dir)) == 4
