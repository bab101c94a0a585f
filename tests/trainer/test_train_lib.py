"""The training loop on tiny real shards with the 'small' networks: a few steps each."""

import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.trainer_shards import CLASS_NAMES, write_shards
from trainer import config as config_lib
from trainer.checkpoints import config_history
from trainer import train_lib

SHAPE = (4, 32, 32, 3)


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("shards"), num_files=2, clips_per_file=6,
                        shape=SHAPE)


def make_config(shard_dir, model_dir, **options):
    conditional = options.pop("conditional", False)
    model = config_lib.model_config("small", num_classes=len(CLASS_NAMES) if conditional else 0,
                                    spectral_norm=options.pop("spectral_norm", None))
    defaults = dict(train_steps=2, batch_size=4, image_batch_size=8, checkpoint_every=100,
                    summary_every=1, sample_every=100, strategy="default")
    return config_lib.Config(model=model, clip_shape=SHAPE, class_names=CLASS_NAMES,
                             conditional=conditional, tfrecords=shard_dir,
                             model_dir=str(model_dir), **{**defaults, **options})


def weights(model):
    return [w.copy() for w in model.get_weights()]


def test_steps_are_finite_and_change_every_network(shard_dir, tmp_path):
    config = make_config(shard_dir, tmp_path / "run", train_steps=2, ema_decay=0.5)
    strategy = tf.distribute.get_strategy()
    state = train_lib.build_state(config)
    before = {name: weights(getattr(state.models, name)) for name in
              ("generator", "image_discriminator", "video_discriminator")}
    ema_before = weights(state.ema_generator)
    from trainer import data
    iterator = iter(data.distributed_dataset(strategy, data.resolve_shards(shard_dir), 4, seed=0))
    train_step = train_lib.make_train_step(strategy, config, state)
    for _ in range(2):
        metrics = {k: float(v) for k, v in train_step(iterator).items()}
    assert int(state.step) == 2
    assert {"loss/d_image", "loss/d_video", "loss/generator", "grad_norm/generator",
            "d_video/real_logit", "d_image/fake_logit"} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    assert all(metrics[k] > 0 for k in metrics if k.startswith(("loss/", "grad_norm/")))
    for name, old in before.items():
        new = weights(getattr(state.models, name))
        changed = [not np.array_equal(a, b) for a, b in zip(old, new)]
        assert sum(changed) >= len(changed) // 2, f"{name}: only {sum(changed)} tensors moved"
    ema = weights(state.ema_generator)
    generator = weights(state.models.generator)
    assert not np.array_equal(ema[0], ema_before[0]) and not np.array_equal(ema[0], generator[0])


def test_resume_restores_weights_and_continues_the_count(shard_dir, tmp_path):
    model_dir = tmp_path / "run"
    first = train_lib.train(make_config(shard_dir, model_dir, train_steps=2, ema_decay=0.9))
    assert first.step == 2
    assert os.path.exists(model_dir / "checkpoints" / "ckpt-2.index")
    assert config_lib.load_config(str(model_dir)).train_steps == 2

    again = train_lib.train(make_config(shard_dir, model_dir, train_steps=2, ema_decay=0.9))
    assert again.step == 2 and again.metrics == {}  # nothing left to do: restored only
    for name in ("generator", "image_discriminator", "video_discriminator"):
        for a, b in zip(weights(getattr(first.state.models, name)),
                        weights(getattr(again.state.models, name))):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(weights(first.state.ema_generator), weights(again.state.ema_generator)):
        np.testing.assert_array_equal(a, b)
    assert int(again.state.optimizers["g"].iterations) == 2

    more = train_lib.train(make_config(shard_dir, model_dir, train_steps=3, ema_decay=0.9))
    assert more.step == 3 and np.isfinite(more.metrics["loss/generator"])
    assert int(more.state.optimizers["dv"].iterations) == 3
    assert os.path.exists(model_dir / "checkpoints" / "ckpt-3.index")
    assert config_lib.load_config(str(model_dir)).train_steps == 3


def test_options_hinge_r1_spectral_norm_bf16_conditional(shard_dir, tmp_path):
    config = make_config(shard_dir, tmp_path / "run", train_steps=1, loss="hinge", r1_gamma=1.0,
                         spectral_norm=True, mixed_precision="bf16", conditional=True,
                         reuse_fakes=False, sample_every=1, num_samples=4)
    result = train_lib.train(config)
    assert result.step == 1
    assert all(np.isfinite(v) for v in result.metrics.values())
    assert result.state.models.video_discriminator.class_head is not None
    assert config_lib.load_config(config.model_dir) == config

    summaries = read_summaries(os.path.join(config.model_dir, "train"))
    assert summaries["loss/generator"][0] == "scalars"
    assert np.isfinite(summaries["loss/generator"][1])
    assert summaries["speed/clips_per_second"][1] > 0
    plugin, (width, height, gif) = summaries["samples"]
    assert plugin == "images" and gif.startswith(b"GIF89a")
    # A 2x2 grid of 32x32 videos with 2-pixel gaps; the GIF header holds the same size.
    assert int(width) == int.from_bytes(gif[6:8], "little") and int(width) >= 64
    assert int(height) == int.from_bytes(gif[8:10], "little") and int(height) >= 64


