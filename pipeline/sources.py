"""Lists the input videos of a dataset: id, path, label and split for each, without decoding.

Two layouts:
- `list_ucf101`: the UCF-101 tree `<Class>/v_<Class>_gGG_cCC.avi` with its official list files
  (classInd.txt, trainlist0N.txt, testlist0N.txt). Labels are classInd's, made 0-based.
- `list_folder`: any directory tree or glob of videos; labels optionally from the first-level
  sub-folder names; split by a stable hash of the video id.

All file-system calls go through tf.io.gfile, so local paths and gs:// work alike.

    from pipeline.sources import list_ucf101
    listing = list_ucf101("/data/UCF-101", "/data/ucfTrainTestlist", split_id=1)
    listing.sources[0]  # VideoSource(video_id='ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi', ...)
"""

import dataclasses
import hashlib
import logging
import os
import posixpath
import re

import tensorflow as tf

from pipeline import schema
from pipeline.media import VIDEO_EXTENSIONS

UCF101_SPLIT_IDS = (1, 2, 3)
TRAIN, TEST = "train", "test"
UNLABELLED = -1

_log = logging.getLogger("pipeline.sources")


@dataclasses.dataclass(frozen=True)
class VideoSource:
    """One input video. video_id is its '/'-separated path relative to the input root."""
    video_id: str
    path: str
    label: int  # 0-based class index, UNLABELLED (-1) without labels
    split: str  # TRAIN or TEST


@dataclasses.dataclass(frozen=True)
class Listing:
    """The videos found, the class names (index = label), and list entries whose file is absent."""
    sources: tuple[VideoSource, ...]
    class_names: tuple[str, ...]
    missing: tuple[tuple[str, str], ...] = ()  # (video_id as listed, reason)
    data_generator: str = ""  # schema.SHAPE_MOTION when the videos come from pipeline.datasets.shapes


# ----------------------------------------------------------------------------------------- UCF-101

def list_ucf101(input_root: str, splits_dir: str, split_id: int = 1) -> Listing:
    """Lists UCF-101 split `split_id` from the official list files in `splits_dir`.

    Names are matched without regard to case, because the release spells one class
    HandstandPushups on disk and HandStandPushups in places (folder, file or list names);
    video ids keep the spelling found on disk. List entries without a file are returned in
    `missing` rather than raising.
    """
    if split_id not in UCF101_SPLIT_IDS:
        raise ValueError(f"split_id must be one of {UCF101_SPLIT_IDS} (UCF-101 ships three "
                         f"train/test splits), got {split_id!r}")
    if not tf.io.gfile.isdir(input_root):
        raise FileNotFoundError(f"UCF-101 video folder {input_root} not found: pass --input=DIR, the "
                                "folder holding one sub-folder per class (ApplyEyeMakeup/, ...)")
    class_names = _read_class_index(_list_file(splits_dir, "classInd.txt"))
    tree = _CaseInsensitiveTree(input_root)
    sources, missing = [], []
    for split, list_name in ((TRAIN, f"trainlist{split_id:02d}.txt"), (TEST, f"testlist{split_id:02d}.txt")):
        for entry in _read_list(_list_file(splits_dir, list_name)):
            found = _resolve_ucf_entry(entry, split, list_name, tree, class_names)
            (sources if isinstance(found, VideoSource) else missing).append(found)
    return Listing(tuple(sources), class_names, tuple(missing))


def _list_file(splits_dir: str, name: str) -> str:
    path = posixpath.join(splits_dir, name)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"{path} not found: pass --splits=DIR, the folder of the UCF-101 list files "
            "(ucfTrainTestlist/ in the official download) holding classInd.txt, "
            "trainlist0N.txt and testlist0N.txt")
    return path


def _read_lines(path: str) -> list[str]:
    with tf.io.gfile.GFile(path, "r") as handle:
        text = handle.read()
    return [line.strip() for line in text.lstrip("\ufeff").splitlines() if line.strip()]


def _read_class_index(path: str) -> tuple[str, ...]:
    """classInd.txt lines "1 ApplyEyeMakeup" -> names in label order (label = 1-based index - 1)."""
    by_index = {}
    for line in _read_lines(path):
        match = re.fullmatch(r"(\d+)\s+(\S+)", line)
        if not match:
            raise ValueError(f"{path}: cannot read line {line!r}; expected '<index> <ClassName>'")
        by_index[int(match.group(1))] = match.group(2)
    if sorted(by_index) != list(range(1, len(by_index) + 1)):
        raise ValueError(f"{path}: class indices must run 1..{len(by_index)} without gaps, got "
                         f"{sorted(by_index)[:5]}...; is this the official classInd.txt?")
    return tuple(by_index[i] for i in range(1, len(by_index) + 1))


