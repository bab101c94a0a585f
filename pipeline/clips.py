"""Cuts a decoded video into fixed-length clips: the windows the trainer sees as samples.

A clip is `num_frames` consecutive frames of the (already resampled) video. Windows start every
`clip_stride` frames (stride == num_frames gives non-overlapping clips, a smaller stride overlaps
them). With `max_clips_per_video`, the kept windows are spread evenly over the video rather than
taken from its start, so a cap does not bias a data set towards the first seconds of every video.

    starts, windows = make_clips(frames, ClipSpec(num_frames=16, clip_stride=16, max_clips=4))
"""

import dataclasses

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
