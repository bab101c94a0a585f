"""Throughput of the whole preprocessing job against bare ffmpeg, its start-up, lowres decoding,
and shard size per encoding.

    python -m pipeline.benchmark                              # both workloads (make bench: --videos=200)
    python -m pipeline.benchmark --workload=dense             # long videos, every frame kept
    python -m pipeline.benchmark --videos=10 --dense_videos=6 --size_videos=2   # a quick run

Workloads (real xvid .avi files at 320x240 with moving content, made once and cached in
`--video_dir`; clips of 16x64x64):
  standard: `--videos` videos of `--seconds` (7 s, UCF-101's mean), clips that do not overlap.
  dense:    `--dense_videos` videos of `--dense_seconds` (30 s), --frame_stride=1 --clip_stride=16:
            every frame in one clip, the work where the job's cost per clip decides its speed.

For each, side by side in one run (the machine is shared, so only ratios are compared):
1. Bare ffmpeg decodes every file with the job's filters (pipeline.decode.ffmpeg_command) into
   /dev/null, `--workers` processes at a time, before and after the jobs; the mean is the baseline.
2. The whole job, `python -m pipeline.main` in a fresh process with its default options, and its
   start-up: the same command on one 16-frame video (imports, pipeline set-up and tear-down, one
   record, the manifest). ratio = ffmpeg's time / (the job's - the start-up's), target >= 0.9;
   the whole-job ratio beside it.
3. CPU: the job's own Python process beyond the start-up's, per clip, and its ffmpeg processes'
   against bare ffmpeg's.
4. dense: `-lowres 1` and `2` (decoding at 1/2 and 1/4 size inside the xvid decoder): bare
   ffmpeg's time against full decoding, the job with --lowres=1, and the pixel error of the
   clips (mean and max absolute difference from the full decode) on `--error_videos` videos,
   and on those the job's own CPU per clip by stage (pipe and cut, encoding, TFRecord write).
   standard: the DirectRunner's multi_processing mode beside the default. Both: the job with
   one decode thread per core beside the default's one more.
5. On the first `--size_videos` standard videos, the job once per encoding x compression: stored
   bytes per clip and how fast tf.data reads the clips back, then the default it suggests.

A CPU profile of the job's own process on the dense workload (the command BUILD.md gives):

    py-spy record -r 200 -f speedscope -o dense.json -- python -m pipeline.main --dataset=folder \
        --input=/tmp/pipeline-benchmark-videos/dense --output=/tmp/dense-shards --frame_stride=1 \
        --clip_stride=16 --no_folder_labels
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import argparse
import concurrent.futures
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from pipeline import decode, schema
from pipeline.clips import ClipCutter, ClipSpec, stream_clips
from pipeline.media import write_video

WIDTH, HEIGHT, FPS = 320, 240, 25.0
NUM_FRAMES, SIZE = 16, 64
READ_BATCH, READ_BATCHES = 16, 40  # 640 clips read back per encoding, one core, no parallel map


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", choices=("standard", "dense", "all"), default="all")
    parser.add_argument("--videos", type=int, default=60, help="standard: videos for the throughput run")
    parser.add_argument("--seconds", type=float, default=7.0, help="standard: length of each video")
    parser.add_argument("--dense_videos", type=int, default=60, help="dense: videos")
    parser.add_argument("--dense_seconds", type=float, default=30.0, help="dense: length of each video")
    parser.add_argument("--error_videos", type=int, default=8, help="dense: videos for lowres's pixel error")
    parser.add_argument("--workers", type=int, default=2, help="ffmpeg processes at a time")
    parser.add_argument("--size_videos", type=int, default=8, help="standard: videos for the encoding sizes")
    parser.add_argument("--video_dir", default=os.path.join(tempfile.gettempdir(), "pipeline-benchmark-videos"),
                        help="where the generated videos are cached")
    return parser.parse_args(argv)


def synthetic_frames(num_frames: int, seed: int) -> np.ndarray:
    """uint8 [N,240,320,3]: a drifting smooth background, moving blocks and mild sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH + num_frames].astype(np.float32)
    phase = rng.uniform(0, 6.28, 3)
    canvas = np.stack([128 + 80 * np.sin(x / (37 + 11 * c) + y / 53 + phase[c]) for c in range(3)], -1)
    canvas = canvas.astype(np.uint8)
    frames = np.stack([canvas[:, t:t + WIDTH] for t in range(num_frames)])  # the background drifts
    for k, colour in enumerate(rng.integers(0, 256, (3, 3))):
        for t in range(num_frames):
            bx = int((WIDTH - 50) * (0.5 + 0.5 * np.sin(0.05 * t * (k + 1) + seed)))
            by = int((HEIGHT - 50) * (0.5 + 0.5 * np.cos(0.07 * t * (k + 1) + seed)))
            frames[t, by:by + 50, bx:bx + 50] = colour
    noise = rng.integers(-4, 5, frames.shape, dtype=np.int16)
    return np.clip(frames + noise, 0, 255).astype(np.uint8)