def _read_list(path: str) -> list[tuple[str, int | None, str]]:
    """trainlist lines "Class/v_..._gGG_cCC.avi 1", testlist lines without the label."""
    entries = []
    for line in _read_lines(path):
        parts = line.split()
        if len(parts) > 2 or "/" not in parts[0] or (len(parts) == 2 and not parts[1].isdigit()):
            raise ValueError(f"{path}: cannot read line {line!r}; expected '<Class>/<video file> [label]'")
        entries.append((parts[0], int(parts[1]) if len(parts) == 2 else None, posixpath.basename(path)))
    return entries


class _CaseInsensitiveTree:
    """Class folders and their files under a root, looked up by lower-cased name, listed lazily."""

    def __init__(self, root: str):
        self.root = root
        self._folders = {_dir_name(name).lower(): _dir_name(name) for name in tf.io.gfile.listdir(root)}
        self._files = {}

    def find(self, folder: str, file_name: str) -> tuple[str | None, str | None]:
        """(folder as on disk, file as on disk); None where nothing matches."""
        actual_folder = self._folders.get(folder.lower())
        if actual_folder is None:
            return None, None
        if actual_folder not in self._files:
            names = tf.io.gfile.listdir(posixpath.join(self.root, actual_folder))
            self._files[actual_folder] = {name.lower(): name for name in names}
        return actual_folder, self._files[actual_folder].get(file_name.lower())


def _dir_name(name: str) -> str:
    return name.rstrip("/")  # gs:// listings end folder names with '/'


def _resolve_ucf_entry(entry, split: str, list_name: str, tree: _CaseInsensitiveTree,
                       class_names: tuple[str, ...]):
    """One list entry -> VideoSource, or (listed id, reason) when its file or class is missing."""
    listed_id, listed_label, _ = entry
    folder, file_name = listed_id.split("/", 1)
    lower_names = [name.lower() for name in class_names]
    if folder.lower() in lower_names:
        label = lower_names.index(folder.lower())
    elif listed_label is not None and 1 <= listed_label <= len(class_names):
        label = listed_label - 1
    else:
        return listed_id, f"class {folder!r} (listed in {list_name}) is not in classInd.txt; use matching list files"
    actual_folder, actual_file = tree.find(folder, file_name)
    if actual_folder is None:
        return listed_id, (f"listed in {list_name} but {tree.root} has no folder {folder!r}; "
                           "check --input points at the UCF-101 video folder")
    if actual_file is None:
        return listed_id, (f"listed in {list_name} but not found in {posixpath.join(tree.root, actual_folder)}; "
                           "the download may be incomplete")
    video_id = f"{actual_folder}/{actual_file}"
    return VideoSource(video_id, posixpath.join(tree.root, video_id), label, split)


# ------------------------------------------------------------------------------------------ folder

def list_folder(input: str, labels_from_folders: bool = True, test_fraction: float = 0.1) -> Listing:
    """Lists the videos in a directory (recursively) or matching a glob.

    Videos are files ending in one of VIDEO_EXTENSIONS, any case. The video id is the path
    relative to the directory (for a glob, to the folder before its first wildcard). With
    labels_from_folders, the label is the index of the video's first-level sub-folder among the
    sorted sub-folder names that hold videos; a video directly in the root gets UNLABELLED (-1).

    The split is decided by the video id alone: a video is TEST when the first 8 bytes of
    sha256(video_id), read as a fraction of 2**64, fall below test_fraction. So it never depends
    on discovery order, and adding videos never moves existing ones between splits.

    A folder holding the Shape Motion generator's ground truth (schema.SHAPE_MOTION_GROUND_TRUTH)
    at its root is listed as Shape Motion data, so the manifest can say so.

    A path that does not exist raises FileNotFoundError; an existing folder or glob with no
    videos gives a Listing with no sources, for the caller to report.
    """
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction must be within [0, 1], got {test_fraction!r}")
    root, paths = _find_videos(input)
    video_ids, unnamed = _storable_ids(sorted(_relative(path, root) for path in paths))
    class_names = tuple(sorted({vid.split("/", 1)[0] for vid in video_ids if "/" in vid})) \
        if labels_from_folders else ()
    sources = tuple(
        VideoSource(vid, posixpath.join(root, vid), _folder_label(vid, class_names),
                    TEST if split_fraction(vid) < test_fraction else TRAIN)
        for vid in video_ids)
    return Listing(sources, class_names, unnamed, data_generator=schema.folder_data_generator(root))


