"""The preprocessing job: videos (UCF-101, BAIR or any folder) to TFRecord clip shards with Beam.

Locally, on the DirectRunner in one process running an ffmpeg per core and one more (the
default; add --direct_running_mode=multi_processing for a Python worker per core instead):

    python -m pipeline.main --dataset=ucf101 --input=/data/UCF-101 \\
        --splits=/data/ucfTrainTestlist --output=shards/ucf101

    python -m pipeline.main --dataset=bair --input=/data/softmotion30_44k --output=shards/bair
    python -m pipeline.main --dataset=folder --input='/videos/**' --output=shards/mine

The same job on Dataflow (workers install this package, and the ffmpeg binary of its
imageio-ffmpeg dependency, from setup.py):

    python -m pipeline.main --dataset=ucf101 --input=gs://BUCKET/UCF-101 \\
        --splits=gs://BUCKET/ucfTrainTestlist --output=gs://BUCKET/shards/ucf101 \\
        --runner=DataflowRunner --project=PROJECT --region=REGION \\
        --temp_location=gs://BUCKET/tmp --setup_file=./setup.py

Add --dry_run=True to build the Dataflow job without submitting it (nothing is written), and
--no_auth to build it without credentials. On a Dask cluster of your own (pip install '.[dask]'):

    python -m pipeline.main ... --runner=DaskRunner --dask_client_address=tcp://SCHEDULER:8786

The driver lists the videos (and reads the split lists), then `beam.Create` hands them to workers
that decode with ffmpeg, cut clips, encode records and write them straight into temporary pieces;
a last stage packs the pieces into `<output>/<split>-SSSSS-of-NNNNN.tfrecord[.gz]` shards of about
150 MB (pipeline/shard_writer.py). When the pipeline has finished, the driver reads the per-video
reports back and writes `manifest.json` last. Bad videos never stop the job: they are
listed in the manifest with a reason. The exit status is non-zero when no clip was written or when
more than --max_failure_fraction of the videos failed.

A rerun into an output that holds a set replaces it without ever leaving none: the new files go
beside the old ones under other names, the manifest switches, and only then are the files it does
not list removed (pipeline/set_swap.py). A rerun that fails, makes no clip or is interrupted
(exit 130) leaves the old set whole.

Scheduled runs over an input that grows: `--incremental=on` makes --output a dataset root and
writes only the videos no earlier set there holds, as a new set `<output>/<version>/`; a run with
nothing new writes nothing (pipeline/incremental.py).
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import dataclasses
import logging
import os
import sys
import tempfile
import time

import apache_beam as beam
import tensorflow as tf  # already loaded by pipeline.schema; for gs:// paths
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import StandardOptions, TestOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from pipeline import bair, incremental, manifest_writer, run_lock, schema, set_swap, sources
from pipeline.clips import ClipSpec, expected_clips
from pipeline.options import DASK_RUNNER, JobConfig, job_help, parse_options
from pipeline.shard_writer import WriteShards
from pipeline.transforms import (FAILED, NAMESPACE, RECORDS, VIDEOS, WRITTEN, DecodeSettings, DecodeToRecords,
                                 VideosToRecords)

_log = logging.getLogger("pipeline.main")

EXIT_OK, EXIT_UNUSABLE, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # the shell's code for a job ended by Ctrl-C


def check_output(output: str) -> None:
    """Refuses an --output that cannot hold a shard set, before any video is decoded."""
    if tf.io.gfile.exists(output) and not tf.io.gfile.isdir(output):
        raise ValueError(f"--output={output} is an existing file, not a folder: choose a folder "
                         "for the shard set (it is created if missing)")
    if "://" in output:  # object stores: the first write says whether we may
        return
    try:
        os.makedirs(output, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output, prefix=".write-check-"):
            pass
    except OSError as error:
        raise ValueError(f"--output={output} cannot be written ({error.strerror}): choose a "
                         "folder on a writable file system") from error


@dataclasses.dataclass(frozen=True)
class ListedInputs:
    """What the driver knows before the pipeline runs."""

    items: list  # VideoSource (ucf101, folder) or BairFile (bair): the elements of beam.Create
    class_names: tuple[str, ...]
    missing: tuple[tuple[str, str], ...]  # (video_id, reason) of list entries with no file
    expected_clips: dict[str, float]  # per split, to size the shards
    data_generator: str = ""  # what made the videos (schema.SHAPE_MOTION), "" for footage


def list_inputs(config: JobConfig) -> ListedInputs:
    spec = clip_spec(config)
    if config.dataset == "bair":
        files = bair.list_bair_files(config.input)
        frames = len(range(0, bair.FRAMES_PER_TRAJECTORY, config.frame_stride or 1))
        clips = {}
        for item in files:
            trajectories = max(1, item.size_bytes // bair.APPROX_BYTES_PER_TRAJECTORY)
            clips[item.split] = clips.get(item.split, 0) + trajectories * expected_clips(frames, spec)
        return ListedInputs(files, (), (), clips)
    if config.dataset == "ucf101":
        listing = sources.list_ucf101(config.input, config.splits, config.split_id)
    else:
        listing = sources.list_folder(config.input, config.labels_from_folders, config.test_fraction)
    videos_per_split = {}
    for source in listing.sources:
        videos_per_split[source.split] = videos_per_split.get(source.split, 0) + 1
    frames = manifest_writer.frames_per_video(config.fps, config.frame_stride)
    clips = manifest_writer.expected_clips_per_split(videos_per_split, frames, spec)
    return ListedInputs(list(listing.sources), listing.class_names, tuple(listing.missing), clips,
                        listing.data_generator)


def clip_spec(config: JobConfig) -> ClipSpec:
    return ClipSpec(config.num_frames, config.clip_stride, config.max_clips_per_video)


def build(pipeline, config: JobConfig, items, splits, piece_bytes: dict[str, int], work_dir: str,
          tag: str = "") -> None:
    """Adds the job's stages to `pipeline`: create, decode, clip, write shards and reports.

    The reports are the job's one sink, and they include the shards written: on every runner they
    are then complete only once the shards are, and the DaskRunner, which computes only the last
    step of a pipeline and what it depends on, runs the whole job.
    """
    created = pipeline | "ListedInputs" >> beam.Create(items)
    if config.dataset == "bair":
        decoded = created | "ReadBairFiles" >> bair.ReadBairFiles(config.size, config.frame_stride)
        clipped = decoded[VIDEOS] | "Clips" >> VideosToRecords(clip_spec(config), config.encoding)
        failed = (decoded[FAILED], clipped[FAILED])
    else:
        clipped = created | "Videos" >> DecodeToRecords(decode_settings(config), clip_spec(config),
                                                         config.encoding, total=len(items),
                                                         threads=config.decode_threads)
        failed = (clipped[FAILED],)
    num_shards = {split: config.num_shards for split in splits} if config.num_shards else None
    shards = clipped[RECORDS] | "WriteShards" >> WriteShards(
        config.output, manifest_writer.pieces_dir(work_dir), config.compression, splits, num_shards, piece_bytes,
        tag)
    _ = ((*failed, clipped[WRITTEN], shards | "ShardReports" >> beam.Map(manifest_writer.shard_report))
         | "WriteReports" >> manifest_writer.WriteReports(work_dir))


def decode_settings(config: JobConfig) -> DecodeSettings:
    return DecodeSettings(config.size, config.fps, config.frame_stride, config.decode_stall_s,
                          config.decode_timeout_s, config.lowres)


def make_pipeline(options) -> beam.Pipeline:
    """A Beam pipeline on the runner the options name, DirectRunner meaning the FnApiRunner.

    The DirectRunner first tries the Prism runner, which downloads a binary and then ignores
    --direct_running_mode; the FnApiRunner is what it falls back to and what runs the
    multi-processing mode, so the job goes there directly. Beam knows the DaskRunner only by its
    module path, so its short name is resolved here.
    """
    runner = options.view_as(StandardOptions).runner
    if runner in (None, "DirectRunner"):
        return beam.Pipeline(runner=FnApiRunner(), options=options)
    if runner == DASK_RUNNER:
        from apache_beam.runners.dask.dask_runner import DaskRunner  # pylint: disable=import-outside-toplevel
        return beam.Pipeline(runner=DaskRunner(), options=options)
    return beam.Pipeline(options=options)


def is_dry_run(options) -> bool:
    return bool(options.view_as(TestOptions).dry_run)


def dry_run(options, config: JobConfig, listed: ListedInputs, splits, piece_bytes) -> int:
    """Builds the job (on Dataflow: translates it and builds the job request) without running it."""
    pipeline = make_pipeline(options)
    build(pipeline, config, listed.items, splits, piece_bytes, manifest_writer.new_work_dir(config.output))
    job = getattr(pipeline.run(), "job", None)  # the DataflowRunner's job request, not sent
    steps = f" ({len(job.proto_pipeline.components.transforms)} transforms)" if job is not None else ""
    print(f"dry run: the {options.view_as(StandardOptions).runner} job{steps} for {len(listed.items)} "
          f"{config.dataset} inputs was built and not submitted; nothing was written to {config.output}")
    return EXIT_OK


def run_pipeline(options, config: JobConfig, listed: ListedInputs, splits, piece_bytes, tag: str) -> list[dict]:
    """Runs the job into a temporary work folder; returns the per-video reports it wrote."""
    work_dir = manifest_writer.new_work_dir(config.output)
    try:
        pipeline = make_pipeline(options)
        build(pipeline, config, listed.items, splits, piece_bytes, work_dir, tag)
        result = pipeline.run()
        try:
            result.wait_until_finish()
        finally:
            close_dask_client(result)
        log_counters(result)
        reports = manifest_writer.read_reports(work_dir)
    finally:
        manifest_writer.remove_dir(work_dir)
    if config.dataset != "bair":  # a BAIR file holds many videos, each with its own report
        manifest_writer.check_one_report_per_video(reports, listed.items)
    return reports


def close_dask_client(result) -> None:
    """The DaskRunner leaves its client connected; closed, it does not outlive the job (and try to
    reach a scheduler that has shut down)."""
    client = getattr(result, "client", None)
    if client is not None and hasattr(client, "close"):
        client.close()


def run(argv=None) -> int:
    """Runs the job; returns the process exit status (see the module docstring)."""
    started = time.monotonic()
    if {"-h", "--help"} & set(argv or ()):
        print(job_help())
        return EXIT_OK
    try:
        options, config = parse_options(argv)
        check_output(config.output)
        # Held from before the plan (what earlier sets hold) to the manifest: a second job into
        # this output stops here, naming this one, instead of overwriting its shards. A dry run
        # writes nothing there, so it takes nothing.
        lock = None if is_dry_run(options) else run_lock.output_lock(config.output, _log.warning)
    except (ValueError, OSError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _run_holding_output(options, config, started)
    except KeyboardInterrupt:
        print(f"interrupted: no new shard set was committed to {config.output}{_kept(config.output)}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if lock is not None:
            lock.release()


def _run_holding_output(options, config: JobConfig, started: float) -> int:
    try:
        listed = list_inputs(config)
        plan = incremental.plan_run(config, listed.items, listed.class_names)
    except (ValueError, OSError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not listed.items:
        missing = listed.missing
        print(f"error: no {config.dataset} inputs found under {config.input!r}"
              + (f" ({len(missing)} listed files are missing, e.g. {missing[0][0]})" if missing else "")
              + "; check --input and --dataset. Nothing was written.", file=sys.stderr)
        return EXIT_UNUSABLE
    if plan is not None:  # incremental: only what no earlier set holds, into <output>/<version>
        if not plan.items:
            print(incremental.describe_nothing_new(plan))
            return EXIT_OK
        _log.info(incremental.summary(plan))
        config, listed = plan.config, dataclasses.replace(
            listed, items=list(plan.items), expected_clips=incremental.restrict_expected_clips(
                listed.expected_clips, listed.items, plan.items))
    splits = sorted(listed.expected_clips)
    bytes_per_clip = manifest_writer.clip_bytes(clip_spec(config), config.size, config.encoding,
                                                config.compression)
    piece_bytes = manifest_writer.piece_bytes(listed.expected_clips, bytes_per_clip, config.num_shards)
    if is_dry_run(options):
        return dry_run(options, config, listed, splits, piece_bytes)
    # The new set goes beside the one already there, under names no file has; the manifest,
    # written last, switches to it; the sweep then removes what that manifest does not list (the
    # old set, or this job's own partial files when it did not get that far).
    tag = set_swap.new_tag(config.output)
    try:
        return _write_set(options, config, listed, plan, splits, piece_bytes, bytes_per_clip, tag, started)
    finally:
        set_swap.sweep(config.output)


def _kept(output: str) -> str:
    """What a job that stopped before its manifest leaves: the set already there, if any."""
    if tf.io.gfile.exists(os.path.join(output, schema.MANIFEST_NAME)):
        return f"; the shard set already there ({schema.MANIFEST_NAME} and its files) is untouched"
    return ""


def _write_set(options, config: JobConfig, listed: ListedInputs, plan, splits, piece_bytes,
               bytes_per_clip: float, tag: str, started: float) -> int:
    """Runs the pipeline and commits its set with the manifest, unless it wrote no clip."""
    forecast = {s: (listed.expected_clips[s], config.num_shards or manifest_writer.expected_num_shards(
        listed.expected_clips[s], bytes_per_clip)) for s in splits}
    _log.info("%d %s inputs listed (%s); writing to %s", len(listed.items), config.dataset, ", ".join(
        f"{s}: ~{clips:.0f} clips, ~{shards} shards" for s, (clips, shards) in forecast.items()), config.output)
    try:
        reports = run_pipeline(options, config, listed, splits, piece_bytes, tag)
    except manifest_writer.IncompleteReports as error:
        print(f"error: {error}{_kept(config.output)}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        print(f"interrupted: nothing was committed to {config.output} (no new manifest was written)"
              f"{_kept(config.output)}; running the same command again starts this set over",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    counts = manifest_writer.split_counts(reports, splits)
    if not sum(c.num_clips for c in counts.values()):
        return no_clip_written(config, reports, listed.missing)
    files = {split: manifest_writer.shard_files_written(reports, config.output, split,
                                                        config.compression, tag)
             for split in splits}
    failed = manifest_writer.failed_entries(reports, listed.missing)
    manifest = manifest_writer.build_manifest(config, listed.class_names, files, counts, failed,
                                              beam_flags(options, config), listed.data_generator,
                                              manifest_writer.file_sizes(config.output, files),
                                              len(manifest_writer.upscaled_videos(reports)))
    if plan is not None:
        manifest = dataclasses.replace(manifest, incremental=plan.manifest_entry())
    schema.write_manifest(config.output, manifest)  # last: the shard set is complete from here on
    return finish(config, reports, listed.missing, counts, time.monotonic() - started)


def log_counters(result) -> None:
    """Logs the job's Beam counters (videos decoded, failed, too short; clips written)."""
    try:
        counters = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    except (NotImplementedError, KeyError, AttributeError):  # not every runner reports metrics
        return
    values = {c.key.metric.name: c.committed if c.committed is not None else c.attempted for c in counters}
    _log.info("counters: %s", ", ".join(f"{name}={values[name]}" for name in sorted(values)))