def make_videos(directory: str, count: int, seconds: float) -> list[str]:
    """`count` xvid .avi files in `directory`, reusing the ones already there."""
    os.makedirs(directory, exist_ok=True)
    num_frames = int(round(seconds * FPS))
    paths = []
    for i in range(count):
        path = os.path.join(directory, f"bench_v3_{num_frames}f_{i:03d}.avi")
        if not os.path.exists(path):
            write_video(path, synthetic_frames(num_frames, seed=i), fps=FPS, codec="libxvid")
        paths.append(path)
    return paths


def bare_ffmpeg_seconds(paths: list[str], workers: int, lowres: int = 0) -> tuple[float, float]:
    """(wall time, CPU seconds) of plain ffmpeg decoding every file with the job's filters into
    /dev/null, `workers` processes at a time."""
    def decode_one(path):
        command = decode.ffmpeg_command(path, SIZE, output="/dev/null", strict=False, lowres=lowres)
        subprocess.run(command, check=True, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)  # its header log

    cpu_before, started = children_cpu_seconds(), time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(decode_one, paths))
    return time.perf_counter() - started, children_cpu_seconds() - cpu_before


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def import_seconds(module: str) -> float:
    """Wall time of a fresh Python process importing `module` (a worker's start-up cost)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, capture_output=True)
    return time.perf_counter() - started


@dataclasses.dataclass(frozen=True)
class JobRun:
    seconds: float  # wall time of the whole process, start to exit
    own_cpu: float  # the job's Python process
    ffmpeg_cpu: float  # its ffmpeg processes
    clips: int


def job_run(input_dir: str, output: str, extra: list[str]) -> JobRun:
    """The job as a user runs it, `python -m pipeline.main`, in a fresh process."""
    argv = ["--dataset=folder", f"--input={input_dir}", f"--output={output}", "--no_folder_labels",
            f"--num_frames={NUM_FRAMES}", f"--size={SIZE}", "--max_failure_fraction=0", *extra]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", JOB_CHILD, *argv], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"the job exited with status {done.returncode}:\n{done.stderr[-3000:]}")
    usage = json.loads(done.stdout.strip().splitlines()[-1])
    clips = sum(info.num_clips for info in schema.read_manifest(output).splits.values())
    return JobRun(seconds, usage["own"], usage["children"], clips)


# Runs the job in a fresh interpreter and prints its own and its children's CPU seconds last.
JOB_CHILD = """
import json, resource, sys
from pipeline.main import run
status = run(sys.argv[1:])
own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({"own": own.ru_utime + own.ru_stime, "children": children.ru_utime + children.ru_stime}))
sys.exit(status)
"""


def shard_stats(output: str) -> tuple[float, float]:
    """(stored bytes per clip, clips/s that tf.data parses back) of one shard set."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    manifest = schema.read_manifest(output)
    paths = [p for split in manifest.splits for p in manifest.split_paths(output, split)]
    clips = sum(info.num_clips for info in manifest.splits.values())
    stored = sum(os.path.getsize(p) for p in paths)
    dataset = tf.data.TFRecordDataset(paths, schema.tf_compression_type(manifest.compression)).map(
        lambda r: schema.parse_clip(r, manifest.clip_shape, manifest.encoding)["frames"])
    batches = iter(dataset.repeat().batch(READ_BATCH))
    next(batches)  # tf.data's start-up is not part of the rate
    started = time.perf_counter()
    for _ in range(READ_BATCHES):
        next(batches)
    return stored / clips, READ_BATCH * READ_BATCHES / (time.perf_counter() - started)


def linked_inputs(work: str, paths: list[str], name: str) -> str:
    """A folder of symlinks to `paths`: the job's --input for exactly these videos."""
    folder = os.path.join(work, name)
    os.makedirs(folder)
    for path in paths:
        os.symlink(path, os.path.join(folder, os.path.basename(path)))
    return folder


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    paths: list
    frames_per_video: int
    flags: list  # the job's flags beyond the defaults


def job_variants(args, dense: bool) -> dict[str, list[str]]:
    """The job's runs on a workload: the default and what it is compared with."""
    variants = {"default": [], f"--decode_threads={args.workers} (one per core)": [f"--decode_threads={args.workers}"]}
    if dense:
        return {**variants, "--lowres=1": ["--lowres=1"]}
    return {**variants, f"multi_processing x{args.workers}": [
        "--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"]}