def _storable_ids(video_ids: list[str]) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    """(the ids that are valid UTF-8, (escaped id, reason) of the others). A file name with a byte
    that is not UTF-8 (os.listdir gives it as a surrogate escape) cannot be a record's video id:
    that video fails, named with the byte written as \\xNN, and the job goes on."""
    good, bad = [], []
    for video_id in video_ids:
        try:
            video_id.encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(video_id).decode("utf-8", "backslashreplace")
            bad.append((shown, "the file name is not valid UTF-8, so it cannot be stored as the "
                               "video's id: rename the file (e.g. with convmv) and run again"))
            continue
        good.append(video_id)
    return good, tuple(bad)


def split_fraction(video_id: str) -> float:
    """A number in [0, 1) fixed by the video id: the first 8 bytes of its sha256."""
    digest = hashlib.sha256(video_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def is_video_file(name: str) -> bool:
    return name.lower().endswith(VIDEO_EXTENSIONS)


def _find_videos(input: str) -> tuple[str, list[str]]:
    """(root the ids are relative to, full paths of the videos)."""
    if tf.io.gfile.isdir(input):
        root = input.rstrip("/")
        return root, _walk_videos(root)
    if not re.search(r"[*?\[]", input):
        raise FileNotFoundError(f"{input} not found: pass --input=DIR (a folder of videos, searched "
                                "recursively) or a quoted glob such as 'DIR/*/*.mp4'")
    root = posixpath.dirname(re.split(r"[*?\[]", input, maxsplit=1)[0]).rstrip("/") or "."
    paths = []
    for match in tf.io.gfile.glob(input):
        if is_video_file(match.rstrip("/")):
            paths.append(match.rstrip("/"))
        if tf.io.gfile.isdir(match):
            paths += _walk_videos(match.rstrip("/"))
    return root, paths


def _walk_videos(root: str) -> list[str]:
    """Video files under root. A folder named like a video (x.avi/) is listed too, so that the
    decode step reports it instead of it vanishing silently; its contents are still searched."""
    if "://" in root:  # object stores have no links, so no loops
        paths = []
        for directory, folders, files in tf.io.gfile.walk(root):
            names = files + [name.rstrip("/") for name in folders]
            paths += [posixpath.join(directory, name) for name in names if is_video_file(name)]
        return paths
    return _walk_local(root)


def _walk_local(root: str) -> list[str]:
    """`_walk_videos` on a local tree: links to folders are followed, but each real folder (by
    device and inode) is searched once, so a link loop (`ln -s .. videos/a/up`) or a folder linked
    twice cannot list a video twice, where it could land in both splits. Folders are searched in
    name order, depth first; of two paths to one folder, the first in that order is kept."""
    paths, seen, skipped = [], set(), []
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            info = os.stat(directory)
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError:  # unreadable or vanished: its videos cannot be listed anyway
            continue
        if (info.st_dev, info.st_ino) in seen:
            skipped.append(directory)
            continue
        seen.add((info.st_dev, info.st_ino))
        folders = []
        for entry in entries:
            if is_video_file(entry.name):
                paths.append(entry.path)
            if _is_dir(entry):
                folders.append(entry.path)
        pending += reversed(folders)
    if skipped:
        _log.warning("%d folders under %s were reached again through links and searched once "
                     "only (e.g. %s)", len(skipped), root, skipped[0])
    return paths


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows links; a dangling one is not a folder
    except OSError:
        return False


def _relative(path: str, root: str) -> str:
    if root == ".":
        return path[2:] if path.startswith("./") else path
    if not path.startswith(root + "/"):
        raise ValueError(f"{path} is not under {root}")  # a glob result outside its own prefix
    return path[len(root) + 1:]


def _folder_label(video_id: str, class_names: tuple[str, ...]) -> int:
    if "/" not in video_id or not class_names:
        return UNLABELLED
    return class_names.index(video_id.split("/", 1)[0])


# ------------------------------------------------------------------------------ incremental runs

def source_fingerprint(path: str) -> dict:
    """What identifies a source file's content cheaply: {"size": bytes, "mtime": seconds}."""
    stat = tf.io.gfile.stat(path)
    return {"size": int(stat.length), "mtime": stat.mtime_nsec / 1e9}
