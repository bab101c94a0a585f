"""A model directory's checkpoints and what resuming needs: where they live (`paths`), the best
one by a metric (`best`), the save on SIGTERM (`preemption`), and every config the directory
trained with (`config_history`). Importing the package costs no TensorFlow import."""
