"""The demo's training levers do what they say: lazy R1, instance noise, warm-up, TTUR, EMA
half-life, the global image logit and the pooled video discriminator. Values, never times."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tests.trainer_shards import CLASS_NAMES
from trainer import config as config_lib
from trainer import losses
from trainer import networks
from trainer.networks import discriminators
from trainer import step as step_lib
from trainer import train_lib

SHAPE = (4, 32, 32, 3)


def make_config(model=None, **options):
    model = model or config_lib.model_config("small")
    defaults = dict(train_steps=2, batch_size=4, image_batch_size=4, strategy="default")
    return config_lib.Config(model=model, clip_shape=SHAPE, class_names=CLASS_NAMES,
                             **{**defaults, **options})


def real_batch(seed=0):
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 256, (4,) + SHAPE, dtype=np.uint8)
    return {"video": tf.constant(video), "label": tf.fill([4], -1)}


def gan_step(config):
    state = train_lib.build_state(config)
    return step_lib.GanStep(config, state.models, state.optimizers, num_replicas=1), state


def real_logits_with_and_without(task, state, config, **off):
    """D_I's mean real logit in one step of `task` and of a twin step with the option `off`,
    from the same weights and batch."""
    clean_task, clean_state = gan_step(dataclasses.replace(config, **off))
    clean_state.models.image_discriminator.set_weights(state.models.image_discriminator.get_weights())
    clean_state.models.generator.set_weights(state.models.generator.get_weights())
    batch, step = real_batch(), tf.constant(0, tf.int64)
    return (float(task.train_step(batch, step)["d_image/real_logit"]),
            float(clean_task.train_step(batch, step)["d_image/real_logit"]))


def r1_by_hand(disc, real, weight):
    """weight / 2 * batch mean of ||d sum(D(x)) / dx||^2, taken independently of trainer.losses."""
    x = tf.convert_to_tensor(real)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = disc(x, training=True)
        out = out[0] if isinstance(out, tuple) else out
        total = tf.reduce_sum(out)
    grad = tape.gradient(total, x).numpy().reshape(len(real), -1)
    return float(weight / 2 * np.mean(np.sum(grad ** 2, axis=1)))


def test_lazy_r1_runs_every_k_steps_with_weight_k():
    config = make_config(r1_gamma=2.0, r1_every=4)
    applied = [s for s in range(12) if train_lib.step_phases(config, s)["apply_r1"]]
    assert applied == [0, 4, 8]
    assert not any(train_lib.step_phases(make_config(), s)["apply_r1"] for s in range(4))
    task, state = gan_step(config)
    batch = real_batch()
    real_videos = tf.cast(batch["video"], tf.float32) / 127.5 - 1.0
    expected = r1_by_hand(state.models.video_discriminator, real_videos, weight=2.0 * 4)
    on = task.train_step(batch, tf.constant(0, tf.int64), apply_r1=True)
    assert float(on["r1/d_video"]) == pytest.approx(expected, rel=1e-3)
    assert float(on["r1/d_video"]) > 0 and float(on["r1/d_image"]) > 0
    off = task.train_step(batch, tf.constant(1, tf.int64), apply_r1=False)
    assert float(off["r1/d_video"]) == 0.0 and float(off["r1/d_image"]) == 0.0


def test_image_discriminator_r1_weight_is_its_own_when_given():
    assert make_config(r1_gamma=10.0).image_r1_gamma == 10.0
    assert make_config(r1_gamma=10.0, r1_gamma_image=0.5).image_r1_gamma == 0.5
    batch = real_batch()
    task, _ = gan_step(make_config(r1_gamma=2.0, r1_gamma_image=0.0))
    video_only = task.train_step(batch, tf.constant(0, tf.int64), apply_r1=True)
    assert float(video_only["r1/d_video"]) > 0 and float(video_only["r1/d_image"]) == 0.0
    config = make_config(r1_gamma=0.0, r1_gamma_image=1.0, r1_every=2)
    assert [train_lib.step_phases(config, s)["apply_r1"] for s in range(4)] == [True, False] * 2
    task, _ = gan_step(config)
    image_only = task.train_step(batch, tf.constant(0, tf.int64), apply_r1=True)
    assert float(image_only["r1/d_video"]) == 0.0 and float(image_only["r1/d_image"]) > 0


def test_instance_noise_anneals_and_touches_training_inputs_only():
    config = make_config(instance_noise=0.2, instance_noise_steps=10)
    task, state = gan_step(config)
    assert [round(float(task.noise_sigma(s)), 6) for s in (0, 5, 10, 20)] == [0.2, 0.1, 0.0, 0.0]
    x = tf.zeros([4, 8, 8, 3])
    noisy = task._disc_input(x, tf.constant(0, tf.int64), 0, 4, 4).numpy()
    assert 0.15 < noisy.std() < 0.25  # sigma 0.2 at step 0
    assert np.array_equal(task._disc_input(x, tf.constant(10, tf.int64), 0, 4, 4).numpy(), x.numpy())
    # The same weights, the same batch: the D steps see other inputs with noise than without.
    noisy_logit, clean_logit = real_logits_with_and_without(task, state, config, instance_noise=0.0)
    assert noisy_logit != pytest.approx(clean_logit, abs=1e-6)
    # Sampling goes through the generator alone: no noise there.
    generator = state.models.generator
    latents = generator.sample_latents(2, seed=3)
    assert np.array_equal(generator(latents).numpy(), generator(latents).numpy())


def test_image_warmup_leaves_the_video_discriminator_alone():
    config = make_config(image_warmup_steps=1)
    assert train_lib.step_phases(config, 0)["warmup"] and not train_lib.step_phases(config, 1)["warmup"]
    task, state = gan_step(config)
    before = [w.copy() for w in state.models.video_discriminator.get_weights()]
    metrics = task.train_step(real_batch(), tf.constant(0, tf.int64), warmup=True)
    assert "loss/d_video" not in metrics and "loss/d_image" in metrics
    after = state.models.video_discriminator.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    metrics = task.train_step(real_batch(), tf.constant(1, tf.int64), warmup=False)
    assert "loss/d_video" in metrics


def test_the_seed_draws_the_initial_weights():
    def weights(seed):
        models = train_lib.build_state(make_config(seed=seed)).models
        return [w for net in (models.generator, models.image_discriminator,
                              models.video_discriminator) for w in net.get_weights()]

    first, again, other = weights(3), weights(3), weights(4)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(np.abs(a - c).max() > 1e-3 for a, c in zip(first, other))


def test_ttur_gives_the_discriminators_their_own_rate():
    state = train_lib.build_state(make_config(learning_rate=1e-4, d_learning_rate=4e-4))
    rates = {k: float(v.learning_rate) for k, v in state.optimizers.items()}
    assert rates == pytest.approx({"g": 1e-4, "di": 4e-4, "dv": 4e-4})
    same = train_lib.build_state(make_config(learning_rate=3e-4))
    assert [float(v.learning_rate) for v in same.optimizers.values()] == pytest.approx([3e-4] * 3)


def test_ema_half_life_in_videos_with_ramp_up():
    config = make_config(ema_half_life_videos=400.0, batch_size=4)
    # Half of the average is forgotten every 400 videos, i.e. every 100 steps of 4.
    assert float(step_lib.ema_decay(config, 7)) ** 100 == pytest.approx(0.5, rel=1e-4)
    ramped = make_config(ema_half_life_videos=400.0, ema_rampup=0.5, batch_size=4)
    # After 10 steps (40 videos) the half-life is capped at 20 videos: 5 steps.
    assert float(step_lib.ema_decay(ramped, 10)) ** 5 == pytest.approx(0.5, rel=1e-4)
    assert float(step_lib.ema_decay(ramped, 10_000)) == pytest.approx(float(step_lib.ema_decay(config, 0)))
    assert make_config(ema_half_life_videos=10.0).use_ema
    with pytest.raises(config_lib.ConfigError, match="not both"):
        make_config(ema_half_life_videos=10.0, ema_decay=0.9)


def test_global_image_logit_and_pooled_video_discriminator_shapes():
    model = config_lib.model_config("small", image_disc_logits="global", video_disc_pool=2)
    built = networks.build_models(model, num_frames=16, image_size=64)
    assert built.image_discriminator(tf.zeros([2, 64, 64, 3])).shape == (2, 1, 1, 1)
    logits, _ = built.video_discriminator(tf.zeros([2, 16, 64, 64, 3]))
    assert logits.shape == (2, 1, 1, 1, 1)
    patch = networks.build_models(config_lib.model_config("small"), 16, 64)
    assert patch.image_discriminator(tf.zeros([2, 64, 64, 3])).shape == (2, 4, 4, 1)
    # Pooling really happens: a clip and its 2x2 block average score the same.
    clip = np.random.default_rng(0).normal(size=(1, 16, 32, 32, 3)).astype(np.float32)
    upsampled = np.repeat(np.repeat(clip, 2, axis=2), 2, axis=3)
    video_disc = built.video_discriminator
    unpooled = discriminators.VideoDiscriminator(dataclasses.replace(model, video_disc_pool=1), 16, 32)
    unpooled(tf.zeros([1, 16, 32, 32, 3]))
    unpooled.set_weights(video_disc.get_weights())
    np.testing.assert_allclose(video_disc(upsampled)[0].numpy(), unpooled(clip)[0].numpy(),
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="image_disc_logits"):
        config_lib.model_config("small", image_disc_logits="pixel")


def test_bad_option_values_name_the_option():
    for options, name in ((dict(r1_every=0), "r1_every"), (dict(learning_rate=-1.0), "learning_rate"),
                          (dict(instance_noise=-0.1), "instance_noise"),
                          (dict(image_warmup_steps=-1), "image_warmup_steps"),
                          (dict(image_class_weight=-1.0), "image_class_weight")):
        with pytest.raises(config_lib.ConfigError, match=name):
            make_config(**options)


def test_augment_reaches_the_discriminators_in_the_step_only():
    config = make_config(augment="translation,cutout")
    task, state = gan_step(config)
    augmented, clean = real_logits_with_and_without(task, state, config, augment="")
    assert augmented != pytest.approx(clean, abs=1e-6)
    with pytest.raises(config_lib.ConfigError, match="augment"):
        make_config(augment="flip")


def test_resize_upsampling_generator_has_no_transposed_convolutions():
    model = config_lib.model_config("small", gen_upsample="resize")
    generator = networks.build_generator(model, num_frames=4, image_size=32)
    videos = generator(generator.sample_latents(2, seed=1)).numpy()
    assert videos.shape == (2, 4, 32, 32, 3) and videos.min() >= -1 and videos.max() <= 1
    layers = [type(l).__name__ for l in generator._flatten_layers()]
    assert "Conv2DTranspose" not in layers and "UpSampling2D" in layers
    paper = networks.build_generator(config_lib.model_config("small"), 4, 32)
    assert "Conv2DTranspose" in [type(l).__name__ for l in paper._flatten_layers()]
    with pytest.raises(ValueError, match="gen_upsample"):
        config_lib.model_config("small", gen_upsample="bilinear")


def test_a_projection_step_trains_both_discriminators_class_embeddings():
    model = config_lib.model_config("small", num_classes=len(CLASS_NAMES), conditioning="projection")
    task, state = gan_step(make_config(model, conditional=True))
    discs = (state.models.image_discriminator, state.models.video_discriminator)
    before = [d.class_embedding.embeddings.numpy().copy() for d in discs]
    batch = dict(real_batch(), label=tf.constant([0, 1, 0, 1]))
    task.train_step(batch, tf.constant(0, tf.int64))
    for disc, old in zip(discs, before):
        assert np.abs(disc.class_embedding.embeddings.numpy() - old).max() > 0, disc.name


def _class_head_twins(bias_a, bias_b, weight=1.0, mode="shared"):
    """Two steps of an image-class-head model with the same weights, but for the head, which
    reads nothing (kernel 0) and gives every frame the class logits bias_a or bias_b."""
    model = config_lib.model_config("small", num_classes=len(CLASS_NAMES), image_class_head=mode)
    config = make_config(model, conditional=True, image_class_weight=weight)
    (task_a, state_a), (task_b, state_b) = gan_step(config), gan_step(config)
    for name in ("generator", "image_discriminator", "video_discriminator"):
        getattr(state_b.models, name).set_weights(getattr(state_a.models, name).get_weights())
    for state, bias in ((state_a, bias_a), (state_b, bias_b)):
        disc = state.models.image_discriminator
        head = disc.class_head or disc.class_branch.head
        head.kernel.assign(tf.zeros_like(head.kernel))
        head.bias.assign(bias)
    return task_a, task_b


def test_image_class_head_charges_d_on_real_frames_and_g_on_its_own_frames():
    # Logits (0, 0) cost log 2 a frame; (30, -30) cost 0 for class 0 and 60 for class 1; the
    # weight scales both. G first: the D step moves the heads.
    task_a, task_b = _class_head_twins([0.0, 0.0], [30.0, -30.0], weight=2.0)
    step = tf.constant(0, tf.int64)
    videos = tf.random.stateless_uniform([4, 4, 32, 32, 3], [3, 4], -1.0, 1.0)
    picks = tf.constant([[0, 0], [1, 1], [2, 2], [3, 3]])
    labels = tf.ones([4], tf.int32)
    g_a, g_b = (float(t._generator_loss(videos, labels, picks, step, False)) for t in (task_a, task_b))
    assert g_b - g_a == pytest.approx(2 * (60.0 - np.log(2)), rel=1e-5)
    frames = tf.random.stateless_uniform([4, 32, 32, 3], [1, 2], -1.0, 1.0)
    d_a, d_b = (t._image_d_step(frames, frames * 0.5, step, False, real_classes=tf.zeros([4], tf.int32))
                for t in (task_a, task_b))
    assert float(d_a["loss/d_image"]) - float(d_b["loss/d_image"]) == pytest.approx(2 * np.log(2), rel=1e-4)
    assert float(d_b["d_image/class_accuracy"]) == 1.0


def test_image_class_head_is_trained_and_needs_classes():
    task, _ = _class_head_twins([0.0, 0.0], [0.0, 0.0])
    head = task.image_discriminator.class_head
    before = head.bias.numpy().copy()
    # Every clip of class 0, so the bias gradient does not cancel between classes.
    metrics = task.train_step(dict(real_batch(), label=tf.zeros([4], tf.int32)), tf.constant(0, tf.int64))
    assert np.abs(head.bias.numpy() - before).max() > 0 and "d_image/class_accuracy" in metrics
    with pytest.raises(config_lib.ConfigError, match="image_class_head needs --conditional"):
        make_config(config_lib.model_config("small", image_class_head="separate"))


def test_a_separate_class_branch_shares_no_weight_with_the_realness_logits():
    model = config_lib.model_config("small", num_classes=len(CLASS_NAMES), image_class_head="separate")
    disc = train_lib.build_state(make_config(model, conditional=True)).models.image_discriminator
    frames = tf.random.stateless_uniform([4, 32, 32, 3], [5, 6], -1.0, 1.0)
    branch = disc.class_branch.trainable_variables
    body = [v for v in disc.trainable_variables if all(v is not b for b in branch)]
    assert branch and body
    with tf.GradientTape(persistent=True) as tape:
        logits, classes = disc.with_classes(frames, training=True)
    assert classes.shape == (4, len(CLASS_NAMES))
    assert all(g is None for g in tape.gradient(classes, body))
    assert all(g is None for g in tape.gradient(logits, branch))
    assert all(g is not None for g in tape.gradient(classes, branch))
    np.testing.assert_allclose(logits.numpy(), disc(frames, training=True).numpy(), rtol=1e-5, atol=1e-6)


def test_adc_head_learns_generated_frames_as_classes_of_their_own():
    # 2K = 4 logits: real circle, real square, generated circle, generated square. All 0: each
    # frame costs log 4. (0, 0, 30, 0): a real circle costs 30, a generated circle 0.
    task_a, task_b = _class_head_twins([0.0] * 4, [0.0, 0.0, 30.0, 0.0], mode="adc")
    circles = tf.zeros([4], tf.int32)
    # The generator pays for its circles read as generated ones: 30 against log 4. (First: the
    # D step below moves the heads.)
    videos = tf.random.stateless_uniform([4, 4, 32, 32, 3], [3, 4], -1.0, 1.0)
    picks = tf.constant([[0, 0], [1, 1], [2, 2], [3, 3]])
    step = tf.constant(0, tf.int64)
    g_a, g_b = (float(t._generator_loss(videos, circles, picks, step, False)) for t in (task_a, task_b))
    assert g_b - g_a == pytest.approx(30.0 - np.log(4), rel=1e-5)
    frames = tf.random.stateless_uniform([4, 32, 32, 3], [1, 2], -1.0, 1.0)
    d_a, d_b = (t._image_d_step(frames, frames * 0.5, step, False, real_classes=circles,
                                fake_classes=circles) for t in (task_a, task_b))
    assert (float(d_b["loss/d_image"]) - float(d_a["loss/d_image"])
            == pytest.approx(30.0 - 2 * np.log(4), rel=1e-5))


def test_frame_picks_spread_images_over_clips_at_their_times():
    picks = step_lib.frame_picks(tf.constant([3, 0, 1, 2, 0, 0]), batch=3)
    np.testing.assert_array_equal(picks.numpy(), [[0, 3], [0, 0], [1, 1], [1, 2], [2, 0], [2, 0]])
    labels = step_lib.frame_labels(tf.constant([7, 8, 9]), picks)
    np.testing.assert_array_equal(labels.numpy(), [7, 7, 8, 8, 9, 9])
    assert step_lib.frame_labels(None, picks) is None



def test_wgan_loss_and_gradient_penalty_by_hand():
    real, fake = tf.constant([[2.0], [1.0]]), tf.constant([[0.5], [-1.0]])
    np.testing.assert_allclose(losses.discriminator_loss(real, fake, "wgan").numpy(), [-1.5, -2.0])
    np.testing.assert_allclose(losses.generator_loss(fake, "wgan").numpy(), [-0.5, 1.0])
    # D(x) = sum(3 * x) over 2 numbers: its gradient is (3, 3) everywhere, norm 3 * sqrt(2).
    linear = lambda x, training=True: 3.0 * tf.reduce_sum(x, axis=1, keepdims=True)
    gp = losses.gradient_penalty(linear, tf.ones([2, 2]), tf.zeros([2, 2]), 10.0, tf.constant([0.3, 0.9]))
    np.testing.assert_allclose(gp.numpy(), [10.0 * (3 * np.sqrt(2) - 1) ** 2] * 2, rtol=1e-5)
    with pytest.raises(config_lib.ConfigError, match="needs a Lipschitz constraint"):
        make_config(loss="wgan")


def test_gradient_penalty_enters_both_discriminator_losses():
    config = make_config(loss="wgan", gp_weight=10.0)
    task, state = gan_step(config)
    twin, twin_state = gan_step(dataclasses.replace(config, gp_weight=1e-9))
    for name in ("generator", "image_discriminator", "video_discriminator"):
        getattr(twin_state.models, name).set_weights(getattr(state.models, name).get_weights())
    batch, step = real_batch(), tf.constant(0, tf.int64)
    with_gp, without = task.train_step(batch, step), twin.train_step(batch, step)
    for key in ("loss/d_image", "loss/d_video"):
        assert float(with_gp[key]) > float(without[key]) + 1e-3, key


def test_gradient_clipping_bounds_each_update():
    config = make_config(grad_clip_norm=1e-3, learning_rate=1.0, beta_1=0.0, beta_2=0.0)
    optimizer = train_lib.make_optimizer(config, 1.0)
    assert optimizer.global_clipnorm == pytest.approx(1e-3)
    assert train_lib.make_optimizer(make_config(), 1.0).global_clipnorm is None


def test_temporal_term_pulls_frame_change_towards_the_data():
    still = tf.zeros([2, 4, 8, 8, 3])
    flicker = tf.concat([tf.ones([2, 1, 8, 8, 3]), -tf.ones([2, 1, 8, 8, 3])] * 2, axis=1)
    np.testing.assert_allclose(losses.temporal_change(still).numpy(), [0.0, 0.0])
    np.testing.assert_allclose(losses.temporal_change(flicker).numpy(), [2.0, 2.0])
    config = make_config(temporal_weight=1.0)
    task, _ = gan_step(config)
    metrics = task.train_step(real_batch(), tf.constant(0, tf.int64))
    # Uniform random real clips change by about 2/3 a frame; a new generator's clips far less.
    assert float(metrics["temporal/gap"]) < -0.3
