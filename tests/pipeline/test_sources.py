"""pipeline.sources on real trees of encoded videos: UCF-101 list files and plain folders."""

import os
import re
import shutil

import pytest
import tensorflow as tf

from pipeline import schema
from pipeline.datasets import shapes
from pipeline.sources import (TEST, TRAIN, UNLABELLED, list_folder, list_ucf101, source_fingerprint,
                              split_fraction)
from tests.video_fixtures import (MISSING_CLIP, MISSING_GROUP, make_bad_videos, make_folder_tree, make_ucf101_tree,
                                  make_video)

CLASSES = ("ApplyEyeMakeup", "HandstandPushups", "YoYo")
GROUPS = (1, 7, 8, 25)  # both edges of the official test/train boundary
TINY = {"num_frames": 4, "height": 16, "width": 16}  # listing never decodes, but the files are real


def _group(video_id: str) -> int:
    return int(re.search(r"_g(\d\d)_c\d\d\.avi$", video_id).group(1))


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    root = tmp_path_factory.mktemp("ucf")
    input_root, splits_dir = make_ucf101_tree(root, CLASSES, GROUPS, clips_per_group=2, add_missing_entry=True, **TINY)
    return input_root, splits_dir, list_ucf101(input_root, splits_dir)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    return str(root), make_folder_tree(root, videos_per_label=5, **TINY)


# ----------------------------------------------------------------------------------------- UCF-101

def test_ucf_labels_are_class_index_minus_one(ucf):
    _, _, listing = ucf
    assert listing.class_names == CLASSES
    for source in listing.sources:
        folder = source.video_id.split("/")[0]
        assert source.label == CLASSES.index(folder)
    assert {source.label for source in listing.sources} == {0, 1, 2}


def test_ucf_test_split_is_groups_1_to_7_and_no_group_straddles(ucf):
    _, _, listing = ucf
    assert len(listing.sources) == len(CLASSES) * len(GROUPS) * 2
    for source in listing.sources:
        assert source.split == (TEST if _group(source.video_id) <= 7 else TRAIN), source
    groups_by_split = {split: {(s.label, _group(s.video_id)) for s in listing.sources if s.split == split}
                       for split in (TRAIN, TEST)}
    assert not groups_by_split[TRAIN] & groups_by_split[TEST]


def test_ucf_paths_exist_and_ids_are_relative_to_the_root(ucf):
    input_root, _, listing = ucf
    for source in listing.sources:
        assert os.path.isfile(source.path)
        assert source.path == os.path.join(input_root, source.video_id)


def test_handstand_spelled_differently_in_the_lists_is_found_with_disk_spelling(ucf):
    _, _, listing = ucf
    handstand = [s for s in listing.sources if s.label == CLASSES.index("HandstandPushups")]
    assert len(handstand) == len(GROUPS) * 2
    assert all(s.video_id.startswith("HandstandPushups/v_HandstandPushups_g") for s in handstand)


def test_handstand_as_the_official_release_spells_it(tmp_path):
    input_root, splits_dir = make_ucf101_tree(tmp_path, ("HandstandPushups",), (1, 8), quirk="release", **TINY)
    listing = list_ucf101(input_root, splits_dir)
    assert [s.video_id for s in listing.sources] == ["HandstandPushups/v_HandStandPushups_g08_c01.avi",
                                                     "HandstandPushups/v_HandStandPushups_g01_c01.avi"]
    assert listing.missing == ()


def test_missing_list_entry_is_reported_not_fatal(ucf):
    _, _, listing = ucf
    missing_id = f"ApplyEyeMakeup/v_ApplyEyeMakeup_g{MISSING_GROUP}_c{MISSING_CLIP}.avi"
    assert [video_id for video_id, _ in listing.missing] == [missing_id]
    assert "trainlist01.txt" in listing.missing[0][1]
    assert missing_id not in {s.video_id for s in listing.sources}


def test_missing_class_folder_reports_each_entry(tmp_path):
    input_root, splits_dir = make_ucf101_tree(tmp_path, ("ApplyEyeMakeup", "YoYo"), (1, 8), **TINY)
    shutil.rmtree(os.path.join(input_root, "YoYo"))
    listing = list_ucf101(input_root, splits_dir)
    assert {s.video_id.split("/")[0] for s in listing.sources} == {"ApplyEyeMakeup"}
    assert sorted(video_id for video_id, _ in listing.missing) == ["YoYo/v_YoYo_g01_c01.avi", "YoYo/v_YoYo_g08_c01.avi"]
    assert all("no folder 'YoYo'" in reason for _, reason in listing.missing)


def test_ucf_configuration_errors_name_the_file_and_the_flag(ucf, tmp_path):
    input_root, splits_dir, _ = ucf
    with pytest.raises(FileNotFoundError, match=r"classInd\.txt.*--splits"):
        list_ucf101(input_root, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"trainlist02\.txt"):
        list_ucf101(input_root, splits_dir, split_id=2)
    with pytest.raises(ValueError, match=r"split_id.*got 4"):
        list_ucf101(input_root, splits_dir, split_id=4)
    with pytest.raises(FileNotFoundError, match=r"--input"):
        list_ucf101(str(tmp_path / "absent"), splits_dir)


def test_ucf_on_a_non_local_file_system(ucf):
    input_root, splits_dir, local = ucf
    remote = "ram://sources-test/UCF-101"  # TensorFlow's in-memory file system stands in for gs://
    for source in local.sources:
        tf.io.gfile.makedirs(os.path.dirname(f"{remote}/{source.video_id}"))
        tf.io.gfile.copy(source.path, f"{remote}/{source.video_id}", overwrite=True)
    listing = list_ucf101(remote, splits_dir)
    assert [(s.video_id, s.label, s.split) for s in listing.sources] == \
        [(s.video_id, s.label, s.split) for s in local.sources]
    assert all(s.path.startswith(remote + "/") for s in listing.sources)


