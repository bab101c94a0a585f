"""Shared test settings: quiet TensorFlow and keep each test on the CPU it was given."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
