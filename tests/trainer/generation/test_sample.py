"""trainer.generation.sample and trainer.generation.restore on model directories written by the training loop."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from pipeline import media
from tests.model_dirs import SHAPE, checkpointed_model_dir, trained_model_dir
from tests.trainer_shards import CLASS_NAMES
from trainer import config as config_lib
from trainer import train_lib
from trainer.generation import restore, sample

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))
T, H, W, _ = SHAPE


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    return trained_model_dir(tmp_path_factory.mktemp("trained"), conditional=True, ema_decay=0.5)


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory):
    return checkpointed_model_dir(tmp_path_factory.mktemp("plain"), conditional=False, ema_decay=0.0)


@pytest.fixture(scope="module")
def ema_dir(tmp_path_factory):
    return checkpointed_model_dir(tmp_path_factory.mktemp("ema"), conditional=True, ema_decay=0.9)


def test_cli_writes_a_gif_grid_with_t_frames(trained_dir, tmp_path):
    out = tmp_path / "samples.gif"
    result = subprocess.run(
        [sys.executable, "-m", "trainer.generation.sample", f"--model_dir={trained_dir}", f"--out={out}",
         "--num_videos=3", "--seed=4", "--label=down", "--fps=6"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    frames = media.read_video(str(out))
    # 3 videos on a 2x2 grid with 2-pixel gaps.
    assert frames.shape == (T, 2 * H + 2, 2 * W + 2, 3)
    assert frames[:, :H, :W].std() > 0


def test_mp4_and_png_outputs(trained_dir, tmp_path):
    mp4 = sample.write_samples(trained_dir, str(tmp_path / "s.mp4"), num_videos=2, seed=1, cols=2)
    assert media.read_video(mp4).shape == (T, H, 2 * W + 2, 3)
    png = sample.write_samples(trained_dir, str(tmp_path / "s.png"), num_videos=3, sheet_frames=2)
    assert media.read_video(png).shape == (1, 3 * H + 4, 2 * W + 2, 3)
    with pytest.raises(ValueError, match="s.webm"):
        sample.write_samples(trained_dir, str(tmp_path / "s.webm"))


def test_same_seed_same_videos_and_labels_by_name_or_index(trained_dir):
    generator, config = restore.load_generator(trained_dir)
    by_name = sample.generate(generator, config, 2, label="down", seed=3)
    by_index = sample.generate(generator, config, 2, label="1", seed=3)
    assert by_name.shape == (2,) + SHAPE and by_name.dtype == np.uint8
    np.testing.assert_array_equal(by_name, by_index)
    assert np.any(by_name != sample.generate(generator, config, 2, label="down", seed=5))
    assert np.any(by_name != sample.generate(generator, config, 2, label="right", seed=3))
    with pytest.raises(ValueError, match="right, down"):
        sample.generate(generator, config, 1, label="left")


def test_ema_generator_is_preferred_when_the_checkpoint_has_one(ema_dir):
    # Ground truth: the loop's whole state restored the loop's way.
    config = config_lib.load_config(ema_dir)
    state = train_lib.build_state(config)
    state.checkpoint.restore(restore.latest_checkpoint(ema_dir)).assert_existing_objects_matched()
    ema_kernel = state.ema_generator.frame_generator.project.kernel.numpy()
    kernel = state.models.generator.frame_generator.project.kernel.numpy()
    assert not np.allclose(ema_kernel, kernel)
    ema, loaded_config = restore.load_generator(ema_dir)
    np.testing.assert_array_equal(ema.frame_generator.project.kernel.numpy(), ema_kernel)
    trained, _ = restore.load_generator(ema_dir, prefer_ema=False)
    np.testing.assert_array_equal(trained.frame_generator.project.kernel.numpy(), kernel)
    assert loaded_config.class_names == CLASS_NAMES and loaded_config.conditional


def test_plain_generator_without_ema_or_labels(plain_dir):
    generator, config = restore.load_generator(plain_dir)  # no EMA in the checkpoint: falls back
    videos = sample.generate(generator, config, 2, seed=0)
    assert videos.shape == (2,) + SHAPE
    with pytest.raises(ValueError, match="unconditionally"):
        sample.generate(generator, config, 1, label="0")


def test_missing_checkpoint_says_what_to_run(plain_dir, tmp_path):
    empty = tmp_path / "untrained"
    empty.mkdir()
    (empty / "config.json").write_text(open(os.path.join(plain_dir, "config.json")).read())
    with pytest.raises(restore.RestoreError, match=f"{empty}.*python -m trainer.main"):
        restore.load_generator(str(empty))
    with pytest.raises(ValueError, match="config.json"):
        restore.load_generator(str(tmp_path / "nothing"))


def test_vary_motion_rows_share_content_and_columns_share_motion(trained_dir):
    generator, config = restore.load_generator(trained_dir)
    latents = {k: v.numpy() for k, v in sample.factor_latents(
        generator, config, rows=2, cols=3, vary="motion", seed=5).items()}
    content = latents["content"].reshape(2, 3, -1)
    motion = latents["motion_noise"].reshape((2, 3) + latents["motion_noise"].shape[1:])
    h0 = latents["h0"].reshape(2, 3, -1)
    for r in range(2):  # along a row: one content, three motions
        assert all(np.array_equal(content[r, 0], content[r, c]) for c in range(3))
        assert not np.array_equal(motion[r, 0], motion[r, 1])
        assert not np.array_equal(h0[r, 0], h0[r, 1])
    for c in range(3):  # down a column: one motion, two contents
        assert np.array_equal(motion[0, c], motion[1, c]) and np.array_equal(h0[0, c], h0[1, c])
        assert not np.array_equal(content[0, c], content[1, c])


def test_vary_content_is_the_reverse_and_class_grids_have_a_row_per_class(trained_dir):
    generator, config = restore.load_generator(trained_dir)
    latents = {k: v.numpy() for k, v in sample.factor_latents(
        generator, config, rows=2, cols=3, vary="content", seed=5).items()}
    content = latents["content"].reshape(2, 3, -1)
    motion = latents["motion_noise"].reshape((2, 3) + latents["motion_noise"].shape[1:])
    for r in range(2):  # along a row: one motion, three contents
        assert all(np.array_equal(motion[r, 0], motion[r, c]) for c in range(3))
        assert not np.array_equal(content[r, 0], content[r, 1])
    assert np.array_equal(content[0], content[1]) and not np.array_equal(motion[0], motion[1])
    rows, cols = sample.grid_shape("class", 4, config)
    assert rows == len(CLASS_NAMES)
    by_class = sample.factor_latents(generator, config, rows, cols, "class", seed=5)
    assert by_class["labels"].numpy().reshape(rows, cols).tolist() == [[r] * cols for r in range(rows)]
    assert np.array_equal(by_class["content"].numpy().reshape(rows, cols, -1)[0],
                          by_class["content"].numpy().reshape(rows, cols, -1)[1])


def test_vary_grids_write_a_grid_and_class_grids_need_classes(trained_dir, plain_dir, tmp_path):
    path = sample.write_samples(trained_dir, str(tmp_path / "m.gif"), num_videos=4, vary="motion",
                                label="down")
    assert media.read_video(path).shape == (T, 2 * H + 2, 2 * W + 2, 3)
    with pytest.raises(ValueError, match="conditional"):
        sample.grid_shape("class", 4, config_lib.load_config(plain_dir))


def test_num_frames_makes_longer_and_shorter_videos(trained_dir, tmp_path):
    generator, config = restore.load_generator(trained_dir)
    assert sample.generate(generator, config, 2, seed=1, num_frames=3 * T).shape == (2, 3 * T, H, W, 3)
    assert sample.generate(generator, config, 2, seed=1, num_frames=2).shape == (2, 2, H, W, 3)
    # The first T frames of a long video are the T-frame video: the GRU just unrolls further.
    long = sample.generate(generator, config, 1, seed=1, num_frames=2 * T)
    short = sample.generate(generator, config, 1, seed=1)
    assert np.abs(long[:, :T].astype(int) - short.astype(int)).max() <= 1
    result = subprocess.run(
        [sys.executable, "-m", "trainer.generation.sample", f"--model_dir={trained_dir}",
         f"--out={tmp_path / 'long.gif'}", "--num_videos=2", "--num_frames=10", "--vary=content"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert media.read_video(str(tmp_path / "long.gif")).shape[0] == 10


def test_truncated_latest_checkpoint_falls_back_unless_named(tmp_path):
    from tests.model_dirs import make_config
    from trainer.checkpoints import paths as checkpoint_paths

    config = make_config(tmp_path, conditional=False, ema_decay=0.0)
    config_lib.save_config(config)
    state = train_lib.build_state(config)
    manager = tf.train.CheckpointManager(state.checkpoint,
                                         checkpoint_paths.checkpoint_dir(config.model_dir), 3)
    first = manager.save(checkpoint_number=1)
    expected = [w.copy() for w in state.models.generator.get_weights()]
    state.models.generator.set_weights([w + 1 for w in expected])
    latest = manager.save(checkpoint_number=2)
    data = tf.io.gfile.glob(latest + ".data-*")[0]
    with open(data, "r+b") as f:  # a copy cut short
        f.truncate(os.path.getsize(data) // 3)
    generator, _ = restore.load_generator(config.model_dir)
    assert all(np.array_equal(a, b) for a, b in zip(generator.get_weights(), expected)), first
    with pytest.raises(restore.RestoreError, match="ckpt-2 cannot be read"):
        restore.load_generator(config.model_dir, checkpoint=latest)


def test_model_dir_that_is_a_file_is_refused_by_name(tmp_path):
    from tests.model_dirs import make_config

    config = make_config(tmp_path, conditional=False, ema_decay=0.0)
    tf.io.gfile.makedirs(str(tmp_path))
    with open(config.model_dir, "w") as f:
        f.write("not a folder")
    with pytest.raises(config_lib.ConfigError, match="is a file, not a folder"):
        train_lib.prepare_model_dir(config)