# ------------------------------------------------------------------------------------------ folder

def test_folder_labels_from_first_level_folders_across_extensions(folder):
    root, expected = folder
    listing = list_folder(root)
    assert listing.class_names == ("cats", "dogs", "fish")
    assert {s.video_id: listing.class_names[s.label] for s in listing.sources} == expected
    extensions = {os.path.splitext(s.video_id)[1] for s in listing.sources}
    assert {".AVI", ".mp4", ".mkv", ".webm", ".mov"} <= extensions
    assert any("été" in s.video_id and " " in s.video_id for s in listing.sources)
    assert all(os.path.isfile(s.path) for s in listing.sources)


def test_folder_without_labels(folder):
    root, expected = folder
    listing = list_folder(root, labels_from_folders=False)
    assert listing.class_names == ()
    assert len(listing.sources) == len(expected)
    assert {s.label for s in listing.sources} == {UNLABELLED}


def test_folder_split_follows_the_video_id_hash(folder):
    root, _ = folder
    listing = list_folder(root, test_fraction=0.3)
    assert {s.split for s in listing.sources} == {TRAIN, TEST}
    for source in listing.sources:
        assert source.split == (TEST if split_fraction(source.video_id) < 0.3 else TRAIN)
    assert {s.split for s in list_folder(root, test_fraction=0.0).sources} == {TRAIN}
    assert {s.split for s in list_folder(root, test_fraction=1.0).sources} == {TEST}


def test_folder_split_does_not_depend_on_discovery_order_or_root(folder, tmp_path):
    root, expected = folder
    original = {s.video_id: s.split for s in list_folder(root).sources}
    # The same names written in reverse order under another root, plus one more video.
    for video_id in sorted(expected, reverse=True):
        shutil.copy(os.path.join(root, video_id), _made_dirs(tmp_path / video_id))
    make_video(tmp_path / "cats" / "added later.mp4", **TINY)
    again = {s.video_id: s.split for s in list_folder(str(tmp_path)).sources}
    assert {k: v for k, v in again.items() if k in original} == original
    assert len(again) == len(original) + 1


def _made_dirs(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def test_folder_glob_keeps_ids_relative_to_the_glob_root(folder):
    root, expected = folder
    listing = list_folder(os.path.join(root, "*", "*.mp4"))
    assert sorted(s.video_id for s in listing.sources) == sorted(
        vid for vid in expected if vid.count("/") == 1 and vid.endswith(".mp4"))
    assert listing.class_names == ("cats", "dogs", "fish")


def test_a_shape_motion_folder_is_listed_as_such_and_footage_is_not(folder, tmp_path):
    root, _ = folder
    assert list_folder(root).data_generator == ""
    out = str(tmp_path / "shapes")
    shapes.write_dataset(out, num_videos=2, num_frames=4, size=16)
    assert list_folder(out).data_generator == schema.SHAPE_MOTION
    # The generator's file is what the job looks for.
    assert shapes.GROUND_TRUTH_NAME == schema.SHAPE_MOTION_GROUND_TRUTH


def test_folder_lists_every_bad_input_so_decode_can_report_it(tmp_path):
    bad = make_bad_videos(tmp_path)  # includes a dangling link and a folder named folder.avi
    listing = list_folder(str(tmp_path), labels_from_folders=False)
    assert sorted(s.path for s in listing.sources) == sorted(bad.values())
    globbed = list_folder(str(tmp_path / "*.avi"), labels_from_folders=False)
    assert sorted(s.path for s in globbed.sources) == sorted(p for p in bad.values() if p.endswith(".avi"))


def test_a_symlink_loop_lists_each_video_once(tmp_path, caplog):
    videos = tmp_path / "videos"
    for name in ("square/a.avi", "square/b.avi", "circle/c.avi"):
        make_video(videos / name, **TINY)
    os.symlink("..", videos / "square" / "up")  # the loop of the issue: square/up/square/up/...
    linked = tmp_path / "elsewhere"
    make_video(linked / "d.avi", **TINY)
    os.symlink(linked, videos / "circle" / "more")  # a link to data outside: followed
    with caplog.at_level("WARNING", logger="pipeline.sources"):
        listing = list_folder(str(videos), test_fraction=0.5)
    ids = [s.video_id for s in listing.sources]
    assert ids == ["circle/c.avi", "circle/more/d.avi", "square/a.avi", "square/b.avi"]
    assert listing.class_names == ("circle", "square")
    assert "searched once only" in caplog.text and "square/up" in caplog.text


def test_empty_folder_gives_an_empty_listing_and_absent_path_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no videos here")
    assert list_folder(str(tmp_path)).sources == ()
    assert list_folder(str(tmp_path / "*.mp4")).sources == ()
    with pytest.raises(FileNotFoundError, match=r"absent.*--input"):
        list_folder(str(tmp_path / "absent"))


def test_fingerprint_tracks_size_and_changes_when_the_file_does(tmp_path):
    path = make_video(tmp_path / "v.avi", **TINY)
    first = source_fingerprint(path)
    assert first["size"] == os.path.getsize(path)
    assert first == source_fingerprint(path)
    with open(path, "ab") as handle:
        handle.write(b"\0" * 10)
    os.utime(path, (first["mtime"] + 5, first["mtime"] + 5))
    second = source_fingerprint(path)
    assert second["size"] == first["size"] + 10 and second["mtime"] > first["mtime"]
