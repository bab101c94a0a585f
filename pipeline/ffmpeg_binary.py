"""Which ffmpeg binary the project runs.

By default the one that the imageio-ffmpeg wheel ships, so that a pip install (on a laptop or on a
Dataflow worker through `--setup_file`) brings ffmpeg with it. `FFMPEG_BINARY` points elsewhere,
for example at a system build with more codecs.
"""

import functools
import os
import shutil

import imageio_ffmpeg

ENV_VAR = "FFMPEG_BINARY"


@functools.lru_cache(maxsize=None)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg executable; a clear error if the override names nothing runnable."""
    override = os.environ.get(ENV_VAR)
    if not override:
        return imageio_ffmpeg.get_ffmpeg_exe()
    found = shutil.which(override)
    if found is None:
        raise FileNotFoundError(
            f"{ENV_VAR}={override!r} is not an executable; unset it to use the ffmpeg that "
            "imageio-ffmpeg installs, or point it at an ffmpeg binary")
    return found