def throughput(args, workload: Workload, startup: JobRun) -> None:
    """Bare ffmpeg, the whole job and its variants on one workload, side by side (module doc)."""
    paths, flags, dense = workload.paths, workload.flags, workload.name == "dense"
    with tempfile.TemporaryDirectory() as work:
        inputs = linked_inputs(work, paths, "videos")
        before = bare_ffmpeg_seconds(paths, args.workers)
        lowres = {n: bare_ffmpeg_seconds(paths, args.workers, lowres=n) for n in (1, 2)} if dense else {}
        runs = {name: job_run(inputs, os.path.join(work, str(index)), flags + extra)
                for index, (name, extra) in enumerate(job_variants(args, dense).items())}
        after = bare_ffmpeg_seconds(paths, args.workers)
    ffmpeg_s, ffmpeg_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    count, frames, clips = len(paths), len(paths) * workload.frames_per_video, runs["default"].clips
    print(f"\n{workload.name}: {count} xvid videos of {workload.frames_per_video / FPS:g} s at {WIDTH}x{HEIGHT}, "
          f"{' '.join(flags) or 'default flags'}, {clips} clips of {NUM_FRAMES}x{SIZE}x{SIZE}; {args.workers} "
          "processes; ratio = bare ffmpeg's time / (the job's - its start-up's), target >= 0.9")
    print(f"  {'bare ffmpeg -> /dev/null (mean)':44s} {ffmpeg_s:6.2f} s {frames / ffmpeg_s:7.0f} frames/s  "
          f"(before the jobs {before[0]:.2f} s, after {after[0]:.2f} s)")
    for name, run in runs.items():
        net = run.seconds - startup.seconds
        print(f"  {'whole job, ' + name:44s} {run.seconds:6.2f} s, {net:6.2f} s past its start-up: "
              f"{frames / net:7.0f} frames/s, ratio {ffmpeg_s / net:.2f} (whole job {ffmpeg_s / run.seconds:.2f})")
    default = runs["default"]
    own = default.own_cpu - startup.own_cpu
    print(f"  CPU of the default job: {default.own_cpu:.1f} s in its own process ({startup.own_cpu:.1f} s of it "
          f"start-up; {1000 * own / clips:.2f} ms per clip past it), {default.ffmpeg_cpu:.1f} s in its ffmpeg "
          f"processes against bare ffmpeg's {ffmpeg_cpu:.1f} s ({default.ffmpeg_cpu / ffmpeg_cpu:.2f}); "
          f"CPU ratio past the start-up, bare ffmpeg's / the job's: {ffmpeg_cpu / (own + default.ffmpeg_cpu):.2f}")
    for n, (seconds, cpu) in lowres.items():
        print(f"  bare ffmpeg with -lowres {n} (1/{2 ** n} size inside the decoder): {seconds:.2f} s, "
              f"{ffmpeg_s / seconds:.2f}x the speed of full decoding, {cpu:.1f} s CPU")
    if lowres:
        pixel_error(paths[:args.error_videos], flags)
        own_cpu_by_stage(paths[:args.error_videos])


