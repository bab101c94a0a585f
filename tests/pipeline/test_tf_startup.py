"""TensorFlow's CUDA probe is quiet on a machine without an NVIDIA GPU, and nothing else is."""

import os
import subprocess
import sys

from pipeline import tf_startup

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
PROBE = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
         "I0000 00:00:1.2 1 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU "
         "will not be used.\n"
         "E0000 00:00:1.3 1 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
         "Failed call to cuInit: UNKNOWN ERROR (303)\n")
OTHER = "E0000 00:00:1.4 1 some_kernel.cc:7] a real error\nTraceback (most recent call last):\n"


def test_only_the_probes_lines_are_dropped():
    assert tf_startup.without_cuda_probe(PROBE + OTHER) == OTHER
    # absl's preamble stays when it announces something other than the probe.
    preamble = PROBE.splitlines(keepends=True)[0]
    assert tf_startup.without_cuda_probe(preamble + OTHER) == preamble + OTHER


def _trainer_stderr(tmp_path, **env):
    result = subprocess.run(
        [sys.executable, "-m", "trainer.main", f"--tfrecords={tmp_path / 'none'}",
         f"--model_dir={tmp_path / 'run'}"], cwd=REPO, capture_output=True, text=True,
        timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env})
    assert result.returncode != 0
    return result.stderr


def test_a_command_line_program_starts_without_the_cuda_probe(tmp_path):
    quiet = _trainer_stderr(tmp_path)
    assert "does not exist" in quiet  # the program's own error still comes through
    if tf_startup.has_nvidia_device():
        return  # nothing is filtered where a GPU is: the probe's lines there are real news
    assert "cuInit" not in quiet and "cuda drivers" not in quiet
    shown = _trainer_stderr(tmp_path, MOCOGAN_SHOW_CUDA_PROBE="1")
    assert "cuInit" in shown and "does not exist" in shown