def beam_flags(options, config: JobConfig) -> dict:
    """The Beam options the caller set (runner, workers, project...), for the manifest."""
    job_flags = set(config.as_dict())
    return {k: v for k, v in options.get_all_options(drop_default=True).items()
            if k not in job_flags and isinstance(v, (str, int, float, bool, type(None)))}


def finish(config: JobConfig, reports, missing, counts, seconds: float) -> int:
    """Prints the summary and decides the exit status."""
    kinds = [report["kind"] for report in reports]
    ok, failed, too_short = kinds.count("written"), kinds.count("failed") + len(missing), kinds.count("too_short")
    total = ok + failed + too_short
    print(f"videos: {ok} ok, {failed} failed, {too_short} too short (of {total}); clips: "
          + ", ".join(f"{split} {c.num_clips} from {c.num_videos} videos" for split, c in counts.items())
          + f"; {seconds:.1f} s; output: {config.output}")
    upscaled = manifest_writer.upscale_warning(reports, config.size)
    if upscaled:
        print(upscaled)
    if failed or too_short:
        print(f"the {failed + too_short} failed and too-short videos are listed with reasons under "
              f"'failed' in {config.output}/{schema.MANIFEST_NAME}")
    if total and failed / total > config.max_failure_fraction:
        print(f"error: {failed} of {total} videos failed ({failed / total:.0%}), more than "
              f"--max_failure_fraction={config.max_failure_fraction}; the shards and the manifest "
              "were written, and the manifest lists each failure with its reason", file=sys.stderr)
        return EXIT_UNUSABLE
    return EXIT_OK


def no_clip_written(config: JobConfig, reports, missing) -> int:
    """A job that made no clip commits nothing: a set already in the output stays as it was."""
    failed = manifest_writer.failed_entries(reports, missing)
    examples = "; ".join(f"{entry['video_id']}: {entry['reason']}" for entry in failed[:3])
    print(f"error: no clip was written: all {len(failed)} videos failed or were too short (e.g. "
          f"{examples}). Nothing was committed to {config.output}{_kept(config.output)}.",
          file=sys.stderr)
    return EXIT_UNUSABLE


def main() -> None:
    # force: importing Beam already gave the root logger a WARNING-level handler.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        force=True)
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
