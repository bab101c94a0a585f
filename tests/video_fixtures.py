"""Real test videos, encoded by ffmpeg: a UCF-101-shaped tree, a plain folder tree, bad inputs.

Plain functions rather than pytest fixtures so that any test (unit, end to end, benchmark) can call
them with a directory of its choosing. Frames are a coloured square moving over a gradient, so
consecutive frames differ and a decode that drops, repeats or reorders frames shows up in pixels.

    from tests.video_fixtures import make_ucf101_tree
    input_root, splits_dir = make_ucf101_tree(tmp_path)
"""

import os

import ffmpeg
import numpy as np

from pipeline.media import ffmpeg_exe, write_video

UCF_CLASSES = ("ApplyEyeMakeup", "HandstandPushups", "YoYo")
# The official list files (and the classInd name used in them) spell this class differently from
# the folder on disk; see make_ucf101_tree's `quirk`.
HANDSTAND_DISK, HANDSTAND_LISTS = "HandstandPushups", "HandStandPushups"
UCF_TEST_GROUPS = range(1, 8)  # the official split 1: groups 1-7 test, 8-25 train
MISSING_GROUP, MISSING_CLIP = 25, 99  # the list entry added by add_missing_entry=True

# make_bad_videos: which entries ffmpeg must refuse, and which decode (too_short fails later, at
# the clip stage; unicode_name is a good video with an awkward name).
DECODE_FAILURES = ("truncated", "truncated_avi", "empty", "text", "audio_only", "dangling_symlink", "directory")
DECODES_FINE = ("too_short", "unicode_name")
SHORT_VIDEO_FRAMES = 8  # fewer than one 16-frame clip

FOLDER_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov")