def read_summaries(log_dir):
    """{tag: (plugin name, value)} of the event files in log_dir."""
    found = {}
    for path in tf.io.gfile.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found[value.tag] = (value.metadata.plugin_data.plugin_name,
                                    tf.make_ndarray(value.tensor).tolist())
    return found


def test_fp16_uses_loss_scaling(shard_dir, tmp_path):
    import keras
    config = make_config(shard_dir, tmp_path / "run", train_steps=1, mixed_precision="fp16")
    result = train_lib.train(config)
    assert isinstance(result.state.optimizers["g"], keras.optimizers.LossScaleOptimizer)
    assert result.step == 1 and np.isfinite(result.metrics["loss/d_video"])


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(shard_dir, tmp_path):
    train_lib.train(make_config(shard_dir, tmp_path / "run", train_steps=2, checkpoint_every=1))
    # The same run continued with an absurd learning rate blows up in its first step.
    config = make_config(shard_dir, tmp_path / "run", train_steps=20, learning_rate=1e30,
                         checkpoint_every=1)
    with pytest.raises(train_lib.NonFiniteLossError, match=r"loss/\w+ is (nan|inf) at step 3"):
        train_lib.train(config)
    latest = tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
    assert latest.endswith("ckpt-2")


def test_guard_names_the_first_non_finite_step_when_read_later():
    guard = train_lib.NonFiniteGuard()

    @tf.function
    def step(a, b, number):
        guard.note({"loss/a": a, "loss/b": b, "r1/x": tf.constant(float("nan"))}, number)

    step(1.0, 2.0, tf.constant(1, tf.int64))
    guard.check()  # finite losses (a non-loss NaN measurement is not the guard's business)
    step(1.0, float("nan"), tf.constant(2, tf.int64))
    step(float("inf"), 2.0, tf.constant(3, tf.int64))
    with pytest.raises(train_lib.NonFiniteLossError, match=r"loss/b is nan at step 2"):
        guard.check()


def test_guard_stops_a_loss_that_explodes_by_orders_of_magnitude():
    guard = train_lib.NonFiniteGuard()

    @tf.function
    def step(a, number):
        guard.note({"loss/a": a, "loss/b": tf.constant(0.7)}, number)

    for number, value in enumerate([0.7, 5.0, 40.0, 300.0], start=1):  # growing, but gradually
        step(value, tf.constant(number, tf.int64))
    guard.check()
    step(1e6, tf.constant(5, tf.int64))
    step(2.0, tf.constant(6, tf.int64))
    with pytest.raises(train_lib.NonFiniteLossError,
                       match=r"loss/a is 1e\+06 at step 5, over 1000x its running mean of \d+"):
        guard.check()


def test_huge_learning_rate_stops_and_keeps_last_good_checkpoint(shard_dir, tmp_path):
    train_lib.train(make_config(shard_dir, tmp_path / "run", train_steps=2, checkpoint_every=1))
    # Finite all along (the run saved a generator loss of 1e16): only the explosion rule
    # stops it, before the end-of-run save.
    config = make_config(shard_dir, tmp_path / "run", train_steps=30, learning_rate=1e6,
                         checkpoint_every=100)
    with pytest.raises(train_lib.NonFiniteLossError, match=r"loss/\w+ is \S+ at step \d+"):
        train_lib.train(config)
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-2")


def test_non_finite_loss_between_log_steps_is_named_at_its_own_step(shard_dir, tmp_path):
    config = make_config(shard_dir, tmp_path / "run", train_steps=20, learning_rate=1e30,
                         summary_every=10, checkpoint_every=10, sample_every=10)
    with pytest.raises(train_lib.NonFiniteLossError, match=r"loss/\w+ is (nan|inf) at step [1-3]\b"):
        train_lib.train(config)
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")) is None


def test_incompatible_architecture_is_refused(shard_dir, tmp_path):
    model_dir = tmp_path / "run"
    train_lib.train(make_config(shard_dir, model_dir, train_steps=1))
    wider = make_config(shard_dir, model_dir)
    wider = dataclasses.replace(wider, model=dataclasses.replace(wider.model, content_dim=60))
    with pytest.raises(config_lib.ConfigError,
                       match=r"model.content_dim: saved 50, now 60.*new --model_dir"):
        train_lib.train(wider)
    # Training options may change between runs.
    config_lib.check_resumable(make_config(shard_dir, model_dir),
                               make_config(shard_dir, model_dir, learning_rate=1e-4, batch_size=8))


