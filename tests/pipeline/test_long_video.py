"""A long video through the streaming decode path: memory that does not grow with its length.

The video is made by ffmpeg in the test (its testsrc2 pattern, xvid in .avi, minutes long at a
small size). The decode path runs in a fresh Python process so that its peak resident size
(VmHWM, reset after the imports) is its own: streamed, it stays within a bound a few clips wide; decoded whole, as
before, it grows by the video's frames, which shows the bound is one that the old path breaks.
"""

import json
import subprocess
import sys

import ffmpeg
import pytest

from pipeline.clips import ClipSpec
from pipeline.media import ffmpeg_exe

SECONDS, FPS, SIZE = 240, 25, 64
SPEC = ClipSpec(num_frames=16, clip_stride=16)
FRAME_BYTES = SIZE * SIZE * 3
STREAM_BOUND_BYTES = 24 * 2**20  # chunks, a window, the clip's digest copy and allocator slack

# Runs in the child: imports first, then the peak resident size of the decode alone. Linux's
# clear_refs "5" resets the peak (VmHWM) to the current size, so the imports' own peak (TensorFlow
# comes with pipeline.schema) cannot hide the decode's.
CHILD = """
import hashlib, json, sys
import numpy as np
from pipeline.clips import ClipCutter, ClipSpec, make_clips, stream_clips
from pipeline.decode import decode_video, stream_frames

def status_kb(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))

path, mode, size, num_frames, stride = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
spec = ClipSpec(num_frames, stride)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status_kb("VmRSS")
digest, starts = hashlib.sha256(), []
if mode == "stream":
    clips = stream_clips(stream_frames(path, size), ClipCutter(spec))
else:
    clips = zip(*make_clips(decode_video(path, size), spec))
for start, window in clips:
    starts.append(start)
    digest.update(window.tobytes())
after = status_kb("VmHWM")
print(json.dumps({"growth_kb": after - before, "starts": starts, "sha256": digest.hexdigest()}))
"""


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("long") / "four_minutes.avi")
    stream = ffmpeg.input(f"testsrc2=size=96x72:rate={FPS}:duration={SECONDS}", format="lavfi").output(
        path, vcodec="libxvid", pix_fmt="yuv420p")
    ffmpeg.run(stream.overwrite_output(), cmd=ffmpeg_exe(), quiet=True)
    return path


def _decode_in_child(path: str, mode: str) -> dict:
    command = [sys.executable, "-c", CHILD, path, mode, str(SIZE), str(SPEC.num_frames), str(SPEC.stride)]
    return json.loads(subprocess.run(command, capture_output=True, check=True, text=True).stdout)


def test_streamed_decode_of_a_long_video_stays_within_a_few_clips_of_memory(long_video):
    streamed, whole = _decode_in_child(long_video, "stream"), _decode_in_child(long_video, "whole")
    frames = SECONDS * FPS
    assert len(streamed["starts"]) == frames // SPEC.num_frames
    assert streamed["growth_kb"] * 1024 < STREAM_BOUND_BYTES
    assert whole["growth_kb"] * 1024 > frames * FRAME_BYTES  # 74 MB: the old path breaks the bound
    assert (streamed["starts"], streamed["sha256"]) == (whole["starts"], whole["sha256"])

