"""Can the image discriminator tell the data's classes apart on its own, and how fast?

    python -m trainer.evaluation.class_probe --tfrecords=demo/shards --recipe=demo --steps=400

Trains a fresh image discriminator of the recipe's widths, with its class head
(`--image_class_head=shared`), as a plain classifier of real frames: fed as the GAN step feeds it
(`image_batch_size` frames from `batch_size` clips), with the recipe's Adam and learning rate,
and nothing else to learn. Every --every steps it prints its accuracy on frames of the shard
set's test split, with batch norm in training mode as in the GAN step. A run's TensorBoard
scalar `d_image/class_accuracy` is the same accuracy inside the GAN, on the training batch:
the gap between the two is what sharing the network with the realness task costs the head.
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags

from trainer import data
from trainer import discriminators
from trainer import losses
from trainer import step as step_lib
from trainer import train_lib
from trainer.configs import recipe_config


def picked_frames(videos, labels, image_batch: int, seed):
    """(frames [I, H, W, C], their labels [I]): I = image_batch frames at random times, picked
    from the clips as `trainer.step.GanStep` picks D_I's frames."""
    times = tf.random.stateless_uniform([image_batch], seed, 0, videos.shape[1], dtype=tf.int32)
    picks = step_lib.frame_picks(times, videos.shape[0])
    return tf.gather_nd(videos, picks), step_lib.frame_labels(labels, picks)


def train_classifier(tfrecords: str, recipe: str, steps: int, every: int, seed: int = 0,
                     test_batches: int = 4, **fields) -> list[tuple[int, float]]:
    """[(step, held-out accuracy)] of a D_I trained to classify real frames; `fields` override
    the recipe's flags."""
    train = data.resolve_shards(tfrecords)
    manifest = train.manifest
    if len(manifest.class_names) < 2:
        raise ValueError(f"{tfrecords} has no classes to tell apart (class names: "
                         f"{manifest.class_names}); make it from labelled folders")
    test = data.resolve_shards(tfrecords, split="test")
    config = recipe_config(recipe, manifest.clip_shape, manifest.class_names,
                           **{"conditional": True, "image_class_head": "shared", **fields})
    disc = discriminators.ImageDiscriminator(config.model, manifest.clip_shape[1])
    disc.with_classes(tf.zeros([1, *manifest.clip_shape[1:]]))
    # The body and the class head; the realness logits (and a projection) have nothing to learn.
    unused = {id(v) for layer in (disc.logits_conv, disc.class_embedding) if layer is not None
              for v in layer.trainable_variables}
    variables = [v for v in disc.trainable_variables if id(v) not in unused]
    optimizer = train_lib.make_optimizer(config, config.discriminator_learning_rate)

    @tf.function
    def step(videos, labels, seed):
        frames, frame_labels = picked_frames(data.to_model_range(videos), labels,
                                             config.image_batch_size, seed)
        with tf.GradientTape() as tape:
            _, classes = disc.with_classes(frames, training=True)
            loss = tf.reduce_mean(losses.category_loss(classes, frame_labels))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    def held_out() -> float:
        scores = []
        for k, batch in enumerate(data.make_dataset(test, config.batch_size, seed=seed + 1)
                                  .take(test_batches)):
            frames, labels = picked_frames(data.to_model_range(batch["video"]), batch["label"],
                                           config.image_batch_size, [seed + 1, k])
            scores.append(float(losses.class_accuracy(disc.with_classes(frames, training=True)[1],
                                                      labels)))
        return float(np.mean(scores))

    curve = []
    batches = iter(data.make_dataset(train, config.batch_size, seed=seed))
    for i in range(steps + 1):
        if i % every == 0:
            curve.append((i, held_out()))
            print(f"step {i}/{steps}  held-out class accuracy {curve[-1][1]:.3f}", flush=True)
        if i < steps:
            batch = next(batches)
            step(batch["video"], batch["label"], tf.constant([seed, i], tf.int64))
    return curve


def main(argv):
    del argv
    f = flags.FLAGS
    train_classifier(f.tfrecords, f.recipe, f.steps, f.every, f.seed)


if __name__ == "__main__":
    flags.DEFINE_string("tfrecords", None, "Shard set with class names (make demo's).")
    flags.DEFINE_string("recipe", "demo", "Recipe whose image discriminator, batch and Adam to use.")
    flags.DEFINE_integer("steps", 400, "Training steps.")
    flags.DEFINE_integer("every", 100, "Print the held-out accuracy every this many steps.")
    flags.DEFINE_integer("seed", 0, "Seed of the data order and of the frames picked.")
    flags.mark_flag_as_required("tfrecords")
    app.run(main)
