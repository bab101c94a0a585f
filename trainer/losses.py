"""GAN losses for MoCoGAN as pure functions of logits.

Every function returns a PER-EXAMPLE loss of shape [B] (patch logits are averaged within each
example), so the training loop decides the reduction: under tf.distribute it divides the sum by
the GLOBAL batch size, e.g. `tf.nn.compute_average_loss(per_example, global_batch_size=...)`.

- `discriminator_loss(real_logits, fake_logits, kind)` and `generator_loss(fake_logits, kind)`
  with kind "bce" (the paper's non-saturating loss, written with softplus so large logits do not
  overflow) or "hinge".
- `category_loss(class_logits, labels)`: softmax cross-entropy; labels < 0 (unlabelled) cost 0.
- `gradient_penalty(discriminator, real, fake, weight, mix)`: WGAN-GP's penalty on interpolates.
- `temporal_change(videos)`: each clip's mean absolute frame-to-frame change, for the temporal term.
- `r1_penalty(gradients, gamma)`: gamma/2 * ||d D(x) / d x||^2 per example, from gradients the
  caller took; `logits_and_r1(discriminator, real_inputs, gamma)` takes them with its own tape.
"""

import tensorflow as tf

LOSS_KINDS = ("bce", "hinge", "wgan")


def _check_kind(kind):
    if kind not in LOSS_KINDS:
        raise ValueError(f"unknown loss kind {kind!r}; choose one of {LOSS_KINDS}")


def _per_example_mean(values):
    """[B, ...] -> [B], the mean over every axis but the batch."""
    values = tf.cast(values, tf.float32)
    if values.shape.rank == 1:
        return values
    return tf.reduce_mean(tf.reshape(values, [tf.shape(values)[0], -1]), axis=1)


def discriminator_loss(real_logits, fake_logits, kind="bce"):
    """[B] loss for D: real and fake batches must have the same size (one term each per row).

    bce: softplus(-real) + softplus(fake) = -log sigmoid(real) - log(1 - sigmoid(fake)).
    hinge: relu(1 - real) + relu(1 + fake).
    wgan: fake - real (the critic's; it needs a gradient penalty).
    """
    _check_kind(kind)
    real_logits = tf.cast(real_logits, tf.float32)
    fake_logits = tf.cast(fake_logits, tf.float32)
    if real_logits.shape[0] is not None and fake_logits.shape[0] is not None:
        if real_logits.shape[0] != fake_logits.shape[0]:
            raise ValueError(
                f"real and fake logits need the same batch size, got {real_logits.shape[0]} and "
                f"{fake_logits.shape[0]}"
            )
    if kind == "bce":
        real_term, fake_term = tf.nn.softplus(-real_logits), tf.nn.softplus(fake_logits)
    elif kind == "wgan":
        real_term, fake_term = -real_logits, fake_logits
    else:
        real_term, fake_term = tf.nn.relu(1.0 - real_logits), tf.nn.relu(1.0 + fake_logits)
    return _per_example_mean(real_term) + _per_example_mean(fake_term)


def generator_loss(fake_logits, kind="bce"):
    """[B] loss for G. bce: non-saturating softplus(-fake) = -log sigmoid(fake); hinge and
    wgan: -fake."""
    _check_kind(kind)
    fake_logits = tf.cast(fake_logits, tf.float32)
    if kind == "bce":
        return _per_example_mean(tf.nn.softplus(-fake_logits))
    return _per_example_mean(-fake_logits)


def category_loss(class_logits, labels):
    """[B] softmax cross-entropy of class logits [B, K] against int labels [B]; label -1 costs 0."""
    labels = tf.cast(labels, tf.int32)
    known = labels >= 0
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.where(known, labels, 0), logits=tf.cast(class_logits, tf.float32)
    )
    return tf.where(known, loss, 0.0)


def class_accuracy(class_logits, labels):
    """The fraction of examples whose top class logit [B, K] is their label [B] (-1 counts as a
    miss)."""
    hits = tf.argmax(class_logits, axis=-1, output_type=tf.int32) == tf.cast(labels, tf.int32)
    return tf.reduce_mean(tf.cast(hits, tf.float32))


def r1_penalty(gradients, gamma):
    """[B]: gamma / 2 * squared norm of each example's gradient of D's logits wrt its input."""
    gradients = tf.cast(gradients, tf.float32)
    squared = tf.reduce_sum(tf.reshape(tf.square(gradients), [tf.shape(gradients)[0], -1]), axis=1)
    return 0.5 * gamma * squared


def logits_and_r1(discriminator, real_inputs, gamma, training=True, labels=None):
    """Runs `discriminator` on real inputs and returns (its output, R1 penalty [B]).

    The gradient is of each example's MEAN realness logit, the same reduction the losses apply
    to patch logits, so gamma means the same for a PatchGAN as for a one-logit discriminator.
    (The gradient of the sum of a 4x4 patch map is 16 times as large, and its penalty 256 times:
    at gamma 10 that flattened the image discriminator to logits of about 0 within 1,000
    steps.) With training-mode batch norm the penalty also sees the batch statistics, as is
    usual. Video discriminators return (logits, class_logits); the first element is used. Call
    it inside the D step's own tape so the penalty's gradient reaches D's weights. `labels` go
    to a projection discriminator.
    """
    real_inputs = tf.convert_to_tensor(real_inputs)
    with tf.GradientTape() as tape:
        tape.watch(real_inputs)
        kwargs = {} if labels is None else {"labels": labels}
        outputs = discriminator(real_inputs, training=training, **kwargs)
        logits = _realness(outputs)
        # Examples are independent (up to batch norm): the gradient of the sum over examples of
        # their means is each example's own gradient.
        total = tf.reduce_sum(_per_example_mean(logits))
    gradients = tape.gradient(total, real_inputs)
    return outputs, r1_penalty(gradients, gamma)


def _realness(outputs):
    """A discriminator's realness logits: video discriminators return (logits, class_logits)."""
    return outputs[0] if isinstance(outputs, (tuple, list)) else outputs


def gradient_penalty(discriminator, real_inputs, fake_inputs, weight, mix, labels=None):
    """[B]: weight * (||d D(x_hat) / d x_hat|| - 1)^2 with x_hat = e * real + (1 - e) * fake, e
    the [B] `mix` (WGAN-GP draws it from U(0, 1)). As for R1, the gradient is of each example's
    mean logit. Call it inside the D step's tape."""
    real_inputs = tf.convert_to_tensor(real_inputs)
    mix = tf.reshape(tf.cast(mix, real_inputs.dtype), [-1] + [1] * (real_inputs.shape.rank - 1))
    between = mix * real_inputs + (1.0 - mix) * tf.cast(fake_inputs, real_inputs.dtype)
    with tf.GradientTape() as tape:
        tape.watch(between)
        kwargs = {} if labels is None else {"labels": labels}
        logits = _realness(discriminator(between, training=True, **kwargs))
        total = tf.reduce_sum(_per_example_mean(logits))
    gradients = tf.cast(tape.gradient(total, between), tf.float32)
    norms = tf.sqrt(tf.reduce_sum(tf.reshape(tf.square(gradients), [tf.shape(gradients)[0], -1]),
                                  axis=1) + 1e-12)
    return weight * tf.square(norms - 1.0)


def temporal_change(videos):
    """[B]: each clip's mean absolute change between consecutive frames ([B, T, H, W, C])."""
    videos = tf.cast(videos, tf.float32)
    return _per_example_mean(tf.abs(videos[:, 1:] - videos[:, :-1]))
