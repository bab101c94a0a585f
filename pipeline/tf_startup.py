"""TensorFlow's start-up without the CUDA probe's noise, on machines that have no NVIDIA GPU.

The TensorFlow wheel looks for CUDA when it loads and when it first lists devices, and on a
machine without a GPU it prints `E0000 ... failed call to cuInit: ... UNKNOWN ERROR (303)` and
`Could not find cuda drivers` through C++ logging that runs before any log level applies
(TF_CPP_MIN_LOG_LEVEL does not reach it). New users read those lines as failures.

Importing this module imports TensorFlow and lists its devices with the process's stderr (file
descriptor 2) captured, then writes back every captured line except the CUDA probe's. On a
machine with an NVIDIA device, or with MOCOGAN_SHOW_CUDA_PROBE=1, nothing is filtered. The
command-line programs import it first, before anything else imports TensorFlow.
"""

import glob
import os
import re
import sys
import tempfile

# What TensorFlow prints when CUDA is missing; nothing else is dropped.
CUDA_PROBE_LINE = re.compile(
    r"failed call to cuInit|Could not find cuda drivers|cuda_platform\.cc|cudart_stub\.cc")
# absl's notice before those lines; dropped only together with them.
ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called"


def has_nvidia_device() -> bool:
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/proc/driver/nvidia")


def without_cuda_probe(text: str) -> str:
    """`text` without the CUDA probe's lines (and absl's preamble when the probe's went)."""
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines if not CUDA_PROBE_LINE.search(line)]
    if len(kept) < len(lines):
        kept = [line for line in kept if not line.startswith(ABSL_PREAMBLE)]
    return "".join(kept)


def _import_with_stderr_filtered() -> None:
    with tempfile.TemporaryFile() as captured:  # a file, not a pipe: it never fills and blocks
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # the probe runs here, not at import
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            sys.stderr.write(without_cuda_probe(captured.read().decode(errors="replace")))
            sys.stderr.flush()


if "tensorflow" not in sys.modules:
    if has_nvidia_device() or os.environ.get("MOCOGAN_SHOW_CUDA_PROBE") == "1":
        import tensorflow  # noqa: F401
    else:
        _import_with_stderr_filtered()
