"""Command-line options of the preprocessing job and the frozen config they resolve to.

`PreprocessOptions` is a Beam `PipelineOptions` subclass, so the job's own flags sit beside Beam's
(`--runner`, `--project`, `--region`, `--temp_location`, `--direct_num_workers`, `--setup_file`...)
in one argv. `JobConfig.from_options` validates them once and is what the rest of the job reads.
"""

import argparse
import dataclasses
import os

from apache_beam.options.pipeline_options import (DirectOptions, GoogleCloudOptions, PipelineOptions,
                                                  StandardOptions, TestOptions)
from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator

from pipeline import decode, schema

DATASETS = ("ucf101", "bair", "folder")
DEFAULT_MAX_FAILURE_FRACTION = 0.1
DIRECT_RUNNER, DASK_RUNNER, DATAFLOW_RUNNER = "DirectRunner", "DaskRunner", "DataflowRunner"


class PreprocessOptions(PipelineOptions):
    """The job's flags; see `python -m pipeline.main --help`."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--dataset", choices=DATASETS, default="folder",
                            help="ucf101 (class folders + list files), bair (softmotion TFRecords) "
                                 "or folder (any tree or glob of videos)")
        parser.add_argument("--input", default=None, help="input folder or glob, local or gs://; a folder is searched recursively, "
                            "following links to folders but each real folder once (a link loop "
                            "is walked once, not forever)")
        parser.add_argument("--splits", default=None,
                            help="ucf101: folder with classInd.txt, trainlistNN.txt, testlistNN.txt")
        parser.add_argument("--split_id", type=int, default=1, choices=(1, 2, 3),
                            help="ucf101: which official split")
        parser.add_argument("--output", default=None, help="shard-set folder, local or gs://")
        parser.add_argument("--num_frames", type=int, default=16, help="frames per clip")
        parser.add_argument("--size", type=int, default=64, help="clip height and width (the short side is "
                            "scaled to it: a smaller source is upscaled, and the job counts those)")
        parser.add_argument("--fps", type=float, default=None,
                            help="resample every video to this frame rate (exclusive with "
                                 "--frame_stride)")
        parser.add_argument("--frame_stride", type=int, default=None,
                            help="keep every N-th decoded frame (exclusive with --fps)")
        parser.add_argument("--clip_stride", type=int, default=None,
                            help="frames between clip starts; default num_frames (no overlap)")
        parser.add_argument("--max_clips_per_video", type=int, default=None,
                            help="cap on clips per video, spread evenly over it")
        parser.add_argument("--encoding", choices=schema.ENCODINGS, default="raw",
                            help="how frames are stored in a record")
        parser.add_argument("--compression", choices=schema.COMPRESSIONS, default="none",
                            help="shard file compression")
        parser.add_argument("--num_shards", type=int, default=None,
                            help="shards per split; default from the expected size (~150 MB each)")
        parser.add_argument("--max_failure_fraction", type=float,
                            default=DEFAULT_MAX_FAILURE_FRACTION,
                            help="exit non-zero when more than this fraction of videos failed")
        parser.add_argument("--test_fraction", type=float, default=0.1,
                            help="folder: share of videos (by a hash of their id) in the test split")
        parser.add_argument("--no_folder_labels", dest="labels_from_folders",
                            action="store_false", default=True,
                            help="folder: leave clips unlabelled instead of labelling them by "
                                 "their first-level folder")
        parser.add_argument("--decode_stall_s", type=float, default=decode.DEFAULT_STALL_TIMEOUT_S,
                            help="fail a video whose ffmpeg gives no frame for this many seconds "
                                 "(a stuck decode); 0 turns the limit off")
        parser.add_argument("--decode_timeout_s", type=float, default=None,
                            help="optional limit on a video's whole decode, in seconds; off by "
                                 "default, so that a long video is not mistaken for a stuck one")
        parser.add_argument("--lowres", type=int, choices=decode.LOWRES_FACTORS, default=0,
                            help="decode at 1/2^N of the picture inside the decoder where the codec "
                                 "allows it (MPEG-4 part 2 / xvid, all of UCF-101; others ignore "
                                 "it): faster, slightly different pixels (BUILD.md gives the "
                                 "figures). Keep the decoded short side >= --size")
        parser.add_argument("--decode_threads", type=int, default=1,
                            help="ffmpeg processes each worker runs at once; more than 1 suits "
                                 "in-process runners (--direct_running_mode=in_memory) and "
                                 "workers with more cores than Beam gives them bundles")
        parser.add_argument("--incremental", choices=("auto", "on", "off"), default="auto",
                            help="on: --output is a dataset root; write only the videos no earlier "
                                 "set holds as a new set <output>/<version>/ (see "
                                 "pipeline/incremental.py). off: one set in --output, replaced. "
                                 "auto: on when --output already holds versioned sets")


@dataclasses.dataclass(frozen=True)
class JobConfig:
    """The validated job settings (everything except Beam's own runner options)."""

    dataset: str
    input: str
    output: str
    splits: str | None = None
    split_id: int = 1
    num_frames: int = 16
    size: int = 64
    fps: float | None = None
    frame_stride: int | None = None
    clip_stride: int | None = None
    max_clips_per_video: int | None = None
    encoding: str = "raw"
    compression: str = "none"
    num_shards: int | None = None
    max_failure_fraction: float = DEFAULT_MAX_FAILURE_FRACTION
    test_fraction: float = 0.1
    labels_from_folders: bool = True
    decode_stall_s: float | None = decode.DEFAULT_STALL_TIMEOUT_S
    decode_timeout_s: float | None = None
    lowres: int = 0
    decode_threads: int = 1
    incremental: str = "auto"

    def __post_init__(self):
        _check(bool(self.input), "--input is required (a folder or glob of the data set)")
        _check(bool(self.output), "--output is required (the folder the shard set goes to)")
        _check(self.dataset != "ucf101" or bool(self.splits),
               "--dataset=ucf101 needs --splits=DIR (the folder with classInd.txt and the lists)")
        _check(self.fps is None or self.frame_stride is None,
               f"give --fps ({self.fps}) or --frame_stride ({self.frame_stride}), not both")
        _check(self.fps is None or self.fps > 0, f"--fps must be > 0, got {self.fps}")
        _check(self.dataset != "bair" or self.fps is None,
               "--fps does not apply to bair (its records carry no timestamps); use --frame_stride")
        _check(self.frame_stride is None or self.frame_stride >= 1,
               f"--frame_stride must be >= 1, got {self.frame_stride}")
        _check(self.size >= 8 and self.size & (self.size - 1) == 0,
               f"--size={self.size}: the trainer's networks take frames of a power of two from 8 "
               "(e.g. 32, 64 or 128); choose one of those")
        _check(self.decode_stall_s is None or self.decode_stall_s >= 0,
               f"--decode_stall_s must be >= 0 (0: no limit), got {self.decode_stall_s}")
        _check(self.decode_timeout_s is None or self.decode_timeout_s > 0,
               f"--decode_timeout_s must be > 0 (or unset), got {self.decode_timeout_s}")
        _check(self.lowres == 0 or self.dataset != "bair",
               "--lowres applies to videos decoded by ffmpeg, not to bair's raw frames")
        _check(self.decode_threads >= 1, f"--decode_threads must be >= 1, got {self.decode_threads}")
        _check(self.num_shards is None or self.num_shards >= 1,
               f"--num_shards must be >= 1, got {self.num_shards}")
        _check(0.0 <= self.max_failure_fraction <= 1.0,
               f"--max_failure_fraction must be in [0, 1], got {self.max_failure_fraction}")
        _check(0.0 <= self.test_fraction <= 1.0,
               f"--test_fraction must be in [0, 1], got {self.test_fraction}")

    @classmethod
    def from_options(cls, options: PipelineOptions) -> "JobConfig":
        view = options.view_as(PreprocessOptions)
        values = {field.name: getattr(view, field.name) for field in dataclasses.fields(cls)}
        values["decode_stall_s"] = values["decode_stall_s"] or None  # 0 on the command line: no limit
        return cls(**values)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def job_help() -> str:
    """--help text: the job's flags (Beam's own parser would print none of them)."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.main", description="Videos to TFRecord clip shards with Apache Beam.",
        epilog="Any Beam pipeline option passes through: --runner, --project, --region, "
               "--temp_location, --setup_file, --direct_num_workers, --direct_running_mode, ...")
    PreprocessOptions._add_argparse_args(parser)  # pylint: disable=protected-access
    return parser.format_help()


def parse_options(argv: list[str] | None) -> tuple[PipelineOptions, JobConfig]:
    """Parses argv into Beam options (with the local defaults filled in) and the job config.

    Without --runner the job runs on the DirectRunner in one process that decodes with one ffmpeg
    per core and one more (--decode_threads); --direct_running_mode=multi_processing runs a Python
    worker per core instead. Values the caller gives are kept.
    """
    argv = list(argv or [])
    if DASK_RUNNER in str(PipelineOptions(argv).view_as(StandardOptions).runner):
        _import_dask_options()  # before the parse that must know the --dask_* flags
    options = PipelineOptions(argv)
    # Beam only warns about flags it does not know; a misspelt job flag must not be ignored.
    unknown = set(options.get_all_options(retain_unknown_options=True)) - set(options.get_all_options())
    if unknown:
        raise ValueError(f"unknown flags: {', '.join('--' + name for name in sorted(unknown))}; "
                         "see python -m pipeline.main --help")
    standard = options.view_as(StandardOptions)
    if standard.runner is None:
        standard.runner = DIRECT_RUNNER
    if standard.runner == DIRECT_RUNNER:
        _set_local_defaults(options, given_options(argv))
    config = JobConfig.from_options(options)
    if standard.runner == DASK_RUNNER:
        _check_dask(config)
    if standard.runner == DATAFLOW_RUNNER:
        _check_dataflow_locations(options)
    # Only the DataflowRunner honours --dry_run; any other runner would run the whole job.
    _check(not options.view_as(TestOptions).dry_run or standard.runner == DATAFLOW_RUNNER,
           f"--dry_run builds a Dataflow job without running it; it needs --runner={DATAFLOW_RUNNER}, "
           f"not {standard.runner}")
    return options, config


def default_decode_threads() -> int:
    """The in-process runner's ffmpeg processes at a time: one per core, and one more."""
    return (os.cpu_count() or 1) + 1


def given_options(argv: list[str]) -> set[str]:
    """The runner and job options (argparse dests) that argv sets, whatever their values.

    argv is parsed again with a sentinel for every default, so an option keeps the sentinel
    unless the command line names it; a value that happens to spell another flag
    (--input=--decode_threads) counts as the value it is.
    """
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)  # as Beam parses
    for options_class in (StandardOptions, DirectOptions, PreprocessOptions):
        options_class._add_argparse_args(parser)  # pylint: disable=protected-access
    not_given = object()
    parser.set_defaults(**{name: not_given for name in vars(parser.parse_args([]))})
    known, _ = parser.parse_known_args(argv)
    return {name for name, value in vars(known).items() if value is not not_given}


