"""MoCoGAN networks: shapes, ranges, sizes, latents, conditioning, spectral norm, precision."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from trainer import networks
from trainer.networks import discriminators, generator as generator_lib, layers

SMALL = networks.PRESETS["small"]
FRAMES = 4


def conditional(config, num_classes=3, **changes):
    return dataclasses.replace(config, num_classes=num_classes, **changes)


@pytest.fixture(scope="module")
def small():
    return networks.build_models(SMALL, FRAMES, 32)


@pytest.mark.parametrize("image_size,patch", [(32, 2), (64, 4)])
def test_small_preset_shapes_and_range(image_size, patch):
    nets = networks.build_models(SMALL, FRAMES, image_size)
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
    nets = networks.build_models(networks.PRESETS["mocogan"], 16, 64)
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
    nets = networks.build_models(SMALL, 6, 64)
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
    nets = networks.build_models(conditional(SMALL, 3), FRAMES, 32)
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
    nets = networks.build_models(config, FRAMES, 32)
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
        nets = networks.build_models(conditional(SMALL, 2), FRAMES, 32)
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
    fresh = networks.build_models(SMALL, FRAMES, 32)
    assert not np.allclose(fresh.generator(latents).numpy(), expected)
    tf.train.Checkpoint(generator=fresh.generator).restore(prefix).expect_partial()
    np.testing.assert_allclose(fresh.generator(latents).numpy(), expected, atol=1e-6)


def test_config_round_trips_and_bad_sizes_are_refused():
    values = SMALL.to_dict()
    values["gen_channels"] = list(values["gen_channels"])  # as read back from JSON
    assert networks.ModelConfig.from_dict(values) == SMALL
    with pytest.raises(ValueError, match="colour"):
        networks.ModelConfig.from_dict({**values, "colour": 1})
    with pytest.raises(ValueError, match="image_size=48"):
        networks.Generator(SMALL, FRAMES, 48)
    with pytest.raises(ValueError, match="image_size=128"):
        networks.Generator(SMALL, FRAMES, 128)


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
    norm = generator_lib.ContentNorm(2)
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
    generator = networks.build_generator(config, FRAMES, 32)
    frames = generator.frame_generator
    norms = [frames.bn0] + [getattr(frames, f"bn{i}") for i in range(1, frames.num_upconvs)]
    assert all(isinstance(n, generator_lib.ContentNorm) for n in norms)
    latents = generator.sample_latents(2, seed=4)
    other = dict(latents, content=generator.sample_latents(2, seed=5)["content"])
    before = generator(latents).numpy()
    frames.bn1.gain.kernel.assign(tf.fill(frames.bn1.gain.kernel.shape, 0.05))
    assert not np.allclose(generator(latents).numpy(), before)
    assert not np.allclose(generator(latents).numpy(), generator(other).numpy())


def test_a_batch_norm_generator_keeps_its_checkpoint_paths(small, tmp_path):
    # FrameBatchNorm subclasses BatchNormalization: the paper's generator reads as it always did.
    assert all(type(getattr(small.generator.frame_generator, f"bn{i}")) is generator_lib.FrameBatchNorm
               for i in range(3))
    path = tf.train.Checkpoint(generator=small.generator).write(str(tmp_path / "ckpt"))
    names = {name for name, _ in tf.train.list_variables(path)}
    assert "generator/frame_generator/bn1/gamma/.ATTRIBUTES/VARIABLE_VALUE" in names


def test_an_unknown_gen_norm_is_refused():
    with pytest.raises(ValueError, match="gen_norm='layer'"):
        dataclasses.replace(SMALL, gen_norm="layer")


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
        config = dataclasses.replace(networks.PRESETS["small"], disc_minibatch_std=group,
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
        dataclasses.replace(networks.PRESETS["small"], disc_minibatch_std=-1)


def test_projection_discriminators_add_the_class_embedding_times_the_pooled_features():
    config = conditional(SMALL, 3, conditioning="projection")
    nets = networks.build_models(config, FRAMES, 32)
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
    generator = networks.build_models(config, FRAMES, 32).generator
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