def moving_frames(num_frames: int = 50, height: int = 60, width: int = 80, seed: int = 0) -> np.ndarray:
    """uint8 [num_frames,height,width,3]: a square moving across a gradient, colours set by seed."""
    rng = np.random.default_rng(seed)
    background_colour, square_colour = rng.integers(40, 216, size=(2, 3))
    ramp = np.linspace(0.3, 1.0, width)[None, :, None]
    background = (ramp * background_colour).astype(np.uint8)
    frames = np.broadcast_to(background, (num_frames, height, width, 3)).copy()
    side = max(4, min(height, width) // 3)
    x0, y0 = rng.integers(0, width - side), rng.integers(0, height - side)
    speed_x, speed_y = rng.integers(1, 4, size=2)
    for t in range(num_frames):
        x = _bounce(x0 + speed_x * t, width - side)
        y = _bounce(y0 + speed_y * t, height - side)
        frames[t, y:y + side, x:x + side] = square_colour
    return frames


def _bounce(position: int, limit: int) -> int:
    """Reflects a position that ran past [0, limit] back into it."""
    period = 2 * limit
    position %= period
    return position if position <= limit else period - position


def make_video(path, num_frames: int = 50, height: int = 60, width: int = 80, fps: float = 25.0,
               codec: str | None = None, seed: int = 0) -> str:
    """Encodes one moving-square video at `path` (codec by extension unless given)."""
    os.makedirs(os.path.dirname(str(path)) or ".", exist_ok=True)
    return write_video(str(path), moving_frames(num_frames, height, width, seed), fps=fps, codec=codec)


def ucf_video_name(class_name: str, group: int, clip: int) -> str:
    return f"v_{class_name}_g{group:02d}_c{clip:02d}.avi"


def make_ucf101_tree(root, classes=UCF_CLASSES, groups=range(1, 10), clips_per_group: int = 1,
                     num_frames: int = 50, height: int = 60, width: int = 80, fps: float = 25.0,
                     h264_every: int = 3, quirk: str = "lists", add_missing_entry: bool = False):
    """Writes a UCF-101-shaped tree and its split-1 list files; returns (input_root, splits_dir).

    input_root/<Class>/v_<Class>_gGG_cCC.avi, as the release ships it: libxvid, except every
    `h264_every`-th video, which is libx264 inside .avi (0 turns that off). splits_dir holds
    classInd.txt ("1 ApplyEyeMakeup", 1-based), trainlist01.txt ("<Class>/<file> <label>", groups
    8-25) and testlist01.txt ("<Class>/<file>", groups 1-7).

    quirk, for the class HandstandPushups:
      "lists":   on disk folder and files say HandstandPushups; the list files say
                 HandStandPushups in both the folder and the file part.
      "release": what the official download holds: folder HandstandPushups, files
                 v_HandStandPushups_*, classInd and lists HandstandPushups/v_HandStandPushups_*.
      "none":    one spelling everywhere.
    add_missing_entry adds a trainlist line for group MISSING_GROUP clip MISSING_CLIP of the first
    class, whose file does not exist.
    """
    if quirk not in ("lists", "release", "none"):
        raise ValueError(f"quirk must be 'lists', 'release' or 'none', got {quirk!r}")
    input_root = os.path.join(str(root), "UCF-101")
    splits_dir = os.path.join(str(root), "ucfTrainTestlist")
    os.makedirs(splits_dir, exist_ok=True)
    classes = sorted(classes)
    train_lines, test_lines = [], []
    index = 0
    for label, class_name in enumerate(classes, start=1):
        disk_file_class, list_folder, list_file_class = class_name, class_name, class_name
        if class_name == HANDSTAND_DISK and quirk == "lists":
            list_folder = list_file_class = HANDSTAND_LISTS
        elif class_name == HANDSTAND_DISK and quirk == "release":
            disk_file_class = list_file_class = HANDSTAND_LISTS
        for group in groups:
            for clip in range(1, clips_per_group + 1):
                codec = "libx264" if h264_every and index % h264_every == h264_every - 1 else "libxvid"
                disk_path = os.path.join(input_root, class_name, ucf_video_name(disk_file_class, group, clip))
                make_video(disk_path, num_frames, height, width, fps, codec=codec, seed=index)
                index += 1
                entry = f"{list_folder}/{ucf_video_name(list_file_class, group, clip)}"
                if group in UCF_TEST_GROUPS:
                    test_lines.append(entry)
                else:
                    train_lines.append(f"{entry} {label}")
    if add_missing_entry:
        train_lines.append(f"{classes[0]}/{ucf_video_name(classes[0], MISSING_GROUP, MISSING_CLIP)} 1")
    # The release writes CRLF line endings; keep them so the parser has to cope.
    _write_lines(os.path.join(splits_dir, "classInd.txt"),
                 [f"{label} {name}" for label, name in enumerate(classes, start=1)])
    _write_lines(os.path.join(splits_dir, "trainlist01.txt"), train_lines)
    _write_lines(os.path.join(splits_dir, "testlist01.txt"), test_lines)
    return input_root, splits_dir


def _write_lines(path: str, lines) -> None:
    with open(path, "w", newline="") as handle:
        handle.write("".join(line + "\r\n" for line in lines))


def make_bad_videos(directory) -> dict:
    """Writes one file per kind of bad input; returns {name: path}.

    Names in DECODE_FAILURES must fail to decode; too_short decodes to SHORT_VIDEO_FRAMES frames
    (fewer than one clip); unicode_name is a good video whose name has spaces and non-ASCII letters.
    """
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    paths = {}
    # An interrupted download of an mp4: the index (moov atom) sits at the end and is lost.
    good = write_video(os.path.join(directory, ".whole.mp4"), moving_frames(seed=101),
                       faststart=False)
    paths["truncated"] = os.path.join(directory, "truncated.mp4")
    with open(good, "rb") as source, open(paths["truncated"], "wb") as target:
        target.write(source.read(os.path.getsize(good) // 2))
    os.remove(good)
    # An .avi cut partway: header and first frames survive, so only strict decoding notices.
    # Noise keeps the frames large, so the cut lands well past the header.
    noise = np.random.default_rng(104).integers(0, 256, size=(50, 60, 80, 3), dtype=np.uint8)
    good = write_video(os.path.join(directory, ".whole.avi"), noise)
    paths["truncated_avi"] = os.path.join(directory, "truncated.avi")
    with open(good, "rb") as source, open(paths["truncated_avi"], "wb") as target:
        target.write(source.read(os.path.getsize(good) * 2 // 5))
    os.remove(good)
    paths["empty"] = os.path.join(directory, "empty.avi")
    open(paths["empty"], "wb").close()
    paths["text"] = os.path.join(directory, "notes.avi")
    with open(paths["text"], "w") as handle:
        handle.write("This is a text file, not a video.\n" * 20)
    paths["audio_only"] = _write_audio_only(os.path.join(directory, "audio_only.mp4"))
    paths["too_short"] = make_video(os.path.join(directory, "too_short.avi"),
                                    num_frames=SHORT_VIDEO_FRAMES, seed=102)
    # Tests run as root, where chmod 000 does not stop reads; these cannot be read by anyone.
    paths["dangling_symlink"] = os.path.join(directory, "dangling.avi")
    os.symlink(os.path.join(directory, "no_such_target.avi"), paths["dangling_symlink"])
    paths["directory"] = os.path.join(directory, "folder.avi")
    os.makedirs(paths["directory"], exist_ok=True)
    paths["unicode_name"] = make_video(os.path.join(directory, "clip with spaces é ü 日本.mp4"), seed=103)
    return paths


def _write_audio_only(path: str) -> str:
    """One second of a sine tone in an mp4 with no video stream."""
    stream = ffmpeg.input("sine=frequency=440:duration=1", format="lavfi").output(path, acodec="aac")
    ffmpeg.run(stream.overwrite_output(), cmd=ffmpeg_exe(), quiet=True)
    return path


def make_folder_tree(root, labels=("cats", "dogs", "fish"), videos_per_label: int = 5,
                     extensions=FOLDER_EXTENSIONS, num_frames: int = 50, height: int = 60,
                     width: int = 80, fps: float = 25.0) -> dict:
    """Writes root/<label>/... videos for the `folder` dataset; returns {video_id: label name}.

    Extensions cycle through `extensions`, one of them upper-cased; each label also gets a video
    one folder deeper (its label is still the first-level folder) and one whose name has spaces
    and non-ASCII letters. A README.txt per label is not a video and must be ignored.
    """
    root = str(root)
    expected = {}
    index = 0
    for label in labels:
        names = [f"{label}_{i:02d}{extensions[i % len(extensions)]}" for i in range(videos_per_label)]
        names[0] = os.path.splitext(names[0])[0] + os.path.splitext(names[0])[1].upper()
        names.append(f"nested/deeper {label}.mp4")
        names.append(f"été {label} ü.mkv")
        for name in names:
            make_video(os.path.join(root, label, name), num_frames, height, width, fps, seed=200 + index)
            expected[f"{label}/{name}"] = label
            index += 1
        with open(os.path.join(root, label, "README.txt"), "w") as handle:
            handle.write("not a video\n")
    return expected
