"""Shared test settings: quiet TensorFlow, keep it on the CPU, and give it oneDNN's kernels.

TensorFlow leaves oneDNN off on CPUs without AVX-512, and its Conv3D gradients are then orders of
magnitude slower (trainer/__init__.py turns it on for the same reason; a test may import
TensorFlow through pipeline first); subprocesses inherit these.

Nothing may be downloaded in a test: MOCOGAN_OFFLINE stops trainer/evaluation/pretrained.py right where it
would fetch I3D or Inception-v3, and its cache points at an empty folder of this session.
"""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ["MOCOGAN_OFFLINE"] = "1"
os.environ["MOCOGAN_MODEL_CACHE"] = tempfile.mkdtemp(prefix="model-cache-")