def test_a_run_that_fails_to_build_leaves_no_config_and_blocks_nothing(shard_dir, tmp_path):
    model_dir = tmp_path / "run"
    bad = make_config(shard_dir, model_dir)
    bad = dataclasses.replace(bad, model=dataclasses.replace(bad.model, gen_channels=(1, 2)))
    with pytest.raises(ValueError, match="image_size=32 is not supported"):
        train_lib.train(bad)
    assert not os.path.exists(config_lib.config_path(str(model_dir)))
    # A config left with no checkpoint beside it (a run that died before its first save) does
    # not hold the directory to its architecture either.
    wider = make_config(shard_dir, model_dir)
    config_lib.save_config(dataclasses.replace(wider, model=dataclasses.replace(wider.model, content_dim=60)))
    assert train_lib.train(make_config(shard_dir, model_dir, train_steps=1)).step == 1
    assert config_lib.load_config(str(model_dir)).model.content_dim == 50
    assert [e["step"] for e in config_history.read_history(str(model_dir))] == [0]


def test_resuming_with_other_settings_keeps_the_config_history(shard_dir, tmp_path, caplog):
    model_dir = tmp_path / "run"
    train_lib.train(make_config(shard_dir, model_dir, train_steps=1))
    train_lib.train(make_config(shard_dir, model_dir, train_steps=2))  # a plain resume: no entry
    with caplog.at_level("WARNING", logger="trainer.checkpoints.config_history"):
        train_lib.train(make_config(shard_dir, model_dir, train_steps=3, learning_rate=1e-4,
                                    batch_size=2, loss="hinge"))
    history = config_history.read_history(str(model_dir))
    assert [e["step"] for e in history] == [0, 2]
    assert history[1]["changed"] == ["batch_size", "learning_rate", "loss"]
    assert history[0]["config"]["learning_rate"] == 2e-4 and history[1]["config"]["learning_rate"] == 1e-4
    assert config_lib.load_config(str(model_dir)).learning_rate == 1e-4
    assert "step 2: this run trains with other settings" in caplog.text
    assert "learning_rate: 0.0002 -> 0.0001" in caplog.text


def test_config_round_trips_and_validates(shard_dir, tmp_path):
    config = make_config(shard_dir, tmp_path, conditional=True, ema_decay=0.99)
    assert config_lib.Config.from_json(config.to_json()) == config
    with pytest.raises(config_lib.ConfigError, match="loss='l2'"):
        dataclasses.replace(config, loss="l2")
    with pytest.raises(config_lib.ConfigError, match="class names"):
        dataclasses.replace(config, class_names=())
    with pytest.raises(config_lib.ConfigError, match="does not exist"):
        config_lib.load_config(str(tmp_path / "nowhere"))
    generator = config.build_generator()
    assert generator(generator.sample_latents(2, seed=1)).shape == (2,) + SHAPE


def test_eval_every_writes_metric_scalars_and_keeps_a_best_checkpoint(tmp_path):
    from pipeline import media, schema
    from trainer.checkpoints import best
    from trainer.generation import sample

    shards = write_shards(tmp_path / "shapes", num_files=2, clips_per_file=12, shape=SHAPE,
                          data_generator=schema.SHAPE_MOTION)
    # fvd is the default; with no I3D here (offline), the best checkpoint follows fd_shapes.
    config = make_config(shards, tmp_path / "run", train_steps=4, eval_every=2, eval_videos=4,
                         summary_every=100, ema_decay=0.5, best_metric="fd_shapes")
    train_lib.train(config)
    scalars = {}
    for path in tf.io.gfile.glob(os.path.join(str(tmp_path / "run" / "train"), "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append(event.step)
    assert scalars["eval/fd_shapes"] == [2, 4] and "eval/single_blob_fraction" in scalars
    record = best.read_record(str(tmp_path / "run"))
    assert record["metric"] == "eval/fd_shapes" and record["step"] in (2, 4)
    assert best.best_checkpoint(str(tmp_path / "run")).endswith(f"ckpt-{record['step']}")
    out = sample.write_samples(str(tmp_path / "run"), str(tmp_path / "best.gif"), num_videos=1,
                               checkpoint="best")
    assert media.read_video(out).shape == SHAPE
    # A better value replaces the best; a worse one keeps it; a rerun remembers it.
    kept = best.BestCheckpoint(str(tmp_path / "run"), "eval/fd_shapes",
                               train_lib.build_state(config).checkpoint)
    assert kept.best == record["value"]
    assert not kept.update(9, {"eval/fd_shapes": record["value"] + 1})
    assert kept.update(10, {"eval/fd_shapes": record["value"] - 1})
    assert best.read_record(str(tmp_path / "run"))["step"] == 10
    assert best.higher_is_better("eval/single_blob_fraction")


def test_checkpoint_best_without_evaluation_says_how_to_get_one(shard_dir, tmp_path):
    from trainer.generation import restore

    config = make_config(shard_dir, tmp_path / "run", train_steps=1)
    train_lib.train(config)
    with pytest.raises(restore.RestoreError, match="--eval_every"):
        restore.load_generator(str(tmp_path / "run"), checkpoint="best")
