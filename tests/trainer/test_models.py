"""MoCoGAN networks: shapes, ranges, sizes, latents, conditioning, spectral norm, precision."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from trainer import discriminators, layers, models

SMALL = models.PRESETS["small"]
FRAMES = 4


def conditional(config, num_classes=3, **changes):
    return dataclasses.replace(config, num_classes=num_classes, **changes)


@pytest.fixture(scope="module")
def small():
    return models.build_models(SMALL, FRAMES, 32)


@pytest.mark.parametrize("image_size,patch", [(32, 2), (64, 4)])
def test_small_preset_shapes_and_range(image_size, patch):
    nets = models.build_models(SMALL, FRAMES, image_size)
    latents = nets.generator.sample_latents(3, seed=1)
    assert latents["content"].shape == [3, SMALL.content_dim]
    assert latents["motion_noise"].shape == [3, FRAMES, SMALL.motion_noise_dim]
    assert latents["h0"].shape == [3, SMALL.motion_dim]
    assert "labels" not in latents
    videos = nets.generator(latents, training=True)
    assert videos.shape == [3, FRAMES, image_size, image_size, 3]
    assert videos.dtype == tf.float32
    assert -1.0 <= float(tf.reduce_min(videos)) and float(tf.reduce_max(videos)) <= 1.0
    assert float(tf.math.reduce_std(videos)) > 0
    image_logits = nets.image_discriminator(videos[:, 0], training=True)
    assert image_logits.shape == [3, patch, patch, 1] and image_logits.dtype == tf.float32
    video_logits, class_logits = nets.video_discriminator(videos, training=True)
    # One logit per clip: the 4 frames end after the first layer, the logits conv covers the rest.
    assert video_logits.shape == [3, 1, 1, 1, 1]
    assert video_logits.dtype == tf.float32
    assert class_logits is None


def test_mocogan_preset_matches_paper_sizes_and_runs():
    nets = models.build_models(models.PRESETS["mocogan"], 16, 64)
    # The paper's networks: G 3.3M, D_I 0.66M, D_V 11.3M parameters.
    for net, paper in [
        (nets.generator, 3.3e6),
        (nets.image_discriminator, 0.66e6),
        (nets.video_discriminator, 11.3e6),
    ]:
        assert abs(net.count_params() - paper) / paper < 0.05, (net.name, net.count_params())
    videos = nets.generator(nets.generator.sample_latents(1, seed=0))
    assert videos.shape == [1, 16, 64, 64, 3]
    assert float(tf.reduce_max(tf.abs(videos))) <= 1.0
    assert nets.image_discriminator(videos[:, 0]).shape == [1, 4, 4, 1]
    # The paper's D_V: time 16 -> 13 -> 10 -> 7 -> 4, space 64 -> 4, then one logit per clip.
    assert nets.video_discriminator(videos)[0].shape == [1, 1, 1, 1, 1]


def test_video_discriminator_follows_the_paper_in_time():
    spec = discriminators._video_disc_spec(num_frames=16, image_size=64, layers=4)
    assert [kernel for kernel, _, _ in spec] == [(4, 4, 4)] * 5  # 16 -> 13 -> 10 -> 7 -> 4 -> 1
    short = discriminators._video_disc_spec(num_frames=6, image_size=64, layers=4)
    assert [kernel[0] for kernel, _, _ in short] == [4, 3, 1, 1, 1]  # 6 -> 3 -> 1 -> 1 -> 1 -> 1
    nets = models.build_models(SMALL, 6, 64)
    logits, _ = nets.video_discriminator(tf.zeros([2, 6, 64, 64, 3]))
    assert logits.shape == [2, 1, 1, 1, 1]


def test_seeded_latents_are_reproducible(small):
    generator = small.generator
    a = generator.sample_latents(2, seed=7)
    b = generator.sample_latents(2, seed=tf.constant(7))
    c = generator.sample_latents(2, seed=8)
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
        assert not np.allclose(a[key].numpy(), c[key].numpy())
    np.testing.assert_array_equal(generator(a).numpy(), generator(b).numpy())
    # Unseeded draws differ call to call, and a tf.random.Generator is honoured.
    assert not np.allclose(generator.sample_latents(2)["content"], generator.sample_latents(2)["content"])
    rng_a, rng_b = tf.random.Generator.from_seed(3), tf.random.Generator.from_seed(3)
    np.testing.assert_array_equal(
        generator.sample_latents(2, rng=rng_a)["h0"], generator.sample_latents(2, rng=rng_b)["h0"]
    )


def test_frames_share_content_and_differ_by_motion(small):
    generator = small.generator
    latents = generator.sample_latents(1, seed=3)
    twin = {k: tf.concat([v, v], axis=0) for k, v in latents.items()}
    other_noise = generator.sample_latents(1, seed=4)["motion_noise"]
    twin["motion_noise"] = tf.concat([latents["motion_noise"], other_noise], axis=0)
    videos = generator(twin).numpy()
    # Same content, h0 and noise -> the same video regardless of position in the batch.
    np.testing.assert_allclose(videos[0], generator(latents).numpy()[0], atol=1e-5)
    # Same content, other motion noise: the first frame is already different, and so is each frame.
    per_frame_diff = np.abs(videos[0] - videos[1]).mean(axis=(1, 2, 3))
    assert np.all(per_frame_diff > 1e-6), per_frame_diff
    # Within one video the motion code changes the frames over time.
    assert np.abs(videos[0, 1:] - videos[0, :-1]).mean() > 1e-6
    # Changing only the content changes every frame.
    new_content = dict(latents, content=generator.sample_latents(1, seed=9)["content"])
    changed = np.abs(generator(new_content).numpy()[0] - videos[0]).mean(axis=(1, 2, 3))
    assert np.all(changed > 1e-6)


def test_frame_generator_runs_once_on_all_frames(small, monkeypatch):
    generator = small.generator
    calls = []
    original = generator.frame_generator.call

    def counting_call(codes, training=False):
        calls.append(codes.shape[0])
        return original(codes, training=training)

    monkeypatch.setattr(generator.frame_generator, "call", counting_call)
    generator(generator.sample_latents(3, seed=0))
    assert calls == [3 * FRAMES]


def test_conditional_labels_change_the_videos():
    nets = models.build_models(conditional(SMALL, 3), FRAMES, 32)
    latents = nets.generator.sample_latents(4, seed=2)
    assert latents["labels"].dtype == tf.int32 and latents["labels"].shape == [4]
    assert set(latents["labels"].numpy()) <= {0, 1, 2}
    fixed = nets.generator.sample_latents(2, labels=[0, 2], seed=2)
    np.testing.assert_array_equal(fixed["labels"].numpy(), [0, 2])
    relabelled = dict(fixed, labels=tf.constant([1, 1]))
    diff = np.abs(nets.generator(fixed).numpy() - nets.generator(relabelled).numpy())
    assert diff.mean() > 1e-6
    videos = nets.generator(fixed)
    logits, class_logits = nets.video_discriminator(videos, training=True)
    assert logits.shape[0] == 2 and class_logits.shape == [2, 3] and class_logits.dtype == tf.float32
    with pytest.raises(ValueError, match="labels"):
        nets.generator({k: v for k, v in fixed.items() if k != "labels"})


def test_spectral_norm_builds_normalises_and_trains():
    config = conditional(SMALL, 2, spectral_norm=True)
    nets = models.build_models(config, FRAMES, 32)
    videos = nets.generator(nets.generator.sample_latents(2, seed=0))
    layer = nets.video_discriminator.convs[1]
    assert isinstance(layer, layers.SpectralNorm)
    u_before = layer.u.numpy().copy()
    nets.video_discriminator(videos, training=False)
    np.testing.assert_array_equal(layer.u.numpy(), u_before)  # inference leaves u alone
    for _ in range(30):  # power iteration converges to the top singular vector
        nets.video_discriminator(videos, training=True)
    assert not np.allclose(layer.u.numpy(), u_before)
    matrix = layer.conv.kernel.numpy().reshape(-1, layer.conv.filters)
    sigma, _ = layer._sigma(layer.conv.kernel)
    top = np.linalg.svd(matrix, compute_uv=False)[0]
    assert 0.97 * top < float(sigma) <= top * 1.0001, (float(sigma), top)
    with tf.GradientTape() as tape:
        logits, class_logits = nets.video_discriminator(videos, training=True)
        total = tf.reduce_mean(logits) + tf.reduce_mean(class_logits)
    grads = tape.gradient(total, nets.video_discriminator.trainable_variables)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    assert nets.image_discriminator(videos[:, 0], training=True).shape == [2, 2, 2, 1]


def test_gradients_flow_inside_tf_function(small):
    generator, image_disc, video_disc = small.generator, small.image_discriminator, small.video_discriminator

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            videos = generator(generator.sample_latents(2), training=True)
            score = tf.reduce_mean(image_disc(videos[:, 1], training=True))
            score += tf.reduce_mean(video_disc(videos, training=True)[0])
        return tape.gradient(score, generator.trainable_variables)

    grads = step()
    assert len(grads) == len(generator.trainable_variables)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    gru_grads = [g for g, v in zip(grads, generator.trainable_variables) if "gru" in v.path]
    assert gru_grads and any(np.any(g.numpy() != 0) for g in gru_grads)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_keeps_outputs_float32(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        nets = models.build_models(conditional(SMALL, 2), FRAMES, 32)
        assert nets.image_discriminator.convs[0].compute_dtype == policy.split("_")[1]
        videos = nets.generator(nets.generator.sample_latents(2, seed=0), training=True)
        logits, class_logits = nets.video_discriminator(videos, training=True)
        image_logits = nets.image_discriminator(videos[:, 0], training=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    for tensor in (videos, logits, class_logits, image_logits):
        assert tensor.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(videos))) <= 1.0


def test_checkpoint_restores_into_freshly_built_models(small, tmp_path):
    latents = small.generator.sample_latents(2, seed=5)
    expected = small.generator(latents).numpy()
    prefix = tf.train.Checkpoint(
        generator=small.generator,
        image_discriminator=small.image_discriminator,
        video_discriminator=small.video_discriminator,
    ).save(str(tmp_path / "ckpt"))
    saved = [name for name, _ in tf.train.list_variables(prefix) if name.endswith("VARIABLE_VALUE")]
    every = [v for net in (small.generator, small.image_discriminator, small.video_discriminator)
             for v in net.variables if "seed_generator" not in v.path]  # GRU dropout state
    assert len(saved) == len(every) + 1  # + the checkpoint's save counter
    fresh = models.build_models(SMALL, FRAMES, 32)
    assert not np.allclose(fresh.generator(latents).numpy(), expected)
    tf.train.Checkpoint(generator=fresh.generator).restore(prefix).expect_partial()
    np.testing.assert_allclose(fresh.generator(latents).numpy(), expected, atol=1e-6)


def test_config_round_trips_and_bad_sizes_are_refused():
    values = SMALL.to_dict()
    values["gen_channels"] = list(values["gen_channels"])  # as read back from JSON
    assert models.ModelConfig.from_dict(values) == SMALL
    with pytest.raises(ValueError, match="colour"):
        models.ModelConfig.from_dict({**values, "colour": 1})
    with pytest.raises(ValueError, match="image_size=48"):
        models.Generator(SMALL, FRAMES, 48)
    with pytest.raises(ValueError, match="image_size=128"):
        models.Generator(SMALL, FRAMES, 128)


def test_discriminator_gradient_graph_avoids_remapper_faults(small):
    """A plain Pad before a conv and LeakyRelu after a biased conv make TF's remapper fail on the
    gradient graph and drop all its fusions; the discriminators use PadV2 and maximum instead,
    with the same values as the padded conv and the leaky ReLU."""
    clips = tf.random.stateless_uniform([2, FRAMES, 32, 32, 3], [1, 2], -1, 1)
    disc = small.video_discriminator

    @tf.function
    def gradients(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = disc(x, training=True)[0]
        return tape.gradient(logits, [x] + disc.trainable_variables)

    ops = {op.type for op in gradients.get_concrete_function(clips).graph.get_operations()}
    assert "Conv3D" in ops and "PadV2" in ops
    assert not {"Pad", "LeakyRelu"} & ops, ops
    expected = clips  # the same layers written with tf.pad and tf.nn.leaky_relu
    for conv, norm in zip(disc.convs, disc.norms):
        expected = conv(tf.pad(expected, [[0, 0], [0, 0], [1, 1], [1, 1], [0, 0]]))
        expected = tf.nn.leaky_relu(norm(expected) if norm is not None else expected, 0.2)
    np.testing.assert_allclose(disc.features(clips, training=False), expected, atol=1e-5)


def test_content_norm_scales_and_shifts_the_normalised_input_by_the_content_code():
    norm = models.ContentNorm(2)
    x = tf.constant(np.random.default_rng(0).normal(size=(4, 3, 3, 2)), tf.float32)
    content = tf.constant(np.random.default_rng(1).normal(size=(4, 5)), tf.float32)
    assert np.allclose(norm(x, content, training=True), norm.norm(x, training=True), atol=1e-6)
    norm.gain.kernel.assign(np.full((5, 2), 0.1, np.float32))
    norm.shift.kernel.assign(np.full((5, 2), -0.2, np.float32))
    mean, var = x.numpy().mean(axis=(0, 1, 2)), x.numpy().var(axis=(0, 1, 2))
    x_hat = (x.numpy() - mean) / np.sqrt(var + norm.norm.epsilon)
    c = content.numpy().sum(axis=1)[:, None, None, None]
    expected = x_hat * (1 + 0.1 * c) - 0.2 * c
    np.testing.assert_allclose(norm(x, content, training=True), expected, rtol=1e-4, atol=1e-4)


def test_content_set_norms_start_as_batch_norm_and_carry_the_content():
    config = dataclasses.replace(SMALL, gen_norm="content")
    generator = models.build_generator(config, FRAMES, 32)
    frames = generator.frame_generator
    norms = [frames.bn0] + [getattr(frames, f"bn{i}") for i in range(1, frames.num_upconvs)]
    assert all(isinstance(n, models.ContentNorm) for n in norms)
    latents = generator.sample_latents(2, seed=4)
    other = dict(latents, content=generator.sample_latents(2, seed=5)["content"])
    before = generator(latents).numpy()
    frames.bn1.gain.kernel.assign(tf.fill(frames.bn1.gain.kernel.shape, 0.05))
    assert not np.allclose(generator(latents).numpy(), before)
    assert not np.allclose(generator(latents).numpy(), generator(other).numpy())


def test_an_unknown_appearance_is_refused():
    with pytest.raises(ValueError, match="gen_appearance='texture'"):
        dataclasses.replace(SMALL, gen_appearance="texture")


def test_a_batch_norm_generator_keeps_its_checkpoint_paths(small, tmp_path):
    # FrameBatchNorm subclasses BatchNormalization: the paper's generator reads as it always did.
    assert all(type(getattr(small.generator.frame_generator, f"bn{i}")) is models.FrameBatchNorm
               for i in range(3))
    path = tf.train.Checkpoint(generator=small.generator).write(str(tmp_path / "ckpt"))
    names = {name for name, _ in tf.train.list_variables(path)}
    assert "generator/frame_generator/bn1/gamma/.ATTRIBUTES/VARIABLE_VALUE" in names


def test_an_unknown_gen_norm_is_refused():
    with pytest.raises(ValueError, match="gen_norm='layer'"):
        dataclasses.replace(SMALL, gen_norm="layer")


@pytest.mark.parametrize("appearance", ["image", "colour"])
def test_the_appearance_layer_is_the_same_in_every_frame_where_the_mask_is_on(appearance):
    keras.utils.set_random_seed(1)  # fixed weights: the "frames differ from A" margin is theirs
    config = dataclasses.replace(SMALL, gen_appearance=appearance)
    generator = models.build_generator(config, FRAMES, 32)
    latents = generator.sample_latents(2, seed=3)
    last = getattr(generator.frame_generator, f"upconv{generator.frame_generator.num_upconvs}")
    bias = last.layers[-1].bias if hasattr(last, "layers") else last.bias
    look = generator.appearance(tf.cast(latents["content"], tf.float32)).numpy()
    look = look if appearance == "image" else look[:, None, None, :]
    for mask_logit, expected in ((20.0, "appearance"), (-20.0, "frames")):
        bias.assign(tf.constant([0.0, 0.0, 0.0, mask_logit]))
        videos = generator(latents).numpy()
        if expected == "appearance":  # mask 1: A in every frame, whatever the motion
            np.testing.assert_allclose(videos, np.broadcast_to(look[:, None], videos.shape), atol=1e-5)
            if appearance == "colour":  # one colour per video, in every pixel
                assert np.ptp(videos[0].reshape(-1, 3), axis=0).max() < 1e-5
        else:  # mask 0: the frame generator's own frames, which move
            assert np.abs(videos - look[:, None]).max() > 0.1
            assert np.abs(np.diff(videos, axis=1)).max() > 0
    bias.assign(tf.constant([0.0, 0.0, 0.0, 20.0]))
    other = dict(latents, motion_noise=generator.sample_latents(2, seed=9)["motion_noise"])
    np.testing.assert_allclose(generator(other).numpy(), generator(latents).numpy(), atol=1e-5)


@pytest.mark.parametrize("appearance", ["image", "colour"])
def test_with_masks_gives_the_masks_that_blend_the_frames(appearance):
    generator = models.build_generator(dataclasses.replace(SMALL, gen_appearance=appearance), FRAMES, 32)
    latents = generator.sample_latents(2, seed=4)
    videos, masks = generator(latents, with_masks=True)
    assert masks.shape == (2, FRAMES, 32, 32, 1)
    assert 0.0 <= float(tf.reduce_min(masks)) and float(tf.reduce_max(masks)) <= 1.0
    np.testing.assert_allclose(videos.numpy(), generator(latents).numpy(), atol=1e-6)
    # By hand from the parts: the frame generator's pixels F and the appearance A.
    content = tf.cast(latents["content"], tf.float32)
    codes = tf.concat([tf.repeat(content[:, None], FRAMES, axis=1),
                       generator.motion_codes(latents)], axis=-1)
    own = generator.frame_generator(tf.reshape(codes, [2 * FRAMES, -1])).numpy()
    own = own.reshape(2, FRAMES, 32, 32, 4)[..., :3]
    look = generator.appearance(content).numpy()
    look = look[:, None] if appearance == "image" else look[:, None, None, None, :]
    np.testing.assert_allclose(videos.numpy(), masks * look + (1 - masks) * own, atol=1e-5)


def test_with_masks_is_refused_without_a_mask():
    generator = models.build_generator(SMALL, FRAMES, 32)
    with pytest.raises(ValueError, match="no masks"):
        generator(generator.sample_latents(1, seed=0), with_masks=True)


def test_a_grey_generator_gets_its_colour_through_the_mask_alone():
    keras.utils.set_random_seed(2)
    generator = models.build_generator(dataclasses.replace(SMALL, gen_appearance="grey"), FRAMES, 32)
    latents = generator.sample_latents(2, seed=6)
    last = getattr(generator.frame_generator, f"upconv{generator.frame_generator.num_upconvs}")
    bias = last.layers[-1].bias if hasattr(last, "layers") else last.bias
    assert bias.shape == (2,)  # grey pixels and the mask
    colour = generator.appearance(tf.cast(latents["content"], tf.float32)).numpy()
    bias.assign([0.0, -20.0])  # mask 0: the frame generator's own frames, grey, and moving
    videos = generator(latents).numpy()
    np.testing.assert_allclose(videos[..., 0], videos[..., 1], atol=1e-6)
    np.testing.assert_allclose(videos[..., 0], videos[..., 2], atol=1e-6)
    assert np.abs(np.diff(videos, axis=1)).max() > 0
    bias.assign([0.0, 20.0])  # mask 1: the video's colour in every pixel
    videos = generator(latents).numpy()
    np.testing.assert_allclose(videos, np.broadcast_to(colour[:, None, None, None], videos.shape),
                               atol=1e-5)


def test_a_black_generator_draws_the_mask_alone_over_a_black_background():
    keras.utils.set_random_seed(2)
    generator = models.build_generator(dataclasses.replace(SMALL, gen_appearance="black"), FRAMES, 32)
    latents = generator.sample_latents(2, seed=6)
    bias = _last_bias(generator)
    assert bias.shape == (1,)  # the mask alone
    colour = generator.appearance(tf.cast(latents["content"], tf.float32)).numpy()
    videos, masks = generator(latents, with_masks=True)
    np.testing.assert_allclose(  # black where the mask is off, the video's colour where it is on
        videos.numpy(), -1.0 + masks.numpy() * (colour[:, None, None, None] + 1.0), atol=1e-5)
    assert 0.0 < masks.numpy().min() < masks.numpy().max() < 1.0
    bias.assign([-20.0])
    np.testing.assert_allclose(generator(latents).numpy(), -1.0, atol=1e-6)


def test_first_frame_motion_noise_ignores_the_later_noise_and_not_the_first():
    generator = models.build_generator(dataclasses.replace(SMALL, motion_noise="first_frame"),
                                       FRAMES, 32)
    latents = generator.sample_latents(2, seed=8)
    videos = generator(latents).numpy()
    noise = latents["motion_noise"].numpy()
    later = dict(latents, motion_noise=tf.constant(np.concatenate(
        [noise[:, :1], noise[:, 1:] + 5.0], axis=1)))
    np.testing.assert_array_equal(generator(later).numpy(), videos)
    first = dict(latents, motion_noise=tf.constant(np.concatenate(
        [noise[:, :1] + 5.0, noise[:, 1:]], axis=1)))
    assert np.abs(generator(first).numpy() - videos).max() > 1e-3
    paper = models.build_generator(SMALL, FRAMES, 32)  # every frame: the later noise moves it
    assert np.abs(paper(later).numpy() - paper(latents).numpy()).max() > 1e-3
    with pytest.raises(ValueError, match="motion_noise='sometimes'"):
        dataclasses.replace(SMALL, motion_noise="sometimes")


def _last_bias(generator):
    last = getattr(generator.frame_generator, f"upconv{generator.frame_generator.num_upconvs}")
    return last.layers[-1].bias if hasattr(last, "layers") else last.bias


def test_a_hard_mask_is_0_or_1_and_passes_the_soft_masks_gradient():
    keras.utils.set_random_seed(3)
    soft = models.build_generator(dataclasses.replace(SMALL, gen_appearance="grey"), FRAMES, 32)
    hard = models.build_generator(dataclasses.replace(SMALL, gen_appearance="grey", gen_mask="hard"),
                                  FRAMES, 32)
    hard.set_weights(soft.get_weights())
    latents = soft.sample_latents(2, seed=7)
    videos, masks = hard(latents, with_masks=True)
    soft_masks = soft(latents, with_masks=True)[1].numpy()
    assert set(np.unique(masks.numpy())) == {0.0, 1.0}
    np.testing.assert_array_equal(masks.numpy(), (soft_masks > 0.5).astype(np.float32))
    colour = hard.appearance(tf.cast(latents["content"], tf.float32)).numpy()
    inside = np.broadcast_to(masks.numpy() == 1.0, videos.shape)
    np.testing.assert_allclose(videos.numpy()[inside],  # exactly the video's colour in the mask
                               np.broadcast_to(colour[:, None, None, None], videos.shape)[inside],
                               atol=1e-6)
    weights = tf.random.stateless_normal(videos.shape, seed=[1, 2])
    grads = []
    for generator in (soft, hard):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(weights * generator(latents, training=True))
        grads.append(tape.gradient(loss, _last_bias(generator)).numpy())
    # The mask's bias moves only the mask, whose gradient the hard mask takes from the sigmoid.
    assert abs(grads[0][1]) > 1e-3
    np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-4)


def test_a_mask_hard_at_sampling_is_soft_in_training_only():
    looks = {mask: models.build_generator(dataclasses.replace(SMALL, gen_appearance="black",
                                                              gen_mask=mask), FRAMES, 32)
             for mask in ("soft", "hard", "hard_at_sampling")}
    looks["hard"].set_weights(looks["soft"].get_weights())
    looks["hard_at_sampling"].set_weights(looks["soft"].get_weights())
    latents = looks["soft"].sample_latents(2, seed=9)
    # Outside training first: a training call moves the batch norms' statistics.
    for training, like in ((False, "hard"), (True, "soft")):
        videos, masks = looks["hard_at_sampling"](latents, training=training, with_masks=True)
        want_videos, want_masks = looks[like](latents, training=training, with_masks=True)
        np.testing.assert_array_equal(masks.numpy(), want_masks.numpy())
        np.testing.assert_array_equal(videos.numpy(), want_videos.numpy())
        if not training:
            assert set(np.unique(masks.numpy())) == {0.0, 1.0}
    assert 0.0 < masks.numpy().min() < masks.numpy().max() < 1.0  # in training: the sigmoid


def test_a_hard_mask_without_a_mask_is_refused():
    for choice in ("hard", "hard_smooth", "hard_at_sampling"):
        with pytest.raises(ValueError, match=f"gen_mask='{choice}' needs a mask"):
            dataclasses.replace(SMALL, gen_mask=choice)
    with pytest.raises(ValueError, match="gen_mask='sharp'"):
        dataclasses.replace(SMALL, gen_appearance="grey", gen_mask="sharp")


def test_a_smoothed_hard_mask_drops_a_lone_pixel_and_keeps_a_shape():
    soft = np.zeros((1, 8, 8, 1), np.float32)
    soft[0, 1, 1] = 0.9  # a lone pixel near the top-left corner
    soft[0, 3:7, 3:7] = 0.8  # a 4x4 shape
    soft = tf.constant(soft)
    per_pixel = models.hard_mask(soft).numpy()[0, ..., 0]
    smoothed = models.hard_mask(soft, smooth=True).numpy()[0, ..., 0]
    assert per_pixel[1, 1] == 1.0 and smoothed[1, 1] == 0.0
    assert per_pixel[3:7, 3:7].all() and per_pixel.sum() == 17
    # The shape loses its four corners (4 of 9 neighbours on: mean 0.36), keeps its edges (6 of 9:
    # 0.53) and its inside, and gains nothing around it.
    expected = np.zeros((8, 8), np.float32)
    expected[3:7, 3:7] = 1.0
    expected[[3, 3, 6, 6], [3, 6, 3, 6]] = 0.0
    np.testing.assert_array_equal(smoothed, expected)
    # Backward: the gradient of the 3x3 mean, whatever the 0/1 decision.
    weights = tf.random.stateless_normal(soft.shape, seed=[3, 4])
    grads = []
    for f in (lambda x: models.hard_mask(x, smooth=True), lambda x: tf.nn.avg_pool2d(x, 3, 1, "SAME")):
        with tf.GradientTape() as tape:
            tape.watch(soft)
            loss = tf.reduce_sum(weights * f(soft))
        grads.append(tape.gradient(loss, soft).numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5)


def test_translate_moves_whole_pixels_exactly_and_blends_between_them():
    image = np.zeros((1, 8, 8, 1), np.float32)
    image[0, 2, 3] = 1.0
    offsets = tf.Variable([[[1.0, 2.0], [0.5, 0.0], [-3.0, 0.0]]])  # (x, y) per frame
    with tf.GradientTape() as tape:
        moved = models.translate(image, offsets)
        pulled = tf.reduce_sum(moved[0, 1, 2, 4])  # the right half of the half-pixel move
    frames = moved.numpy()[0, ..., 0]
    assert frames[0, 4, 4] == 1.0 and frames[0].sum() == 1.0  # 1 right, 2 down
    np.testing.assert_allclose(frames[1, 2, 3:5], [0.5, 0.5])
    assert frames[2].sum() == 1.0 and frames[2, 2, 0] == 1.0
    assert tape.gradient(pulled, offsets).numpy()[0, 1, 0] > 0  # moving right fills it more
    np.testing.assert_array_equal(models.translate(image, tf.constant([[[9.0, 0.0]]])), 0.0)


def test_a_translating_generator_moves_one_image_per_video():
    config = dataclasses.replace(SMALL, gen_motion="translate", gen_appearance="black")
    generator = models.build_generator(config, FRAMES, 32)
    latents = generator.sample_latents(2, seed=3)
    videos, masks = generator(latents, with_masks=True)
    assert videos.shape == [2, FRAMES, 32, 32, 3]
    generator.offset.kernel.assign(tf.zeros_like(generator.offset.kernel))
    still = generator(latents).numpy()  # offset 0 everywhere: every frame is the video's image
    np.testing.assert_allclose(still, np.repeat(still[:, :1], FRAMES, axis=1), atol=1e-6)
    assert np.abs(still[0] - still[1]).max() > 1e-3  # each video its own image
    generator.offset.bias.assign(np.arctanh([4 / 16, 0.0]).astype(np.float32))  # 4 px right
    moved = generator(latents).numpy()
    np.testing.assert_allclose(moved[:, :, :, 4:], still[:, :, :, :-4], atol=1e-4)
    np.testing.assert_allclose(moved[:, :, :, :4], -1.0, atol=1e-6)  # black shifted in
    with pytest.raises(ValueError, match="gen_motion='slide'"):
        dataclasses.replace(SMALL, gen_motion="slide")


def test_a_sprite_window_keeps_the_drawn_image_near_its_centre_in_every_frame():
    config = dataclasses.replace(SMALL, gen_motion="translate", gen_appearance="black",
                                 sprite_radius=0.25)
    generator = models.build_generator(config, FRAMES, 32)
    generator.offset.kernel.assign(tf.zeros_like(generator.offset.kernel))
    latents = generator.sample_latents(2, seed=3)
    window = models.sprite_window(32, 0.25).numpy()
    assert window[16, 16] == 1.0 and window[0, 0] == 0.0 and window[16, 16 + 7] == 1.0
    still = generator(latents).numpy()
    np.testing.assert_allclose(still[:, :, window == 0], -1.0, atol=1e-6)  # black outside
    assert (still[:, :, window == 1] > -1.0 + 1e-3).any()  # the drawing inside is kept
    generator.offset.bias.assign(np.arctanh([4 / 16, 0.0]).astype(np.float32))  # 4 px right
    moved = generator(latents).numpy()
    outside = np.roll(window, 4, axis=1) == 0  # the window moves with the image
    np.testing.assert_allclose(moved[:, :, outside], -1.0, atol=1e-5)
    with pytest.raises(ValueError, match="sprite_radius"):
        dataclasses.replace(SMALL, sprite_radius=0.3)  # the paper's drawing has no sprite


def test_bounce_mirrors_the_summed_velocities_at_the_walls():
    start = tf.Variable([[0.0, 1.0]])
    velocity = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        velocities = tf.stack([tf.fill([6], velocity), tf.zeros([6])], axis=-1)[None]
        path = models.bounce(start, velocities, 4.0)
        x = path[0, :, 0]
    # 0, 3, 6 -> 2 (off the wall at 4), -1, -4 (the wall at -4), -1; y stays at its start.
    np.testing.assert_allclose(x.numpy(), [0, 3, 2, -1, -4, -1], atol=1e-6)
    np.testing.assert_allclose(path[0, :, 1].numpy(), 1.0)
    jacobian = tape.jacobian(x, velocity).numpy()
    # Before a bounce a faster shape is further on; after one, less far; after two, further.
    assert jacobian[1] > 0 and jacobian[2] < 0 and jacobian[5] > 0
    limits = tf.constant([[4.0], [2.0]])  # one wall distance a video
    both = models.bounce(tf.zeros([2, 2]), tf.fill([2, 4, 2], 3.0), limits).numpy()
    np.testing.assert_allclose(both[:, :, 0], [[0, 3, 2, -1], [0, 1, -2, 1]], atol=1e-6)


def test_a_bouncing_sprite_stays_in_the_frame_at_constant_speed():
    config = dataclasses.replace(SMALL, gen_motion="translate", gen_appearance="black",
                                 sprite_radius=0.25, sprite_shape="superellipse",
                                 motion_path="bounce")
    frames = 24
    keras.utils.set_random_seed(0)  # the same weights whatever ran before in this process
    generator = models.build_generator(config, frames, 32)
    generator.velocity.kernel.assign(tf.zeros_like(generator.velocity.kernel))
    generator.velocity.bias.assign(np.arctanh([0.5, -0.25]).astype(np.float32))  # (2, -1) px
    latents = generator.sample_latents(3, seed=4, num_frames=frames)
    _, masks = generator(latents, with_masks=True)
    masks = masks.numpy()[..., 0] > 0.5
    assert masks.any(axis=(2, 3)).all()  # every frame shows its sprite
    for video in masks:
        cols = np.array([np.nonzero(frame.any(axis=0))[0].mean() for frame in video])
        steps = np.abs(np.diff(cols))
        assert steps.max() <= 2.51 and np.mean(np.abs(steps - 2.0) <= 0.51) >= 0.8  # 2 px a frame
        assert np.diff(np.sign(np.diff(cols))).any()  # it turned at a wall (a shorter step there)
    content = tf.cast(latents["content"], tf.float32)
    offsets = generator.offsets(content, generator.motion_codes(latents),
                                latents["motion_noise"]).numpy()
    reach = np.abs(offsets) + generator.sprite_extent(content).numpy()[:, None, None]
    assert reach.max() <= 16.0 + 1e-4  # never cut off by a border: it turns at its own edge
    assert reach.max() >= 16.0 - 2.0  # and it reaches the walls
    with pytest.raises(ValueError, match="gen_motion='translate'"):
        dataclasses.replace(SMALL, motion_path="bounce")


def test_a_generator_superellipse_starts_at_the_configured_exponent():
    config = dataclasses.replace(SMALL, gen_motion="translate", gen_appearance="black",
                                 sprite_radius=0.25, sprite_shape="superellipse",
                                 sprite_start_exponent=2.5)
    generator = models.build_generator(config, FRAMES, 32)
    _, exponent = generator.outline.radius_and_exponent(tf.zeros([3, SMALL.content_dim]))
    np.testing.assert_allclose(exponent.numpy(), 2.5, rtol=1e-5)
    with pytest.raises(ValueError, match="sprite_start_exponent"):
        dataclasses.replace(config, sprite_start_exponent=40.0)
    direct = models.build_generator(dataclasses.replace(config, sprite_code="direct"), FRAMES, 32)
    assert direct.outline.direct and not generator.outline.direct
    with pytest.raises(ValueError, match="sprite_shape='superellipse'"):
        dataclasses.replace(config, sprite_code="direct", sprite_shape="star")


def test_a_constant_velocity_path_takes_the_first_frame_velocity_throughout():
    config = dataclasses.replace(SMALL, gen_motion="translate", gen_appearance="black",
                                 sprite_radius=0.25, sprite_shape="superellipse")
    frames = 12
    paths = {}
    for motion_path in ("bounce", "constant_velocity"):
        generator = models.build_generator(dataclasses.replace(config, motion_path=motion_path),
                                           frames, 32)
        if paths:  # the same weights: only the path differs
            generator.set_weights(weights)
        weights = generator.get_weights()
        latents = generator.sample_latents(4, seed=5, num_frames=frames)
        content = tf.cast(latents["content"], tf.float32)
        motion = generator.motion_codes(latents)
        paths[motion_path] = generator.offsets(content, motion, latents["motion_noise"]).numpy()
        limit = 16.0 - generator.sprite_extent(content).numpy()
        velocity = generator.velocity(motion[:, :1]).numpy() * 4.0  # 32 / 8 px a frame
    expected = models.bounce(paths["bounce"][:, 0], np.repeat(velocity, frames, axis=1),
                             limit[:, None]).numpy()
    np.testing.assert_allclose(paths["constant_velocity"], expected, atol=1e-4)
    assert np.abs(paths["bounce"] - paths["constant_velocity"]).max() > 1e-3  # the GRU's codes vary


def test_motion_modes_are_a_uniform_one_hot_of_the_first_frame_noise():
    noise = tf.random.stateless_normal([4000, 3, 10], [0, 2])
    onehot = models.motion_mode_onehot(noise, 4).numpy()
    np.testing.assert_array_equal(onehot.argmax(-1), noise.numpy()[:, 0, :4].argmax(-1))
    np.testing.assert_array_equal(onehot.sum(-1), 1.0)
    np.testing.assert_allclose(onehot.mean(0), 0.25, atol=0.03)  # uniform over the modes


def test_the_gru_reads_the_motion_mode_at_every_step():
    config = dataclasses.replace(SMALL, motion_modes=4, motion_noise="first_frame")
    keras.utils.set_random_seed(0)
    generator = models.build_generator(config, FRAMES, 32)
    latents = generator.sample_latents(3, seed=3)
    codes = generator.motion_codes(latents)
    mode = models.motion_mode_onehot(latents["motion_noise"], 4)
    zeros = tf.zeros([3, SMALL.motion_noise_dim])  # first_frame: no noise after step 0

    def next_code(onehot):
        return generator.motion_cell(tf.concat([zeros, onehot], -1), codes[:, 1])[0].numpy()

    np.testing.assert_allclose(codes[:, 2].numpy(), next_code(mode), atol=1e-5)
    other_mode = tf.roll(mode, 1, axis=-1)
    assert np.abs(next_code(other_mode) - codes[:, 2].numpy()).max() > 1e-3
    with pytest.raises(ValueError, match="motion_modes"):
        dataclasses.replace(SMALL, motion_modes=SMALL.motion_noise_dim + 1)


def test_a_chroma_colour_is_a_lightness_plus_a_chroma_along_its_hue():
    layer = models.ChromaColour()
    layer(tf.zeros([1, 5]))
    layer.code.kernel.assign(tf.zeros([5, 4]))

    def colour(lightness_logit, chroma_logit, hue):
        layer.code.bias.assign([lightness_logit, chroma_logit, *hue])
        return (layer(tf.zeros([1, 5])).numpy()[0] + 1) / 2  # back to [0, 1]

    np.testing.assert_allclose(colour(0.0, -30.0, (1.0, 0.0)), 0.5, atol=1e-5)  # no chroma: grey
    # Full chroma along (2, -1, -1) / sqrt(6): 0.5 + (2/3, -1/3, -1/3), clipped.
    np.testing.assert_allclose(colour(0.0, 30.0, (3.0, 0.0)), [1.0, 1 / 6, 1 / 6], atol=1e-5)
    np.testing.assert_allclose(colour(0.0, 30.0, (0.0, 0.1)), [0.5, 1.0, 0.0], atol=1e-5)
    lighter = colour(2.0, 30.0, (0.0, 0.1))
    assert lighter[0] > 0.5 and lighter[1] == 1.0


def test_a_chroma_generator_colours_its_sprites_through_the_layer():
    config = dataclasses.replace(SMALL, gen_motion="translate", gen_appearance="black",
                                 sprite_radius=0.25, sprite_shape="superellipse",
                                 gen_mask="hard_at_sampling", colour_form="chroma")
    keras.utils.set_random_seed(0)
    generator = models.build_generator(config, FRAMES, 32)
    assert isinstance(generator.appearance, models.ChromaColour)
    latents = generator.sample_latents(64, seed=2)
    videos, masks = generator(latents, with_masks=True)
    inside = masks.numpy()[..., 0] == 1.0  # 0/1 when sampling
    colours = generator.appearance(tf.cast(latents["content"], tf.float32)).numpy()
    expected = np.broadcast_to(colours[:, None, None, None], videos.shape)
    assert inside.any()
    np.testing.assert_allclose(videos.numpy()[inside], expected[inside], atol=1e-5)
    rgb = (colours + 1) / 2
    hue = np.arctan2(np.sqrt(3) * (rgb[:, 1] - rgb[:, 2]), 2 * rgb[:, 0] - rgb[:, 1] - rgb[:, 2])
    assert np.ptp(hue) > np.pi  # hues all round the circle from the start
    with pytest.raises(ValueError, match="colour_form='chroma'"):
        dataclasses.replace(SMALL, colour_form="chroma")


def test_hsv_to_rgb_is_tensorflow_s_conversion_with_a_gradient():
    rng = np.random.default_rng(0)
    hsv = tf.constant(rng.uniform(0, 1, size=(200, 3)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(hsv)
        rgb = models.hsv_to_rgb(*tf.unstack(hsv, axis=-1))
    np.testing.assert_allclose(rgb.numpy(), tf.image.hsv_to_rgb(hsv).numpy(), atol=1e-5)
    gradient = tape.gradient(rgb, hsv).numpy()
    assert np.abs(gradient).min(axis=0)[2] > 0  # every colour answers to its value
    np.testing.assert_allclose(models.hsv_to_rgb(tf.constant([0.0, 1 / 3]), tf.constant([1.0, 0.5]),
                                                 tf.constant([1.0, 0.8])).numpy(),
                               [[1.0, 0.0, 0.0], [0.4, 0.8, 0.4]], atol=1e-6)


def test_an_hsv_colour_reads_its_hue_off_an_angle_and_its_paleness_off_one_number():
    layer = models.HsvColour()
    layer(tf.zeros([1, 5]))
    layer.code.kernel.assign(tf.zeros([5, 4]))

    def colour(hue_x, hue_y, saturation_logit, value_logit):
        layer.code.bias.assign([hue_x, hue_y, saturation_logit, value_logit])
        return (layer(tf.zeros([1, 5])).numpy()[0] + 1) / 2  # back to [0, 1]

    np.testing.assert_allclose(colour(2.0, 0.0, 30.0, 30.0), [1.0, 0.0, 0.0], atol=1e-5)  # red
    np.testing.assert_allclose(colour(-1.0, 0.0, 30.0, 30.0), [0.0, 1.0, 1.0], atol=1e-5)  # cyan
    np.testing.assert_allclose(colour(0.0, 5.0, -30.0, 30.0), [1.0, 1.0, 1.0], atol=1e-5)  # white
    np.testing.assert_allclose(colour(0.0, -1.0, 0.0, 0.0), [0.375, 0.25, 0.5], atol=1e-5)
    config = dataclasses.replace(SMALL, gen_motion="translate", gen_appearance="black",
                                 sprite_radius=0.25, sprite_shape="superellipse", colour_form="hsv")
    assert isinstance(models.build_generator(config, FRAMES, 32).appearance, models.HsvColour)


def test_polar_velocity_is_a_unit_direction_times_a_sigmoid_speed():
    raw = tf.constant([[3.0, -4.0, 0.0], [0.0, 2.0, 10.0], [-1.0, -1.0, -2.0]])
    velocity = models.polar_velocity(raw).numpy()
    speed = 1 / (1 + np.exp(-raw.numpy()[:, 2]))
    np.testing.assert_allclose(np.linalg.norm(velocity, axis=-1), speed, rtol=1e-5)
    np.testing.assert_allclose(velocity[0], [0.6 * 0.5, -0.8 * 0.5], rtol=1e-5)
    # The direction is the first two numbers' whatever their length.
    longer = models.polar_velocity(raw * tf.constant([[5.0, 5.0, 1.0]])).numpy()
    np.testing.assert_allclose(longer, velocity, rtol=1e-5)


def straight_sprite_generator(frames: int, velocity_form: str):
    """(config, generator) of one superellipse sprite on a constant-velocity path, 32x32."""
    config = dataclasses.replace(SMALL, gen_motion="translate", gen_appearance="black",
                                 sprite_radius=0.25, sprite_shape="superellipse",
                                 motion_path="constant_velocity", velocity_form=velocity_form)
    keras.utils.set_random_seed(0)
    return config, models.build_generator(config, frames, 32)


def test_a_polar_velocity_moves_a_generator_sprite_at_the_speed_of_its_own_output():
    frames = 6
    config, generator = straight_sprite_generator(frames, "polar")
    kernel = generator.velocity.kernel.numpy()
    kernel[:, 2] = 0.0  # speed from the bias alone: sigmoid(0) * 32 / 8 = 2 px a frame
    generator.velocity.kernel.assign(kernel)
    generator.velocity.bias.assign(tf.zeros([3]))
    latents = generator.sample_latents(16, seed=3, num_frames=frames)
    content = tf.cast(latents["content"], tf.float32)
    offsets = generator.offsets(content, generator.motion_codes(latents),
                                latents["motion_noise"]).numpy()
    steps = np.diff(offsets[:, :2], axis=1)[:, 0]  # before any wall: 2 frames at most 4 px
    np.testing.assert_allclose(np.linalg.norm(steps, axis=-1), 2.0, rtol=1e-4)
    angles = np.arctan2(steps[:, 1], steps[:, 0])
    assert np.ptp(angles) > 1.0  # directions differ between videos
    with pytest.raises(ValueError, match="velocity_form='polar'"):
        dataclasses.replace(config, motion_path="free")
    with pytest.raises(ValueError, match="velocity_form"):
        dataclasses.replace(config, velocity_form="spherical")


def test_quadrant_signs_are_the_signs_of_the_first_frame_first_two_noise_numbers():
    noise = tf.constant([[[0.3, -2.0, -5.0], [-1.0, -1.0, -1.0]],
                         [[-0.1, 0.0, 7.0], [1.0, 1.0, 1.0]]])
    np.testing.assert_array_equal(models.quadrant_signs(noise).numpy(),
                                  [[[1.0, -1.0]], [[-1.0, 1.0]]])


def test_a_quadrant_velocity_has_random_signs_and_learnt_sizes():
    frames = 4
    config, generator = straight_sprite_generator(frames, "quadrant")
    generator.velocity.kernel.assign(tf.zeros_like(generator.velocity.kernel))
    generator.velocity.bias.assign(tf.constant([0.0, np.log(3.0)]))  # sigmoids 1/2 and 3/4
    latents = generator.sample_latents(64, seed=3, num_frames=frames)
    content = tf.cast(latents["content"], tf.float32)
    motion = generator.motion_codes(latents)
    velocity = generator.velocities(motion, latents["motion_noise"]).numpy()
    signs = np.where(latents["motion_noise"].numpy()[:, 0, :2] < 0, -1.0, 1.0)
    # Sizes from the sigmoids times 32 / 8 px, signs from the noise, the same in every frame.
    np.testing.assert_allclose(velocity, np.repeat(signs[:, None] * [2.0, 3.0], frames, axis=1),
                               rtol=1e-5)
    assert len({tuple(s) for s in signs}) == 4  # all four quadrants among 64 videos
    offsets = generator.offsets(content, motion, latents["motion_noise"]).numpy()
    limit = 16.0 - generator.sprite_extent(content).numpy()[:, None]
    np.testing.assert_allclose(offsets, models.bounce(offsets[:, 0], velocity, limit).numpy(),
                               atol=1e-4)  # the sprite moves at that velocity
    with pytest.raises(ValueError, match="motion_noise_dim is 1"):
        dataclasses.replace(config, motion_noise_dim=1)


def test_minibatch_std_is_the_spread_of_each_strided_group():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3, 3, 5)).astype(np.float32)
    out = layers.minibatch_std(tf.constant(x), 4).numpy()
    np.testing.assert_array_equal(out[..., :5], x)  # the features pass unchanged
    for b in range(2):  # groups are samples b, b+2, b+4, b+6
        expected = x[b::2].std(axis=0).mean()
        np.testing.assert_allclose(out[b::2, ..., 5], expected, rtol=1e-5)
    identical = layers.minibatch_std(tf.constant(np.repeat(x[:1], 8, axis=0)), 4).numpy()
    np.testing.assert_allclose(identical[..., 5], 0.0, atol=1e-3)
    assert layers.minibatch_std(tf.constant(x[:3]), 4).shape == (3, 3, 3, 6)  # groups of 1
    # In a step the batch size is known only when it runs.
    unknown_batch = tf.function(lambda v: layers.minibatch_std(v, 4),
                                input_signature=[tf.TensorSpec([None, 3, 3, 5])])
    np.testing.assert_allclose(unknown_batch(tf.constant(x)).numpy(), out, rtol=1e-6)
    np.testing.assert_allclose(unknown_batch(tf.constant(x[:6])).numpy()[0::2, ..., 5],
                               x[0:6:2].std(axis=0).mean(), rtol=1e-5)  # 6: 2 groups of 3


@pytest.mark.parametrize("disc", ["image", "video"])
def test_a_minibatch_std_discriminator_scores_a_sample_by_its_group(disc):
    """With the option, changing one sample changes the logits of its group and of no other
    sample; without it, of none but its own."""
    keras.utils.set_random_seed(0)  # the same weights whatever ran before in this process
    frames = 16 if disc == "video" else None
    shape = [8, 16, 64, 64, 3] if disc == "video" else [8, 64, 64, 3]
    inputs = tf.random.stateless_uniform(shape, [1, 2], -1.0, 1.0)
    changed = tf.tensor_scatter_nd_update(inputs, [[0]], -inputs[:1])
    for group in (0, 4):
        config = dataclasses.replace(models.PRESETS["small"], disc_minibatch_std=group,
                                     disc_batch_norm=False)
        if disc == "video":
            net = discriminators.VideoDiscriminator(config, frames, 64)
            logits = lambda v: net(v)[0]
        else:
            net = discriminators.ImageDiscriminator(config, 64)
            logits = net
        moved = np.abs(logits(changed) - logits(inputs)).reshape(8, -1).max(axis=1)
        assert moved[0] > 0
        group_mates = moved[[2, 4, 6]]  # strided groups: 0, 2, 4, 6 and 1, 3, 5, 7
        if group:
            assert group_mates.min() > 0
        else:
            assert group_mates.max() == 0
        assert moved[[1, 3, 5, 7]].max() == 0


def test_a_negative_minibatch_std_group_is_refused():
    with pytest.raises(ValueError, match="disc_minibatch_std"):
        dataclasses.replace(models.PRESETS["small"], disc_minibatch_std=-1)


def moving_squares(colours, start=(10, 20), velocity=(2, 1), frames=8, side=6):
    """[len(colours), frames, 64, 64, 3] clips in [-1, 1]: one square of each colour on black,
    its corner at `start` (x, y) moving `velocity` whole pixels a frame."""
    clips = -np.ones((len(colours), frames, 64, 64, 3), np.float32)
    for t in range(frames):
        x, y = start[0] + velocity[0] * t, start[1] + velocity[1] * t
        clips[:, t, y:y + side, x:x + side] = np.asarray(colours, np.float32)[:, None, None]
    return clips


def test_track_features_are_a_square_s_start_velocity_and_speed():
    clips = moving_squares([(1.0, 1.0, 1.0)])
    centroids = discriminators.foreground_centroids(clips).numpy()[0]
    np.testing.assert_allclose((centroids + 1) / 2 * 64 - 0.5, [[12.5 + 2 * t, 22.5 + t]
                                                                 for t in range(8)], atol=1e-4)
    start_x, start_y, vx, vy, speed = discriminators.track_features(clips).numpy()[0]
    np.testing.assert_allclose([start_x, start_y], [13 / 32 - 1, 23 / 32 - 1], atol=1e-5)
    scale = discriminators.TRACK_SPEED_SCALE
    np.testing.assert_allclose([vx, vy, speed], [2 / scale, 1 / scale, 5 ** 0.5 / scale], atol=1e-5)
    black = discriminators.track_features(-np.ones((1, 8, 64, 64, 3), np.float32)).numpy()
    np.testing.assert_allclose(black[0, :4], 0.0)  # no foreground: the centre, at rest


def test_look_features_are_a_square_s_colour_its_extremes_and_its_size():
    clips = moving_squares([(1.0, -0.5, -1.0)])  # (1, 0.25, 0) in 0-1, 6x6 pixels
    look = discriminators.look_features(clips).numpy()[0]
    np.testing.assert_allclose(look, [1.0, 0.25, 0.0, 1.0, 0.0, 6 / discriminators.AREA_SCALE],
                               atol=1e-4)


def test_a_track_head_that_reads_the_heading_adds_the_unit_velocity():
    config = dataclasses.replace(SMALL, track_head_units=16, track_head_reads="track_heading")
    head = discriminators.VideoDiscriminator(config, 16, 64).track_head
    features = head.features(tf.constant(moving_squares([(1.0, 1.0, 1.0)], velocity=(3, 4),
                                                        frames=16))).numpy()[0]
    np.testing.assert_allclose(features[:5], discriminators.track_features(
        moving_squares([(1.0, 1.0, 1.0)], velocity=(3, 4), frames=16)).numpy()[0], rtol=1e-6)
    np.testing.assert_allclose(features[5:], [0.6, 0.8], atol=1e-4)


def test_a_track_head_that_reads_colour_and_size_tells_two_colours_apart():
    keras.utils.set_random_seed(0)
    config = dataclasses.replace(SMALL, track_head_units=16, track_head_reads="track_colour_size")
    head = discriminators.VideoDiscriminator(config, 16, 64).track_head
    logits = head(tf.constant(moving_squares([(1.0, 1.0, 1.0), (1.0, -0.5, -1.0)], frames=16)))
    assert head.features(tf.zeros([1, 16, 64, 64, 3])).shape == [1, 11]
    assert abs(float(logits[0] - logits[1])) > 1e-4
    with pytest.raises(ValueError, match="track_head_units"):
        dataclasses.replace(SMALL, track_head_reads="track_colour_size")


def test_a_track_head_that_reads_the_colour_leaves_the_size_out():
    config = dataclasses.replace(SMALL, track_head_units=16, track_head_reads="track_colour")
    head = discriminators.VideoDiscriminator(config, 16, 64).track_head
    clips = tf.constant(moving_squares([(1.0, -0.5, -1.0)], frames=16))
    features = head.features(clips).numpy()[0]
    np.testing.assert_allclose(features, np.concatenate([
        discriminators.track_features(clips).numpy()[0],
        [1.0, 0.25, 0.0, 1.0, 0.0]]), atol=1e-4)  # the track, then colour, brightest, dimmest


def test_a_track_head_adds_a_logit_that_reads_the_track_not_the_colours():
    """D_V with a track head: its logits are the convolutions' and then the head's; the head's is the
    same for one track in two colours and changes with the velocity; its weights train with
    D_V's, and its gradient reaches the pixels."""
    keras.utils.set_random_seed(0)
    config = dataclasses.replace(SMALL, track_head_units=16, video_disc_pool=2)
    net = discriminators.VideoDiscriminator(config, 16, 64)
    clips = tf.constant(moving_squares([(1.0, 1.0, 1.0), (1.0, -0.5, -1.0)], frames=16))
    logits, _ = net(clips)
    pooled = tf.nn.avg_pool3d(clips, [1, 1, 2, 2, 1], [1, 1, 2, 2, 1], "VALID")
    convs = net.logits(net.features(pooled, False), False)
    track = net.track_head(clips).numpy()
    assert logits.shape == [2, 2]
    np.testing.assert_allclose(logits.numpy(), np.stack([convs.numpy().reshape(2), track], 1),
                               rtol=1e-5)
    np.testing.assert_allclose(track[0], track[1], rtol=1e-5)
    faster = net.track_head(tf.constant(moving_squares([(1.0, 1.0, 1.0)], velocity=(3, 1),
                                                       frames=16))).numpy()
    assert abs(faster[0] - track[0]) > 1e-4
    head = {id(v) for v in net.track_head.trainable_variables}
    assert len(head) == 6 and head <= {id(v) for v in net.trainable_variables}
    with tf.GradientTape() as tape:
        tape.watch(clips)
        total = tf.reduce_sum(net.track_head(clips))
    assert float(tf.reduce_max(tf.abs(tape.gradient(total, clips)))) > 0


