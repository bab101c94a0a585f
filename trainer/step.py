"""One MoCoGAN training iteration: a D_I step, a D_V step and a G step, run per replica.

`GanStep.train_step(batch, step)` is the whole update under `strategy.run`; it returns measurements
and touches nothing but the networks' and optimisers' variables (no I/O, no logging). Losses are
per-example (trainer.losses) averaged over the GLOBAL batch, so gradients summed across replicas
by the optimiser equal the single-device gradient.

Randomness is a pure function of (seed, step): every replica draws the latents of the whole global
batch and keeps its own slice, so 1 device and N replicas see the same noise, and a resumed run
draws what the uninterrupted one would have.

With `reuse_fakes` the fakes are generated once per iteration under the generator's tape: the D
steps train on them (the generator does not change during those steps), then the G step scores
the same fakes with the updated discriminators and takes its gradient through that one forward
pass, as the DCGAN reference loop does. Without it the G step draws and renders new latents.
"""

import keras
import tensorflow as tf

from trainer import data
from trainer import losses

# Offsets that keep the per-step random streams apart.
_FAKE_STREAM, _G_STREAM, _FRAME_STREAM = 0, 1, 2


def _replica_slice(tensor, per_replica: int):
    replica = tf.distribute.get_replica_context()
    start = replica.replica_id_in_sync_group * per_replica
    return tensor[start:start + per_replica]


def _step_seed(seed: int, step, stream: int):
    """An int64 seed for sample_latents and stateless ops, distinct per (seed, step, stream)."""
    return (tf.cast(seed, tf.int64) * 1_000_003 + tf.cast(step, tf.int64)) * 4 + stream


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
        self.batch = config.batch_size // num_replicas
        self.image_batch = config.image_batch_size // num_replicas

    # -- pieces ------------------------------------------------------------------------------------

    def _latents(self, step, stream):
        latents = self.generator.sample_latents(
            self.config.batch_size, seed=_step_seed(self.config.seed, step, stream))
        return {k: _replica_slice(v, self.batch) for k, v in latents.items()}

    def _frame_picker(self, step):
        """(clip, time) indices of this replica's image batch: clips evenly, times at random.

        Image j of the global batch comes from clip j*B//I of the global batch, which always lies
        on the replica that owns image j, so the choice does not depend on the replica count.
        """
        times = tf.random.stateless_uniform(
            [self.config.image_batch_size], tf.stack([_step_seed(self.config.seed, step, _FRAME_STREAM),
                                                      tf.constant(0, tf.int64)]),
            minval=0, maxval=self.config.clip_shape[0], dtype=tf.int32)
        clips = tf.range(self.image_batch) * self.batch // self.image_batch
        return tf.stack([clips, _replica_slice(times, self.image_batch)], axis=1)

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

    def _image_d_step(self, real_frames, fake_frames):
        cfg, disc = self.config, self.image_discriminator
        with tf.GradientTape() as tape:
            if cfg.r1_gamma > 0:
                real_logits, r1 = losses.logits_and_r1(disc, real_frames, cfg.r1_gamma)
            else:
                real_logits, r1 = disc(real_frames, training=True), 0.0
            fake_logits = disc(fake_frames, training=True)
            per_example = losses.discriminator_loss(real_logits, fake_logits, cfg.loss) + r1
            loss = self._average(per_example, cfg.image_batch_size)
            scaled = self._scaled("di", loss)
        norm = self._apply("di", tape, scaled, disc.trainable_variables)
        return {"loss/d_image": loss, "grad_norm/d_image": norm,
                "d_image/real_logit": tf.reduce_mean(real_logits),
                "d_image/fake_logit": tf.reduce_mean(fake_logits)}

    def _video_d_step(self, real_videos, labels, fake_videos):
        cfg, disc = self.config, self.video_discriminator
        with tf.GradientTape() as tape:
            if cfg.r1_gamma > 0:
                (real_logits, real_classes), r1 = losses.logits_and_r1(disc, real_videos, cfg.r1_gamma)
            else:
                (real_logits, real_classes), r1 = disc(real_videos, training=True), 0.0
            fake_logits, _ = disc(fake_videos, training=True)
            per_example = losses.discriminator_loss(real_logits, fake_logits, cfg.loss) + r1
            if cfg.conditional:
                per_example += losses.category_loss(real_classes, labels)
            loss = self._average(per_example, cfg.batch_size)
            scaled = self._scaled("dv", loss)
        norm = self._apply("dv", tape, scaled, disc.trainable_variables)
        return {"loss/d_video": loss, "grad_norm/d_video": norm,
                "d_video/real_logit": tf.reduce_mean(real_logits),
                "d_video/fake_logit": tf.reduce_mean(fake_logits)}

    def _generator_loss(self, fake_videos, fake_labels, picks):
        cfg = self.config
        image_logits = self.image_discriminator(tf.gather_nd(fake_videos, picks), training=True)
        video_logits, classes = self.video_discriminator(fake_videos, training=True)
        per_video = losses.generator_loss(video_logits, cfg.loss)
        if cfg.conditional:
            per_video += losses.category_loss(classes, fake_labels)
        return (self._average(losses.generator_loss(image_logits, cfg.loss), cfg.image_batch_size)
                + self._average(per_video, cfg.batch_size))

    # -- the iteration -----------------------------------------------------------------------------

    def train_step(self, batch, step):
        """Per replica: batch {"video": [b,T,H,W,C], "label": [b]} -> measurements.

        The video is uint8 as trainer.data gives it (mapped to [-1, 1] here, on the device) or
        floats already in [-1, 1].
        """
        real_videos, labels = batch["video"], batch["label"]
        if real_videos.dtype == tf.uint8:
            real_videos = data.to_model_range(real_videos)
        picks = self._frame_picker(step)
        real_frames = tf.gather_nd(real_videos, picks)
        latents = self._latents(step, _FAKE_STREAM)
        g_vars = self.generator.trainable_variables
        with tf.GradientTape() as g_tape:
            fakes = self.generator(latents, training=True)
            with g_tape.stop_recording():
                detached = tf.stop_gradient(fakes)
                metrics = self._image_d_step(real_frames, tf.gather_nd(detached, picks))
                metrics.update(self._video_d_step(real_videos, labels, detached))
                if not self.config.reuse_fakes:
                    latents = self._latents(step, _G_STREAM)
            if not self.config.reuse_fakes:
                fakes = self.generator(latents, training=True)
            g_loss = self._generator_loss(fakes, latents.get("labels"), picks)
            scaled = self._scaled("g", g_loss)
        metrics["grad_norm/generator"] = self._apply("g", g_tape, scaled, g_vars)
        metrics["loss/generator"] = g_loss
        return metrics


# Losses are already divided by the global batch: replicas' shares add up. The rest are means.
def reduce_metrics(strategy, per_replica: dict) -> dict:
    return {k: strategy.reduce(tf.distribute.ReduceOp.SUM if k.startswith("loss/")
                               else tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in per_replica.items()}


def update_ema(ema_generator, generator, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * weights; batch-norm statistics are copied as they are."""
    for ema, new in zip(ema_generator.trainable_variables, generator.trainable_variables):
        ema.assign(decay * ema + (1.0 - decay) * new)
    for ema, new in zip(ema_generator.non_trainable_variables, generator.non_trainable_variables):
        ema.assign(new)
