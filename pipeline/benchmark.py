"""Throughput of the whole preprocessing job against bare ffmpeg, and shard size per encoding.

    python -m pipeline.benchmark                  # 60 videos of 7 s at 320x240, 2 workers
    python -m pipeline.benchmark --videos=10      # a quick run

1. Makes `--videos` real xvid .avi files of `--seconds` at 320x240 (cached in `--video_dir`, so a
   second run skips this), content that moves so the codec has real work.
2. Baseline: bare ffmpeg decodes every file with the job's filters (pipeline.decode.filter_args)
   into /dev/null, `--workers` processes at a time, once before and once after the default job;
   their mean is the baseline, so a machine whose load drifts weighs on both sides alike.
3. The whole job (`pipeline.main.run`) on the same files, shards and manifest included, timed
   from `run()` to its return: the default (one process, `--workers` decode threads; ffmpeg
   does the decoding in its own processes) and DirectRunner multi_processing with `--workers`
   Python workers.
4. Prints videos/s and frames/s of each and the ratio (ffmpeg's time / the job's; target >= 0.8),
   and the default job's CPU time: its own Python process's and its ffmpeg processes'.
   The job also runs on `--small_videos` of them: the difference separates its fixed cost
   (worker processes starting and importing TensorFlow, pipeline set-up) from its rate per video,
   and gives the number of videos past which the whole-job ratio reaches 0.8.
5. On the first `--size_videos` videos, runs the job once per encoding x compression and prints
   stored bytes per clip and how fast tf.data reads the clips back, then the default it suggests.
"""

import argparse
import concurrent.futures
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

from pipeline import decode, schema
from pipeline.encode import write_video
from pipeline.ffmpeg_binary import ffmpeg_exe
from pipeline.main import run

WIDTH, HEIGHT, FPS = 320, 240, 25.0
NUM_FRAMES, SIZE = 16, 64
READ_BATCH, READ_BATCHES = 16, 40  # 640 clips read back per encoding, one core, no parallel map


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=60, help="videos for the throughput run")
    parser.add_argument("--seconds", type=float, default=7.0, help="length of each video")
    parser.add_argument("--workers", type=int, default=2, help="job workers and ffmpeg processes")
    parser.add_argument("--small_videos", type=int, default=6,
                        help="videos of a second, small job run that measures the fixed cost")
    parser.add_argument("--size_videos", type=int, default=8, help="videos for the encoding sizes")
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


def bare_ffmpeg_seconds(paths: list[str], workers: int) -> float:
    """Wall time of plain ffmpeg decoding every file with the job's filters into /dev/null."""
    def decode_one(path):
        command = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", path,
                   "-vf", ",".join(decode.filter_args(size=SIZE)), *decode.output_args(), "-y", "/dev/null"]
        subprocess.run(command, check=True, stdin=subprocess.DEVNULL)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(decode_one, paths))
    return time.perf_counter() - started


def cpu_seconds() -> tuple[float, float]:
    """(CPU seconds of this process, of its finished child processes) so far: user + system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def import_seconds(module: str) -> float:
    """Wall time of a fresh Python process importing `module` (a worker's start-up cost)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, capture_output=True)
    return time.perf_counter() - started


def job_seconds(input_dir: str, output: str, extra: list[str]) -> float:
    started = time.perf_counter()
    status = run(["--dataset=folder", f"--input={input_dir}", f"--output={output}", "--no_folder_labels",
                  f"--num_frames={NUM_FRAMES}", f"--size={SIZE}", "--max_failure_fraction=0", *extra])
    seconds = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"the job exited with status {status}; see its messages above")
    return seconds


def shard_stats(output: str) -> tuple[float, float]:
    """(stored bytes per clip, clips/s that tf.data parses back) of one shard set."""
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


