"""One MoCoGAN training iteration: a D_I step, a D_V step and a G step, run per replica.

`GanStep.train_step(batch, step)` is the whole update under `strategy.run`; it returns measurements
and touches nothing but the networks' and optimisers' variables (no I/O, no logging). Losses are
per-example (trainer.losses) averaged over the GLOBAL batch, so gradients summed across replicas
by the optimiser equal the single-device gradient.

Randomness is a pure function of (seed, step): every replica draws the latents of the whole global
batch and keeps its own slice, so 1 device and N replicas see the same noise, and a resumed run
draws what the uninterrupted one would have.

Phases a step may leave out, chosen per step by the loop (each combination is its own graph):
- `apply_r1`: lazy R1 (StyleGAN2). With --r1_every=k the penalty runs on steps divisible by k,
  weighted by k, so its average pull is the same at a k-th of its cost (a double backward).
- `warmup`: the first --image_warmup_steps train the frame generator against D_I alone (no D_V
  step, no D_V term in G's loss): a good image generator first, as MoCoGAN-HD argues.
Augmentation (--augment, trainer.augment) and instance noise (--instance_noise, annealed to 0
over --instance_noise_steps) touch every discriminator input, real and fake, inside the step only;
sampling and evaluation never see them.

With `reuse_fakes` the fakes are generated once per iteration under the generator's tape: the D
steps train on them (the generator does not change during those steps), then the G step scores
the same fakes with the updated discriminators and takes its gradient through that one forward
pass, as the DCGAN reference loop does. Without it the G step draws and renders new latents.
"""

import keras
import tensorflow as tf

from trainer import augment as augment_lib
from trainer import data
from trainer import losses
from trainer.networks import generator as generator_lib

# Offsets that keep the per-step random streams apart (at most 4: see _step_seed).
_FAKE_STREAM, _G_STREAM, _FRAME_STREAM, _NOISE_STREAM = 0, 1, 2, 3
# The second half of the instance-noise seed: one draw per discriminator input; then the
# gradient penalty's mixing weights, one draw per discriminator.
_REAL_FRAMES, _FAKE_FRAMES, _REAL_VIDEOS, _FAKE_VIDEOS = 0, 1, 2, 3
_GP_IMAGE, _GP_VIDEO = 4, 5


def _replica_slice(tensor, per_replica: int):
    replica = tf.distribute.get_replica_context()
    start = replica.replica_id_in_sync_group * per_replica
    return tensor[start:start + per_replica]


def _step_seed(seed: int, step, stream: int):
    """An int64 seed for sample_latents and stateless ops, distinct per (seed, step, stream)."""
    return (tf.cast(seed, tf.int64) * 1_000_003 + tf.cast(step, tf.int64)) * 4 + stream


def frame_picks(times, batch: int):
    """[I, 2] (clip, time) indices of an image batch of I = len(times) frames from `batch` clips:
    image j from clip j * batch // I (clips evenly) at times[j]: D_I's frames."""
    image_batch = times.shape[0]
    clips = tf.range(image_batch) * batch // image_batch
    return tf.stack([clips, times], axis=1)


def frame_labels(labels, picks):
    """The labels [I] of the frames `picks` chose from clips labelled `labels` [B] (None: None)."""
    return None if labels is None else tf.gather(labels, picks[:, 0])


def global_norm(grads) -> tf.Tensor:
    return tf.linalg.global_norm([tf.cast(g, tf.float32) for g in grads if g is not None])


