"""SIGTERM (preemption) handling for the training loop, through TensorFlow's own handler.

    preemption = Preemption(strategy, checkpoint, checkpoint_dir, save)
    while step < total:
        train_step(...)
        if preemption.stop():   # every worker, once per step: True after the agreed checkpoint
            break
    preemption.close()

`tf.distribute.experimental.PreemptionCheckpointHandler` (as Orbit's SaveCheckpointIfPreempted
uses it) is what makes a multi-worker job survive a SIGTERM to any one worker: the signalled
worker picks the step after which to save and tells the others through the coordination service,
so every worker leaves the loop after the same step and joins the same (collective) save. A flag
per process cannot do that: the signalled worker would leave while the others wait in the next
all-reduce.

The single-host case uses the same handler. With no cluster (the default or Mirrored strategy, or
MultiWorkerMirrored without TF_CONFIG) TensorFlow 2.21 runs it in "local mode": it watches SIGTERM
itself and saves after the next step, with no coordination service. What is ours:
- `save_fn` is the loop's own save (its CheckpointManager, --max_to_keep, the non-chief's scratch
  copy), so the handler does not keep a second manager with max_to_keep=1 in the same folder;
- `exit_fn` only marks the run stopped, so the loop returns normally (summaries closed, exit 0)
  instead of the handler's default sys.exit(42);
- a SIGTERM that arrived before the handler existed (start-up: reading shards, building nets) is
  passed to it once it does (`requested_before`), and every SIGTERM is logged;
- where TensorFlow's handler watches nothing (it does so on GCP CPU and TPU VMs), a SIGTERM stops
  this process alone after a save, which is right on one host; a warning says a multi-worker job
  there would need its own coordination.
"""

import signal
from typing import Callable

import tensorflow as tf
from absl import logging


class Preemption:
    """The handler and this process's SIGTERM wiring; see the module docstring."""

    def __init__(self, strategy: tf.distribute.Strategy, checkpoint: tf.train.Checkpoint,
                 directory: str, save: Callable[[], None],
                 requested_before: Callable[[], bool] = lambda: False):
        self.stopped = self.requested = False
        self._save = save
        self._previous = signal.getsignal(signal.SIGTERM)
        # Passing the checkpoint and the chief's folder (not a manager) makes every worker restore
        # the handler's step counter from the same checkpoint, so their counts agree.
        self.handler = tf.distribute.experimental.PreemptionCheckpointHandler(
            getattr(strategy, "cluster_resolver", None), checkpoint, directory,
            tf.distribute.experimental.TerminationConfig(exit_fn=self._on_saved, save_fn=save))
        installed = signal.getsignal(signal.SIGTERM)
        self._tf_handler = installed if installed is not self._previous else None
        multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        if self._tf_handler is None and multi_worker:
            logging.warning("TensorFlow's preemption handler watches nothing on this platform: a "
                            "SIGTERM stops only the worker that gets it")
        signal.signal(signal.SIGTERM, self._on_sigterm)
        if requested_before():
            signal.raise_signal(signal.SIGTERM)

    def _on_sigterm(self, signum, frame):
        logging.warning("SIGTERM received: checkpointing after the current step")
        self.requested = True
        if self._tf_handler is not None:
            self._tf_handler(signum, frame)

    def _on_saved(self):
        logging.info("preemption checkpoint saved; leaving the training loop")
        self.stopped = True

    def stop(self) -> bool:
        """Call once per step on every worker. True once the preemption checkpoint is saved."""
        self.handler.save_checkpoint_if_preempted()
        if self.requested and self._tf_handler is None and not self.stopped:
            self._save()
            self._on_saved()
        return self.stopped

    def close(self) -> None:
        """Gives SIGTERM back to whoever had it before (e.g. trainer.main's start-up handler)."""
        signal.signal(signal.SIGTERM, self._previous)
