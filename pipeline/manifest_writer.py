"""The driver's bookkeeping around a run: shard sizing, per-video reports, and the manifest.

Before the pipeline runs, `piece_bytes` sizes the shard writer's pieces from the expected clip
count (an older set in the output stays until the new manifest replaces it: pipeline/set_swap.py).
While it runs, `WriteReports` writes one JSON line per video (clips written, or why it
failed) to a temporary work folder inside the output, beside the shard writer's pieces.
Afterwards `read_reports` brings them back to the driver, `shard_files_written` checks the shards
they name (the output is not listed again), `build_manifest` describes them, and
`pipeline.schema.write_manifest` writes it last.
"""

import collections
import dataclasses
import json
import math
import os
import uuid
from importlib import metadata

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline import schema, set_swap, shard_layout
from pipeline.clips import ClipSpec, expected_clips
from pipeline.shard_writer import TARGET_SHARD_BYTES

ASSUMED_SECONDS_PER_VIDEO = 7.0  # UCF-101's mean; only sizes shards, never cuts videos
ASSUMED_NATIVE_FPS = 25.0
# Stored size of a clip relative to its raw bytes, as `python -m pipeline.benchmark` measured them
# on moving camera-like content (png 0.49, jpeg 0.16; gzip: raw 0.86, png 0.99, jpeg 0.67).
ENCODED_FRACTION = {"raw": 1.0, "png": 0.5, "jpeg": 0.16}
GZIP_FRACTION = {"raw": 0.86, "png": 1.0, "jpeg": 0.67}
RECORD_OVERHEAD_BYTES = 200
PACKAGE_NAME = "mocogan-video-stack"


@dataclasses.dataclass(frozen=True)
class SplitCounts:
    num_videos: int = 0
    num_clips: int = 0


def clip_bytes(spec: ClipSpec, size: int, encoding: str, compression: str) -> float:
    """Expected stored bytes of one clip record."""
    raw = spec.num_frames * size * size * 3
    fraction = ENCODED_FRACTION[encoding] * (GZIP_FRACTION[encoding] if compression == "gzip" else 1.0)
    return raw * fraction + RECORD_OVERHEAD_BYTES


def frames_per_video(fps: float | None, frame_stride: int | None) -> int:
    """Frames an average video keeps after resampling (an estimate: no video is opened for it)."""
    if fps is not None:
        return int(ASSUMED_SECONDS_PER_VIDEO * fps)
    return int(ASSUMED_SECONDS_PER_VIDEO * ASSUMED_NATIVE_FPS / (frame_stride or 1))


def piece_bytes(clips_per_split: dict[str, float], bytes_per_clip: float,
                num_shards: int | None) -> dict[str, int]:
    """Largest temporary piece per split: a shard's size, or less when --num_shards asks for more
    shards than the expected bytes fill (so that there are pieces enough to fill each shard)."""
    if num_shards is None:
        return {split: TARGET_SHARD_BYTES for split in clips_per_split}
    return {split: max(1, min(TARGET_SHARD_BYTES, int(clips * bytes_per_clip / num_shards)))
            for split, clips in clips_per_split.items()}


def expected_num_shards(num_clips: float, bytes_per_clip: float) -> int:
    """The shard count a split of `num_clips` is expected to get (the log's forecast)."""
    return max(1, math.ceil(num_clips * bytes_per_clip / TARGET_SHARD_BYTES))


def expected_clips_per_split(videos_per_split: dict[str, int], frames: int, spec: ClipSpec) -> dict[str, float]:
    return {split: count * expected_clips(frames, spec) for split, count in videos_per_split.items()}


# ----------------------------------------------------------------------------------------------
# Output folder


def new_work_dir(output: str) -> str:
    """A temporary folder inside the output for the run's reports and shard pieces."""
    return os.path.join(output, f"{set_swap.WORK_PREFIX}{uuid.uuid4().hex[:12]}")


def pieces_dir(work_dir: str) -> str:
    return os.path.join(work_dir, "pieces")


def shard_files_written(reports: list[dict], output: str, split: str, compression: str,
                        tag: str = "") -> tuple[str, ...]:
    """The split's shard file names, from the shard writer's own reports (no listing of `output`),
    checked to be a complete `-SSSSS-of-NNNNN` set. A retried bundle may report a shard twice."""
    reported = {os.path.basename(r["path"]) for r in reports if r["kind"] == "shard"}
    names = sorted(name for name in reported if (parsed := shard_layout.parse_shard_file_name(name))
                   and parsed.split == split and parsed.compression == compression and parsed.tag == tag)
    expected = [shard_layout.shard_file_name(split, i, len(names), compression, tag)
                for i in range(len(names))]
    if not names or names != expected:
        raise RuntimeError(f"the pipeline finished but the shard files of split {split!r} in {output} "
                           f"are not a complete set (found {names[:3]}{'...' if len(names) > 3 else ''}); "
                           "run the job again")
    return tuple(names)


# ----------------------------------------------------------------------------------------------
# Per-video reports


class IncompleteReports(RuntimeError):
    """The runner finished, but some listed videos came back with no report."""


def shard_report(path: str) -> dict:
    """The report of one shard file written (see pipeline.main.build: why shards are reported)."""
    return {"kind": "shard", "path": path}