def throughput(args, paths, frames_per_video: int) -> None:
    multi = ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"]
    threaded = ["--direct_running_mode=in_memory", "--direct_num_workers=1",
                f"--decode_threads={args.workers}"]
    small = paths[:args.small_videos]
    with tempfile.TemporaryDirectory() as work:
        inputs = linked_inputs(work, paths, "all")
        ffmpeg_before = bare_ffmpeg_seconds(paths, args.workers)
        cpu_before = cpu_seconds()
        threaded_s = job_seconds(inputs, os.path.join(work, "threaded"), threaded)
        own_cpu, ffmpeg_cpu = (after - before for after, before in zip(cpu_seconds(), cpu_before))
        ffmpeg_after = bare_ffmpeg_seconds(paths, args.workers)
        ffmpeg_s = (ffmpeg_before + ffmpeg_after) / 2
        job_s = job_seconds(inputs, os.path.join(work, "multi"), multi)
        small_s = job_seconds(linked_inputs(work, small, "small"), os.path.join(work, "small"), multi)
    count, frames = len(paths), len(paths) * frames_per_video

    def line(name, seconds):
        ratio = f"  ratio {ffmpeg_s / seconds:.2f}" if seconds != ffmpeg_s else ""
        print(f"  {name:44s} {seconds:6.2f} s {count / seconds:6.1f} videos/s {frames / seconds:7.0f} "
              f"frames/s{ratio}")

    print(f"\n{count} xvid videos, {args.seconds:g} s at {WIDTH}x{HEIGHT}, to {NUM_FRAMES}x{SIZE}x{SIZE} "
          f"clips, {args.workers} processes; ratio = bare ffmpeg's time / the job's (target >= 0.8)")
    line(f"bare ffmpeg -> /dev/null, {args.workers} at a time (mean)", ffmpeg_s)
    print(f"    (bare ffmpeg took {ffmpeg_before:.2f} s before the default job and {ffmpeg_after:.2f} s after)")
    line(f"whole job, in one process, {args.workers} decode threads (default)", threaded_s)
    print(f"    (its CPU time: {own_cpu:.1f} s in this Python process (Beam, records, shard writing), "
          f"{ffmpeg_cpu:.1f} s in its ffmpeg processes)")
    line(f"whole job, multi_processing x{args.workers}", job_s)
    report_fixed_cost(args, count, len(small), ffmpeg_s, job_s, small_s, frames_per_video)


def report_fixed_cost(args, count, small, ffmpeg_s, job_s, small_s, frames_per_video) -> None:
    """Splits the multi-processing job's time into a fixed cost and a rate per video."""
    # The fixed cost (worker processes, their imports, pipeline set-up) does not grow with the
    # data; the difference between two runs gives the rate at which the rest does.
    extra = count - small
    if extra <= 0 or job_s <= small_s:
        print(f"  (the {small}-video run took {small_s:.2f} s: too close to split fixed and per-video cost)")
        return
    marginal, ffmpeg_rate = extra / (job_s - small_s), count / ffmpeg_s
    fixed = job_s - count / marginal
    print(f"  multi_processing on {small} videos: {small_s:.2f} s, so ~{fixed:.1f} s fixed cost and "
          f"{marginal:.1f} videos/s ({marginal * frames_per_video:.0f} frames/s) past it, "
          f"{marginal / ffmpeg_rate:.2f} of bare ffmpeg's rate")
    beam_s, tf_s = import_seconds("apache_beam.runners.worker.sdk_worker_main"), import_seconds("tensorflow")
    print(f"  in that fixed cost each of the {args.workers} workers is a new Python process that imports "
          f"Beam's worker ({beam_s:.1f} s alone) and TensorFlow ({tf_s:.1f} s alone) before its first video")
    if marginal > 0.8 * ffmpeg_rate:
        # Solve N / ffmpeg_rate = 0.8 * (fixed + N / marginal) for N.
        break_even = 0.8 * fixed / (1 / ffmpeg_rate - 0.8 / marginal)
        print(f"  the multi_processing ratio reaches 0.8 from about {break_even:.0f} videos")


def encodings(args, paths) -> None:
    print(f"\nshard bytes per clip ({NUM_FRAMES}x{SIZE}x{SIZE}x3 = {NUM_FRAMES * SIZE * SIZE * 3} raw bytes), "
          f"{len(paths)} videos, and tf.data read speed:")
    results = {}
    with tempfile.TemporaryDirectory() as work:
        linked = linked_inputs(work, paths, "videos")
        for encoding in schema.ENCODINGS:
            for compression in schema.COMPRESSIONS:
                output = os.path.join(work, f"{encoding}-{compression}")
                job_seconds(linked, output, [f"--encoding={encoding}", f"--compression={compression}",
                                             "--direct_running_mode=in_memory", "--direct_num_workers=1"])
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


def main(argv=None) -> None:
    args = parse_args(argv)
    frames_per_video = int(round(args.seconds * FPS))
    started = time.perf_counter()
    paths = make_videos(args.video_dir, max(args.videos, args.size_videos), args.seconds)
    print(f"videos ready in {args.video_dir} ({time.perf_counter() - started:.1f} s)")
    throughput(args, paths[:args.videos], frames_per_video)
    encodings(args, paths[:args.size_videos])


if __name__ == "__main__":
    main()
