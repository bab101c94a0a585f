"""Cuts a decoded video into fixed-length clips: the windows the trainer sees as samples.

A clip is `num_frames` consecutive frames of the (already resampled) video. Windows start every
`clip_stride` frames (stride == num_frames gives non-overlapping clips, a smaller stride overlaps
them). With `max_clips_per_video`, the kept windows are spread evenly over the video rather than
taken from its start, so a cap does not bias a data set towards the first seconds of every video.

    starts, windows = make_clips(frames, ClipSpec(num_frames=16, clip_stride=16, max_clips=4))

The job does not hold a whole video: `stream_clips` cuts the same windows from frames as they
arrive, keeping only those a window still needs, so its memory is a clip or two whatever the
video's length. A cap needs the video's frame count up front (to spread its picks), and with it
the stream stops once the last window is cut.

    for start, window in stream_clips(decode.stream_frames(path), ClipCutter(spec)): ...
"""

import collections
import dataclasses
from typing import Iterable, Iterator

import numpy as np


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """How a video becomes clips; `clip_stride=None` means num_frames (non-overlapping)."""

    num_frames: int = 16
    clip_stride: int | None = None
    max_clips: int | None = None

    def __post_init__(self):
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
        if self.clip_stride is not None and self.clip_stride < 1:
            raise ValueError(f"clip_stride must be >= 1, got {self.clip_stride}")
        if self.max_clips is not None and self.max_clips < 1:
            raise ValueError(f"max_clips_per_video must be >= 1 (or unset), got {self.max_clips}")

    @property
    def stride(self) -> int:
        return self.clip_stride or self.num_frames


def clip_starts(num_available: int, spec: ClipSpec) -> list[int]:
    """First-frame indices of the clips of a video with `num_available` frames; [] when too short."""
    if num_available < spec.num_frames:
        return []
    starts = list(range(0, num_available - spec.num_frames + 1, spec.stride))
    if spec.max_clips is not None and len(starts) > spec.max_clips:
        # Evenly spaced picks over all candidate windows, first and last included.
        picks = np.linspace(0, len(starts) - 1, spec.max_clips).round().astype(int)
        starts = [starts[i] for i in picks]
    return starts


def make_clips(frames: np.ndarray, spec: ClipSpec) -> tuple[list[int], list[np.ndarray]]:
    """(starts, windows): each window is frames[start:start + num_frames], a view, not a copy."""
    starts = clip_starts(len(frames), spec)
    return starts, [frames[start:start + spec.num_frames] for start in starts]


def expected_clips(num_available: int, spec: ClipSpec) -> int:
    """How many clips a video of `num_available` frames gives (for sizing shards up front)."""
    if num_available < spec.num_frames:
        return 0
    count = (num_available - spec.num_frames) // spec.stride + 1
    return min(count, spec.max_clips) if spec.max_clips is not None else count


class FrameCountMismatch(Exception):
    """The stream ended before a window that the given frame count promised (the count was high)."""

    def __init__(self, counted: int, seen: int):
        super().__init__(f"the frame count said {counted} frames, the stream gave {seen}")
        self.counted, self.seen = counted, seen


class ClipCutter:
    """Cuts windows from frames pushed in order; holds only frames a coming window needs.

    Without `num_available`, windows start at 0, stride, 2*stride... for as long as frames come:
    exactly clip_starts' uncapped windows. With it (needed for a cap), the starts are
    clip_starts(num_available, spec) and `done` turns true once the last is cut.
    """

    def __init__(self, spec: ClipSpec, num_available: int | None = None):
        if spec.max_clips is not None and num_available is None:
            raise ValueError("a cap on clips per video needs the video's frame count (num_available)")
        self._spec, self._counted = spec, num_available
        self._starts = None if num_available is None else collections.deque(clip_starts(num_available, spec))
        self._chunks = collections.deque()  # arrays of consecutive frames, the first at self._first
        self._first = 0
        self.seen = 0
        self._next = 0 if self._starts is None else (self._starts[0] if self._starts else None)

    @property
    def done(self) -> bool:
        return self._next is None

    def push(self, frames: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(start, window) of every window that `frames` completes. Chunks pushed must not be
        changed afterwards (a window may be a view of one)."""
        self._chunks.append(frames)
        self.seen += len(frames)
        cut = []
        while self._next is not None and self._next + self._spec.num_frames <= self.seen:
            cut.append((self._next, self._window(self._next)))
            self._advance()
        self._drop_before(self.seen if self._next is None else self._next)
        return cut

    def finish(self) -> None:
        """Raises FrameCountMismatch when the counted frames promised windows the stream lacked."""
        if self._starts is not None and self._next is not None:
            raise FrameCountMismatch(self._counted, self.seen)

    def _advance(self) -> None:
        if self._starts is None:
            self._next += self._spec.stride
            return
        self._starts.popleft()
        self._next = self._starts[0] if self._starts else None

    def _window(self, start: int) -> np.ndarray:
        parts, position = [], self._first
        for chunk in self._chunks:
            low, high = max(start, position), min(start + self._spec.num_frames, position + len(chunk))
            if low < high:
                parts.append(chunk[low - position:high - position])
            position += len(chunk)
        # A window inside one chunk is a view of it: chunks are never written again, and a view
        # keeps only its own chunk alive.
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _drop_before(self, index: int) -> None:
        while self._chunks and self._first + len(self._chunks[0]) <= index:
            self._first += len(self._chunks.popleft())


def stream_clips(frames: Iterable[np.ndarray], cutter: ClipCutter) -> Iterator[tuple[int, np.ndarray]]:
    """(start, window) as each window fills, from chunks of consecutive frames: the clips
    make_clips gives the whole video when the cutter's count is the true one (or None and no
    cap). Stops reading `frames` (and closes it, which stops ffmpeg) after the last window;
    `cutter.seen` then says how many frames were read."""
    source = iter(frames)
    try:
        for chunk in source:
            yield from cutter.push(chunk)
            if cutter.done:
                return
        cutter.finish()
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