def check_one_report_per_video(reports: list[dict], sources) -> None:
    """Every listed video must come back once, written, failed or too short: a runner that lost
    outputs must not pass for a job whose videos all failed quietly."""
    reported = [r["video_id"] for r in reports if r["kind"] in ("written", "failed", "too_short")]
    listed = {source.video_id for source in sources}
    lost = sorted(listed - set(reported))
    twice = sorted(video_id for video_id, n in collections.Counter(reported).items() if n > 1)
    if lost or twice:
        raise IncompleteReports(
            f"the runner returned no report for {len(lost)} of {len(listed)} videos (e.g. {lost[:2]}) "
            f"and more than one for {len(twice)} (e.g. {twice[:2]}); it lost or repeated outputs, so "
            "no manifest was written: run the job again, or on another runner")


class WriteReports(beam.PTransform):
    """Report dicts (FAILED and WRITTEN outputs, shards) -> one JSON-lines file `<work_dir>/videos.jsonl`."""

    def __init__(self, work_dir: str):
        super().__init__()
        self._path = os.path.join(work_dir, "videos")

    def expand(self, reports):
        return (reports
                | "Flatten" >> beam.Flatten()
                | "ToJson" >> beam.Map(lambda report: json.dumps(report, ensure_ascii=False, sort_keys=True))
                | "WriteJsonLines" >> beam.io.WriteToText(self._path, file_name_suffix=".jsonl",
                                                          shard_name_template="", num_shards=1))


def read_reports(work_dir: str) -> list[dict]:
    """Every report line written by WriteReports."""
    reports = []
    for match in FileSystems.match([os.path.join(work_dir, "*.jsonl")])[0].metadata_list:
        with FileSystems.open(match.path) as handle:
            text = handle.read().decode("utf-8")
        reports += [json.loads(line) for line in text.splitlines() if line.strip()]
    return reports


def remove_dir(path: str) -> None:
    """Deletes a work folder: its files (all an object store has), then the local folder."""
    files = [m.path for m in FileSystems.match([os.path.join(path, "**")])[0].metadata_list]
    if files:
        FileSystems.delete(files)
    if FileSystems.exists(path):
        FileSystems.delete([path])


def split_counts(reports: list[dict], splits) -> dict[str, SplitCounts]:
    counts = {split: SplitCounts() for split in splits}
    for report in reports:
        if report["kind"] == "written":
            old = counts[report["split"]]
            counts[report["split"]] = SplitCounts(old.num_videos + 1, old.num_clips + report["clips"])
    return counts


# ----------------------------------------------------------------------------------------------
# Manifest


def package_version() -> str:
    try:
        return metadata.version(PACKAGE_NAME)
    except metadata.PackageNotFoundError:
        return "unknown (not installed; pip install -e .)"


def failed_entries(reports: list[dict], missing) -> tuple[dict, ...]:
    """Failed and too-short videos, and list entries whose file is missing, sorted by id."""
    entries = [{"video_id": r["video_id"], "path": r["path"], "reason": r["reason"]}
               for r in reports if r["kind"] in ("failed", "too_short")]
    entries += [{"video_id": video_id, "path": "", "reason": reason} for video_id, reason in missing]
    return tuple(sorted(entries, key=lambda entry: entry["video_id"]))


def upscaled_videos(reports: list[dict]) -> list[dict]:
    """The WRITTEN reports of videos whose clips were enlarged from a smaller source."""
    return [r for r in reports if r["kind"] == "written" and r.get("upscaled_from")]


def upscale_warning(reports: list[dict], size: int) -> str | None:
    """The job's one line about upscaled videos (None when there were none)."""
    upscaled = upscaled_videos(reports)
    if not upscaled:
        return None
    written = sum(1 for r in reports if r["kind"] == "written")
    examples = ", ".join(f"{r['video_id']} ({r['upscaled_from'][0]}x{r['upscaled_from'][1]})"
                         for r in sorted(upscaled, key=lambda r: r["video_id"])[:3])
    return (f"warning: {len(upscaled)} of {written} videos were upscaled: their short side is below "
            f"--size={size} (e.g. {examples}), so their clips hold no more detail than the source; "
            f"a --size at or below the source's short side keeps them native")


def file_sizes(output: str, files: dict[str, tuple[str, ...]]) -> dict[str, tuple[int, ...]]:
    """The size of each shard file as written, per split (the manifest's `file_bytes`)."""
    return {split: tuple(FileSystems.match([os.path.join(output, name)])[0].metadata_list[0].size_in_bytes
                         for name in names) for split, names in files.items()}


def build_manifest(config, class_names, files: dict[str, tuple[str, ...]],
                   counts: dict[str, SplitCounts], failed: tuple[dict, ...], beam_options: dict,
                   data_generator: str = "", sizes: dict[str, tuple[int, ...]] | None = None,
                   upscaled: int | None = None) -> schema.Manifest:
    splits = {split: schema.SplitInfo(files=files[split], num_videos=counts[split].num_videos,
                                      num_clips=counts[split].num_clips,
                                      file_bytes=(sizes or {}).get(split, ())) for split in files}
    return schema.Manifest(
        clip_shape=(config.num_frames, config.size, config.size, 3),
        encoding=config.encoding,
        compression=config.compression,
        class_names=tuple(class_names),
        splits=splits,
        dataset=config.dataset,
        fps=config.fps,
        frame_stride=config.frame_stride,
        failed=failed,
        producer={"name": "pipeline.main", "version": package_version(),
                  "options": config.as_dict(), "beam_options": beam_options},
        data_generator=data_generator,
        upscaled_videos=upscaled,
    )