def _set_local_defaults(options: PipelineOptions, given: set[str]) -> None:
    direct = options.view_as(DirectOptions)
    if "direct_running_mode" not in given:
        # One process whose decode threads keep an ffmpeg per core busy: the decoding happens in
        # ffmpeg, and extra Python workers only add start-up (each imports Beam's worker and
        # TensorFlow) and records crossing the runner's transport; `make bench` measures both.
        # One ffmpeg more than the cores: each waits on its reader through a pipe now and then,
        # and the spare one keeps the cores busy meanwhile (a video's memory is bounded).
        direct.direct_running_mode = "in_memory"
        direct.direct_num_workers = 1
        job = options.view_as(PreprocessOptions)
        if "decode_threads" not in given:
            job.decode_threads = default_decode_threads()
    elif "direct_num_workers" not in given:
        direct.direct_num_workers = os.cpu_count() or 1


def _import_dask_options() -> None:
    """Beam parses the --dask_* flags only once their options class has been imported."""
    try:
        from apache_beam.runners.dask import dask_runner  # pylint: disable=import-outside-toplevel,unused-import
    except ImportError as error:
        raise ValueError(f"--runner={DASK_RUNNER} needs Dask ({error}): pip install '.[dask]'") from error


def _check_dask(config: JobConfig) -> None:
    # Decode threads hand their last videos out in finish_bundle, whose outputs the DaskRunner
    # (Beam 2.77) drops; a Dask worker runs a bundle per thread instead (dask worker --nthreads).
    _check(config.decode_threads == 1,
           f"--decode_threads={config.decode_threads} does not work on the DaskRunner (it drops what "
           "a bundle outputs last); leave it at 1 and give the Dask workers more threads instead")


def _check_dataflow_locations(options: PipelineOptions) -> None:
    """Refuses temp and staging locations that Beam's validator would reject.

    With neither a valid --temp_location nor a valid --staging_location, Beam only warns and looks
    up (or creates) a default `dataflow-staging-...` bucket over the network, which hangs a dry run
    offline and is never what a caller who named a bucket meant. A bucket name needs 3-63 of
    [a-z0-9._-]: `gs://b/tmp` is not a valid location.
    """
    cloud = options.view_as(GoogleCloudOptions)
    validator = PipelineOptionsValidator(options, None)
    given = {name: getattr(cloud, name) for name in ("temp_location", "staging_location") if getattr(cloud, name)}
    errors = {name: validator.validate_gcs_path(cloud, name) for name in given}
    if given and all(errors.values()):
        raise ValueError("; ".join(f"--{name}={given[name]}: {errors[name][0]}" for name in given)
                         + "; give a gs://BUCKET/PATH in a bucket you own")
    _check(bool(given) or not options.view_as(TestOptions).dry_run,
           "a Dataflow dry run needs --temp_location=gs://BUCKET/tmp (without it Beam looks up a "
           "default bucket, which needs the network and credentials)")