def test_no_track_head_by_default_and_a_negative_width_is_refused():
    assert discriminators.VideoDiscriminator(SMALL, 16, 64).track_head is None
    with pytest.raises(ValueError, match="track_head_units"):
        dataclasses.replace(SMALL, track_head_units=-1)


def test_projection_discriminators_add_the_class_embedding_times_the_pooled_features():
    config = conditional(SMALL, 3, conditioning="projection")
    nets = models.build_models(config, FRAMES, 32)
    assert nets.video_discriminator.class_head is None  # no auxiliary classifier
    frames = tf.random.stateless_uniform([4, 32, 32, 3], [0, 1], -1.0, 1.0)
    clips = tf.random.stateless_uniform([4, FRAMES, 32, 32, 3], [0, 2], -1.0, 1.0)
    labels = tf.constant([0, 1, 2, -1])
    for disc, inputs in ((nets.image_discriminator, frames), (nets.video_discriminator, clips)):
        def logits(y):
            out = disc(inputs, labels=y)
            return (out[0] if isinstance(out, tuple) else out).numpy().reshape(4, -1)
        features = disc.features(inputs, training=False).numpy()
        pooled = features.reshape(4, -1, features.shape[-1]).mean(axis=1)
        embedding = disc.class_embedding.embeddings.numpy()
        expected = np.array([pooled[i] @ embedding[y] if y >= 0 else 0.0
                             for i, y in enumerate(labels.numpy())])
        moved = logits(labels) - logits(None)
        np.testing.assert_allclose(moved, np.repeat(expected[:, None], moved.shape[1], axis=1),
                                   atol=1e-5)
        assert np.abs(expected[:3]).min() > 0


def test_projection_conditioning_gives_the_frame_generator_the_class(monkeypatch):
    config = conditional(SMALL, 3, conditioning="projection", gen_norm="content")
    generator = models.build_models(config, FRAMES, 32).generator
    assert generator.frame_generator.content_dim == SMALL.content_dim + 3
    latents = generator.sample_latents(2, labels=[0, 0], seed=1)
    # With the motion codes held fixed, the class still changes the frames: through the content.
    motion = generator.motion_codes(latents)
    monkeypatch.setattr(generator, "motion_codes", lambda _: motion)
    videos = {label: generator(dict(latents, labels=tf.constant([label, label]))).numpy()
              for label in (0, 2)}
    assert np.abs(videos[0] - videos[2]).mean() > 1e-6
    with pytest.raises(ValueError, match="conditioning"):
        dataclasses.replace(SMALL, conditioning="film")
