"""Shared test settings: quiet TensorFlow, keep it on the CPU, and give it oneDNN's kernels.

TensorFlow leaves oneDNN off on CPUs without AVX-512, and its Conv3D gradients are then orders of
magnitude slower (trainer/__init__.py turns it on for the same reason; a test may import
TensorFlow through pipeline first); subprocesses inherit these.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