class GanStep:
    """The per-replica update of the three networks (the 'task' in orbit's terms)."""

    def __init__(self, config, models, optimizers: dict, num_replicas: int):
        self.config = config
        self.generator = models.generator
        self.image_discriminator = models.image_discriminator
        self.video_discriminator = models.video_discriminator
        self.optimizers = optimizers  # "g", "di", "dv"
        if config.batch_size % num_replicas or config.image_batch_size % num_replicas:
            raise ValueError(
                f"--batch_size={config.batch_size} and --image_batch_size="
                f"{config.image_batch_size} must be multiples of the {num_replicas} replicas")
        self._num_replicas = num_replicas
        self.batch = config.batch_size // num_replicas
        self.image_batch = config.image_batch_size // num_replicas
        self.augment_policy = augment_lib.parse_policy(config.augment)
        self.projection = config.model.projection  # the discriminators take the labels

    # -- pieces ------------------------------------------------------------------------------------

    def _latents(self, step, stream):
        latents = self.generator.sample_latents(
            self.config.batch_size, seed=_step_seed(self.config.seed, step, stream))
        return {k: _replica_slice(v, self.batch) for k, v in latents.items()}

    def _frame_picker(self, step):
        """This replica's D_I frames (frame_picks): times drawn for the global image batch.

        Image j of the global batch comes from clip j*B//I of the global batch, which always lies
        on the replica that owns image j, so the choice does not depend on the replica count.
        """
        times = tf.random.stateless_uniform(
            [self.config.image_batch_size], tf.stack([_step_seed(self.config.seed, step, _FRAME_STREAM),
                                                      tf.constant(0, tf.int64)]),
            minval=0, maxval=self.config.clip_shape[0], dtype=tf.int32)
        return frame_picks(_replica_slice(times, self.image_batch), self.batch)

    def noise_sigma(self, step):
        """The instance-noise sigma at `step`: linear from --instance_noise to 0, or constant."""
        cfg = self.config
        sigma = tf.constant(cfg.instance_noise, tf.float32)
        if cfg.instance_noise_steps > 0:
            left = 1.0 - tf.cast(step, tf.float32) / float(cfg.instance_noise_steps)
            sigma = sigma * tf.maximum(left, 0.0)
        return sigma

    def _disc_input(self, inputs, step, which, global_size, per_replica):
        """What a discriminator sees of `inputs` in training: augmented (--augment, the same for
        every frame of a clip), plus N(0, sigma^2) instance noise. Both are drawn for the global
        batch and sliced, so they do not depend on the replica count; the identity when both
        are off."""
        stream = _step_seed(self.config.seed, step, _NOISE_STREAM)
        if self.augment_policy:
            draws = augment_lib.Draws(stream * 8 + which, global_size,
                                      lambda values: _replica_slice(values, per_replica))
            inputs = augment_lib.augment(inputs, self.augment_policy, draws)
        if self.config.instance_noise <= 0:
            return inputs
        seed = tf.stack([stream, tf.constant(which, tf.int64)])
        sigma = self.noise_sigma(step)

        def noised():
            noise = tf.random.stateless_normal([global_size] + inputs.shape[1:].as_list(), seed)
            return inputs + sigma * _replica_slice(noise, per_replica)

        # Drawing millions of normals makes a demo step 1.25x as long on a CPU: once the noise has
        # annealed to 0, the draw is skipped (a graph cond runs only the branch it takes).
        return tf.cond(sigma > 0, noised, lambda: tf.identity(inputs))

    def _gradient_penalty(self, disc, real_inputs, fake_inputs, step, which, global_size,
                          per_replica, labels=None):
        """[b] WGAN-GP penalty of this replica's examples (zeros when --gp_weight is 0); the
        mixing weights are drawn for the global batch and sliced, as the other draws are."""
        if self.config.gp_weight <= 0:
            return tf.zeros([tf.shape(real_inputs)[0]])
        seed = tf.stack([_step_seed(self.config.seed, step, _NOISE_STREAM),
                         tf.constant(which, tf.int64)])
        mix = _replica_slice(tf.random.stateless_uniform([global_size], seed), per_replica)
        return losses.gradient_penalty(disc, real_inputs, fake_inputs, self.config.gp_weight, mix,
                                       labels=labels)

    def _temporal_gap(self, fake_videos, real_videos):
        """Mean frame-to-frame change of this replica's generated clips less that of its real
        ones; a constant for the generator, so its gradient pulls the fakes' change towards
        the data's (more motion or less flicker, whichever way the gap points)."""
        real = tf.stop_gradient(tf.reduce_mean(losses.temporal_change(real_videos)))
        return tf.reduce_mean(losses.temporal_change(fake_videos)) - real

    def _average(self, per_example, global_size):
        return tf.nn.compute_average_loss(per_example, global_batch_size=global_size)

    def _scaled(self, name, loss):
        """The loss to differentiate (call inside the tape): scaled up when fp16 needs it."""
        optimizer = self.optimizers[name]
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return optimizer.scale_loss(loss)
        return loss

    def _apply(self, name, tape, scaled_loss, variables):
        optimizer = self.optimizers[name]
        grads = tape.gradient(scaled_loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        # The norm of this replica's share (the full gradient's norm on one device), unscaled.
        norm = global_norm(grads)
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            norm = norm / tf.cast(optimizer.scale_loss(1.0), tf.float32)
        return norm

    # -- the three phases --------------------------------------------------------------------------

    def r1_weight(self, apply_r1: bool, gamma: float) -> float:
        """R1's gamma on a step that applies it (times k when lazy), 0 on the others."""
        return gamma * self.config.r1_every if apply_r1 else 0.0

    def _labels(self, labels):
        """What a projection discriminator is given: `labels` (of clips or of frames), or None
        when the discriminators take no labels."""
        return labels if self.projection else None

    def _real_logits_and_r1(self, disc, real_inputs, apply_r1, gamma, labels=None):
        gamma = self.r1_weight(apply_r1, gamma)
        if gamma > 0:
            return losses.logits_and_r1(disc, real_inputs, gamma, labels=labels)
        return disc(real_inputs, training=True, labels=labels), tf.zeros([tf.shape(real_inputs)[0]])

    def _image_d_step(self, real_frames, fake_frames, step, apply_r1, real_labels=None,
                      fake_labels=None, real_classes=None, fake_classes=None):
        """real_classes, fake_classes: the class of each frame, for D_I's class head (None: no
        head)."""
        cfg, disc = self.config, self.image_discriminator
        with tf.GradientTape() as tape:
            real_logits, r1 = self._real_logits_and_r1(
                disc if real_classes is None else disc.with_classes, real_frames, apply_r1,
                cfg.image_r1_gamma, real_labels)
            if real_classes is not None:
                real_logits, class_logits = real_logits
            if disc.classifies_fakes:
                fake_logits, fake_class_logits = disc.with_classes(fake_frames, training=True,
                                                                   labels=fake_labels)
            else:
                fake_logits = disc(fake_frames, training=True, labels=fake_labels)
            gp = self._gradient_penalty(disc, real_frames, fake_frames, step, _GP_IMAGE,
                                        cfg.image_batch_size, self.image_batch, real_labels)
            per_example = losses.discriminator_loss(real_logits, fake_logits, cfg.loss) + r1 + gp
            if real_classes is not None:  # AC-GAN: D_I learns the class of real frames
                per_example += cfg.image_class_weight * losses.category_loss(class_logits, real_classes)
            if disc.classifies_fakes:  # ADC-GAN: and generated class k as class K + k
                offset = tf.cast(cfg.model.num_classes, tf.int32)
                per_example += cfg.image_class_weight * losses.category_loss(
                    fake_class_logits, tf.cast(fake_classes, tf.int32) + offset)
            loss = self._average(per_example, cfg.image_batch_size)
            scaled = self._scaled("di", loss)
        norm = self._apply("di", tape, scaled, disc.trainable_variables)
        metrics = {"loss/d_image": loss, "grad_norm/d_image": norm,
                   "r1/d_image": self._average(r1, cfg.image_batch_size),
                   "d_image/real_logit": tf.reduce_mean(real_logits),
                   "d_image/fake_logit": tf.reduce_mean(fake_logits)}
        if real_classes is not None:  # how well the class head reads real frames
            metrics["d_image/class_accuracy"] = losses.class_accuracy(class_logits, real_classes)
        return metrics

    def _video_d_step(self, real_videos, labels, fake_videos, step, apply_r1, fake_labels=None):
        cfg, disc = self.config, self.video_discriminator
        with tf.GradientTape() as tape:
            (real_logits, real_classes), r1 = self._real_logits_and_r1(
                disc, real_videos, apply_r1, cfg.r1_gamma, self._labels(labels))
            fake_logits, _ = disc(fake_videos, training=True, labels=self._labels(fake_labels))
            gp = self._gradient_penalty(disc, real_videos, fake_videos, step, _GP_VIDEO,
                                        cfg.batch_size, self.batch, self._labels(labels))
            per_example = losses.discriminator_loss(real_logits, fake_logits, cfg.loss) + r1 + gp
            if real_classes is not None:  # the paper's class head
                per_example += losses.category_loss(real_classes, labels)
            loss = self._average(per_example, cfg.batch_size)
            scaled = self._scaled("dv", loss)
        norm = self._apply("dv", tape, scaled, disc.trainable_variables)
        return {"loss/d_video": loss, "grad_norm/d_video": norm,
                "r1/d_video": self._average(r1, cfg.batch_size),
                "d_video/real_logit": tf.reduce_mean(real_logits),
                "d_video/fake_logit": tf.reduce_mean(fake_logits)}

    def _generator_loss(self, fake_videos, fake_labels, picks, step, warmup):
        cfg = self.config
        fake_frames = self._disc_input(tf.gather_nd(fake_videos, picks), step, _FAKE_FRAMES,
                                  cfg.image_batch_size, self.image_batch)
        disc, classes_of_frames = self.image_discriminator, frame_labels(fake_labels, picks)
        projected = self._labels(classes_of_frames)
        if not disc.has_class_head:
            per_frame = losses.generator_loss(disc(fake_frames, training=True, labels=projected),
                                              cfg.loss)
        else:  # and the cross-entropy of D_I's class head against each frame's own class
            image_logits, classes = disc.with_classes(fake_frames, training=True, labels=projected)
            per_frame = (losses.generator_loss(image_logits, cfg.loss) + cfg.image_class_weight
                         * losses.category_loss(classes, classes_of_frames))
        loss = self._average(per_frame, cfg.image_batch_size)
        if warmup:
            return loss
        fake_videos = self._disc_input(fake_videos, step, _FAKE_VIDEOS, cfg.batch_size, self.batch)
        video_logits, classes = self.video_discriminator(fake_videos, training=True,
                                                         labels=self._labels(fake_labels))
        per_video = losses.generator_loss(video_logits, cfg.loss)
        if classes is not None:  # the paper's class head
            per_video += losses.category_loss(classes, fake_labels)
        return loss + self._average(per_video, cfg.batch_size)

    # -- the iteration -----------------------------------------------------------------------------

    def train_step(self, batch, step, apply_r1: bool = True, warmup: bool = False):
        """Per replica: batch {"video": [b,T,H,W,C], "label": [b]} -> measurements.

        The video is uint8 as trainer.data gives it (mapped to [-1, 1] here, on the device) or
        floats already in [-1, 1]. `apply_r1` and `warmup` are Python bools (see the module
        docstring): the loop decides them from the step number.
        """
        cfg = self.config
        real_videos, labels = batch["video"], batch["label"]
        if real_videos.dtype == tf.uint8:
            real_videos = data.to_model_range(real_videos)
        if cfg.model.progressive:  # the real clips at the resolution the generator renders
            real_videos = generator_lib.at_resolution(real_videos, self.generator.frame_generator.blend)
        picks = self._frame_picker(step)
        real_frames = self._disc_input(tf.gather_nd(real_videos, picks), step, _REAL_FRAMES,
                                  cfg.image_batch_size, self.image_batch)
        latents = self._latents(step, _FAKE_STREAM)
        g_vars = self.generator.trainable_variables
        with tf.GradientTape() as g_tape:
            fakes = self.generator(latents, training=True)
            with g_tape.stop_recording():
                detached = tf.stop_gradient(fakes)
                fake_frames = self._disc_input(tf.gather_nd(detached, picks), step, _FAKE_FRAMES,
                                          cfg.image_batch_size, self.image_batch)
                fake_labels = latents.get("labels")
                real_classes = frame_labels(labels, picks)
                fake_classes = frame_labels(fake_labels, picks)
                heads = self.image_discriminator.has_class_head
                metrics = self._image_d_step(
                    real_frames, fake_frames, step, apply_r1, self._labels(real_classes),
                    self._labels(fake_classes),
                    real_classes if heads else None, fake_classes if heads else None)
                if not warmup:
                    metrics.update(self._video_d_step(
                        self._disc_input(real_videos, step, _REAL_VIDEOS, cfg.batch_size, self.batch),
                        labels,
                        self._disc_input(detached, step, _FAKE_VIDEOS, cfg.batch_size, self.batch),
                        step, apply_r1, fake_labels))
                if not cfg.reuse_fakes:
                    latents = self._latents(step, _G_STREAM)
            if not cfg.reuse_fakes:
                fakes = self.generator(latents, training=True)
            g_loss = self._generator_loss(fakes, latents.get("labels"), picks, step, warmup)
            if cfg.temporal_weight > 0:
                gap = self._temporal_gap(fakes, real_videos)
                metrics["temporal/gap"] = gap
                g_loss += cfg.temporal_weight * tf.abs(gap) / self._num_replicas
            scaled = self._scaled("g", g_loss)
        metrics["grad_norm/generator"] = self._apply("g", g_tape, scaled, g_vars)
        metrics["loss/generator"] = g_loss
        if cfg.instance_noise > 0:
            metrics["instance_noise/sigma"] = self.noise_sigma(step)
        return metrics


# Losses are already divided by the global batch: replicas' shares add up. The rest are means.
def reduce_metrics(strategy, per_replica: dict) -> dict:
    return {k: strategy.reduce(tf.distribute.ReduceOp.SUM if k.startswith("loss/")
                               else tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in per_replica.items()}


def resolution_blend(config, step) -> tf.Tensor:
    """Progressive growing's blend at `step`: 0 (half-size frames) for --grow_steps, then a
    linear fade to 1 (full size) over --grow_fade_steps."""
    done = tf.cast(step, tf.float32) - float(config.grow_steps)
    return tf.clip_by_value(done / float(max(config.grow_fade_steps, 1)), 0.0, 1.0)


def ema_decay(config, step) -> tf.Tensor:
    """This step's EMA decay: --ema_decay, or StyleGAN2-ADA's from a half-life in videos.

    With a half-life of H videos the average forgets half of itself every H videos seen;
    --ema_rampup r caps H at r times the videos seen so far, so early weights fade fast.
    """
    if not config.ema_half_life_videos:
        return tf.constant(config.ema_decay, tf.float32)
    half_life = tf.constant(config.ema_half_life_videos, tf.float32)
    if config.ema_rampup:
        seen = tf.cast(step, tf.float32) * config.batch_size
        half_life = tf.minimum(half_life, seen * config.ema_rampup)
    return tf.pow(0.5, config.batch_size / tf.maximum(half_life, 1e-8))


def update_ema(ema_generator, generator, decay) -> None:
    """ema <- decay * ema + (1 - decay) * weights; batch-norm statistics are copied as they are."""
    for ema, new in zip(ema_generator.trainable_variables, generator.trainable_variables):
        ema.assign(decay * ema + (1.0 - decay) * new)
    for ema, new in zip(ema_generator.non_trainable_variables, generator.non_trainable_variables):
        ema.assign(new)