def own_cpu_by_stage(paths: list[str]) -> None:
    """The job's own CPU per clip on its hot path, one stage added at a time, in this process:
    reading ffmpeg's pipe and cutting clips, encoding the records, writing them to a TFRecord file."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    spec, costs = ClipSpec(NUM_FRAMES, NUM_FRAMES), []
    with tempfile.TemporaryDirectory() as work:
        for stages in (1, 2, 3):
            writer = tf.io.TFRecordWriter(os.path.join(work, f"{stages}.tfrecord")) if stages == 3 else None
            started, clips = resource.getrusage(resource.RUSAGE_SELF), 0
            for path in paths:
                for start, window in stream_clips(decode.stream_frames(path, SIZE), ClipCutter(spec)):
                    clips += 1
                    record = schema.encode_clip(schema.Clip(window, 0, path, start)) if stages >= 2 else None
                    if writer is not None:
                        writer.write(record)
            if writer is not None:
                writer.close()
            ended = resource.getrusage(resource.RUSAGE_SELF)
            costs.append((ended.ru_utime + ended.ru_stime - started.ru_utime - started.ru_stime) / clips)
    print(f"  the job's own CPU per clip, one stage added at a time ({len(paths)} videos, one thread): "
          f"pipe read and clip cut {1000 * costs[0]:.2f} ms, + tf.train.Example encoding "
          f"{1000 * costs[1]:.2f} ms, + TFRecord write {1000 * costs[2]:.2f} ms")


def pixel_error(paths: list[str], flags: list[str]) -> None:
    """Mean and max absolute difference of lowres decodes from the full decode, same clips."""
    full = [decode.decode_video(path, SIZE) for path in paths]
    for n in (1, 2):
        errors = [np.abs(decode.decode_video(path, SIZE, lowres=n).astype(np.int16) - reference)
                  for path, reference in zip(paths, full)]
        mean = float(np.mean([e.mean() for e in errors]))
        print(f"  pixel error of -lowres {n} against the full decode, {len(paths)} videos, "
              f"{sum(len(f) for f in full)} frames: mean {mean:.2f}, max {max(int(e.max()) for e in errors)} "
              "grey levels")


def startup_run(args, work: str) -> JobRun:
    """The job on one 16-frame video, the smallest job that runs every stage (best of two)."""
    folder = os.path.join(work, "one")
    os.makedirs(folder, exist_ok=True)
    write_video(os.path.join(folder, "one.avi"), synthetic_frames(NUM_FRAMES, seed=0), fps=FPS, codec="libxvid")
    runs = [job_run(folder, os.path.join(work, f"startup-{i}"), []) for i in range(2)]
    return min(runs, key=lambda run: run.seconds)


def report_startup(startup: JobRun) -> None:
    main_s, beam_s, tf_s = (import_seconds(m) for m in ("pipeline.main", "apache_beam", "tensorflow"))
    print(f"\nstart-up of an empty job (python -m pipeline.main on one 16-frame video, best of two): "
          f"{startup.seconds:.2f} s, {startup.own_cpu:.1f} s CPU; a fresh process importing pipeline.main "
          f"takes {main_s:.2f} s (apache_beam alone {beam_s:.2f} s, tensorflow alone {tf_s:.2f} s)")


def encodings(args, paths) -> None:
    print(f"\nshard bytes per clip ({NUM_FRAMES}x{SIZE}x{SIZE}x3 = {NUM_FRAMES * SIZE * SIZE * 3} raw bytes), "
          f"{len(paths)} videos, and tf.data read speed:")
    results = {}
    with tempfile.TemporaryDirectory() as work:
        linked = linked_inputs(work, paths, "videos")
        for encoding in schema.ENCODINGS:
            for compression in schema.COMPRESSIONS:
                output = os.path.join(work, f"{encoding}-{compression}")
                job_run(linked, output, [f"--encoding={encoding}", f"--compression={compression}"])
                results[encoding, compression] = shard_stats(output)
                per_clip, rate = results[encoding, compression]
                print(f"  {encoding:5s} {compression:5s} {per_clip:9.0f} bytes/clip  {rate:7.0f} clips/s read")
    lossless = {key: value for key, value in results.items() if key[0] != "jpeg"}
    smallest = min(lossless, key=lambda key: lossless[key][0])
    fastest = max(lossless, key=lambda key: lossless[key][1])
    raw_bytes = results["raw", "none"][0]
    print(f"  smallest lossless: {'+'.join(smallest)} ({lossless[smallest][0] / raw_bytes:.2f} of raw's bytes, "
          f"read at {lossless[smallest][1]:.0f} clips/s); fastest read: {'+'.join(fastest)}; "
          f"jpeg is smallest ({results['jpeg', 'none'][0] / raw_bytes:.2f} of raw) but lossy")
    print("  the job's default stays raw+none: exact pixels, the fastest read and no decode work in the "
          "trainer's input pipeline; --encoding=png is the choice when storage or network bytes matter")


def workloads(args) -> list[Workload]:
    chosen = []
    if args.workload in ("standard", "all"):
        paths = make_videos(args.video_dir, max(args.videos, args.size_videos), args.seconds)
        chosen.append(Workload("standard", paths[:args.videos], int(round(args.seconds * FPS)), []))
    if args.workload in ("dense", "all"):
        paths = make_videos(os.path.join(args.video_dir, "dense"), args.dense_videos, args.dense_seconds)
        chosen.append(Workload("dense", paths, int(round(args.dense_seconds * FPS)),
                               ["--frame_stride=1", "--clip_stride=16"]))
    return chosen


def main(argv=None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    chosen = workloads(args)
    print(f"videos ready in {args.video_dir} ({time.perf_counter() - started:.1f} s)")
    with tempfile.TemporaryDirectory() as work:
        startup = startup_run(args, work)
    report_startup(startup)
    for workload in chosen:
        throughput(args, workload, startup)
    if args.workload in ("standard", "all") and args.size_videos:
        encodings(args, chosen[0].paths[:args.size_videos])


if __name__ == "__main__":
    main()
