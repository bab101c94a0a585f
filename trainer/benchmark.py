"""Trainer throughput against baselines measured in the same run.

    python -m trainer.benchmark     # mocogan preset, batch 16, 16x64x64 clips, 5 warm-up + 10 steps
    python -m trainer.benchmark --warmup_steps=2 --steps=4   # ~7 minutes on 2 busy AVX2 cores

1. Training step, `mocogan` networks at --batch_size clips: clips/s of trainer.step (fakes
   rendered once per iteration with time folded into the batch, reused for the G step; the uint8
   batch trainer.data gives, scaled in the step), in float32 and, on CPUs with native bfloat16
   (AVX-512 BF16 or AMX), in mixed bfloat16, beside a naive loop over the same networks and losses:
   every phase renders its own fakes, frame by frame in a Python loop (float32, plain tf.function,
   no XLA). Target: >= 2x the naive loop. Both run the same video discriminator, whose Conv3D
   forward and backward passes are most of an iteration in float32, which bounds the ratio.
2. Input pipeline: clips/s of trainer.data from real shards (written with pipeline.schema) beside a
   bare parallel TFRecordDataset read of the same files (the limit), both reading the same number
   of clips. Targets: >= 0.8 of the limit, and >= 10x what the training step consumes.
   Then each video-discriminator layer alone: its share of the step, and how close to the CPU's
   peak its Conv3D runs.
3. The demo's step: clips/s of the `make demo` recipe (trainer/configs/demo.py) beside the
   recipe it replaced (the same `small` networks at batch 8 with R1 on every step and the video
   discriminator at full resolution) and the recipe while instance noise is on (its draw is the
   cost), taking turns step by step; `--only_demo` runs just this.
4. Peak resident memory of this process (ru_maxrss).
"""

from pipeline import tf_startup  # noqa: F401  (first: TensorFlow without the CUDA probe's noise)
import dataclasses
import resource
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags

from pipeline import schema, shape_drawing, shard_layout
from trainer import config as config_lib
from trainer import data
from trainer import losses
from trainer import strategy as strategy_lib
from trainer import train_lib
from trainer.configs import recipe_config

_BATCH_SIZE = flags.DEFINE_integer("batch_size", 16, "Clips per training step.")
_NUM_FRAMES = flags.DEFINE_integer("num_frames", 16, "Frames per clip.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 64, "Frame height and width.")
_WARMUP_STEPS = flags.DEFINE_integer("warmup_steps", 5, "Untimed training steps per variant first "
                                     "(tracing, oneDNN kernel creation, allocator growth).")
_STEPS = flags.DEFINE_integer("steps", 10, "Timed training steps per variant.")
_BF16 = flags.DEFINE_enum("bf16", "auto", ["auto", "on", "off"], "The mixed-bfloat16 variant: "
                          "auto runs it only on CPUs with native bfloat16 (else it is emulated).")
_ONLY_DEMO = flags.DEFINE_bool("only_demo", False, "Measure only the demo recipe's step.")
_DEMO_STEPS = flags.DEFINE_integer("demo_steps", 30, "Timed steps per demo variant.")
_PIPELINE_CLIPS = flags.DEFINE_integer("pipeline_clips", 512, "Clips written for the input test.")
_PIPELINE_FILES = flags.DEFINE_integer("pipeline_files", 8, "Shard files they are spread over.")
_PIPELINE_EPOCHS = flags.DEFINE_integer("pipeline_epochs", 20, "Passes over them per measurement "
                                       "(spread over 5 rounds per pipeline; short rounds are noise).")


def benchmark_config(mixed_precision="none") -> config_lib.Config:
    return config_lib.Config(
        model=config_lib.model_config("mocogan"),
        clip_shape=(_NUM_FRAMES.value, _IMAGE_SIZE.value, _IMAGE_SIZE.value, 3),
        batch_size=_BATCH_SIZE.value, image_batch_size=_BATCH_SIZE.value,
        mixed_precision=mixed_precision, model_dir=tempfile.mkdtemp())


def fixed_batch(config) -> dict:
    """A uint8 batch as trainer.data gives it."""
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (config.batch_size,) + tuple(config.clip_shape), dtype=np.uint8)
    return {"video": tf.constant(video), "label": tf.fill([config.batch_size], -1)}


def time_interleaved(runs: dict, steps: int, batch_size: int) -> dict:
    """clips/s of each run over `steps` calls after --warmup_steps untimed ones. The runs take
    turns call by call, so a shared machine's changing load falls on all of them alike."""
    for run in runs.values():
        for _ in range(max(_WARMUP_STEPS.value, 1)):
            run()
    seconds = dict.fromkeys(runs, 0.0)
    for _ in range(steps):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[name] += time.perf_counter() - start
    return {name: steps * batch_size / seconds[name] for name in runs}


# -- 1. training step ------------------------------------------------------------------------------


def compiled_step(config):
    """(the training loop's compiled iteration, an iterator of one fixed batch)."""
    state = train_lib.build_state(config)
    iterator = iter(tf.data.Dataset.from_tensors(fixed_batch(config)).repeat())
    return train_lib.make_train_step(tf.distribute.get_strategy(), config, state), iterator


def trainer_run(config):
    """One call: one trainer.step iteration, waited for."""
    train_step, iterator = compiled_step(config)
    return lambda: float(train_step(iterator)["loss/generator"])


class NaiveStep:
    """The same networks and losses trained the direct way: each phase samples its own fakes and
    the generator renders one frame of every video at a time."""

    def __init__(self, config):
        self.config = config
        state = train_lib.build_state(config)
        self.models, self.optimizers = state.models, state.optimizers

    def fakes(self):
        generator = self.models.generator
        latents = generator.sample_latents(self.config.batch_size)
        motion = generator.motion_codes(latents)
        frames = []
        for t in range(self.config.clip_shape[0]):
            codes = tf.concat([latents["content"], motion[:, t]], axis=-1)
            frames.append(generator.frame_generator(codes, training=True))
        return tf.stack(frames, axis=1)

    def random_frames(self, videos):
        t = tf.random.uniform([], 0, self.config.clip_shape[0], dtype=tf.int32)
        return videos[:, t]

    def update(self, name, tape, loss, model):
        grads = tape.gradient(loss, model.trainable_variables)
        self.optimizers[name].apply_gradients(zip(grads, model.trainable_variables))

    @tf.function
    def __call__(self, real_videos):
        m = self.models
        fakes = self.fakes()
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(losses.discriminator_loss(
                m.image_discriminator(self.random_frames(real_videos), training=True),
                m.image_discriminator(self.random_frames(fakes), training=True)))
        self.update("di", tape, loss, m.image_discriminator)
        fakes = self.fakes()
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(losses.discriminator_loss(
                m.video_discriminator(real_videos, training=True)[0],
                m.video_discriminator(fakes, training=True)[0]))
        self.update("dv", tape, loss, m.video_discriminator)
        with tf.GradientTape() as tape:
            fakes = self.fakes()
            loss = tf.reduce_mean(
                losses.generator_loss(m.image_discriminator(self.random_frames(fakes), training=True))
                + losses.generator_loss(m.video_discriminator(fakes, training=True)[0]))
        self.update("g", tape, loss, m.generator)
        return loss


def naive_run(config):
    step, videos = NaiveStep(config), data.to_model_range(fixed_batch(config)["video"])
    return lambda: float(step(videos))


def video_disc_layer_rates(config, repeats: int = 3) -> list[tuple[str, float, float]]:
    """(layer shape, ms, GFLOP/s) of each video-discriminator conv, forward plus the gradients of
    its input and weights, on the D_V step's batch of real and fake clips (2 x --batch_size)."""
    disc = train_lib.build_state(config).models.video_discriminator
    x = tf.random.normal([2 * config.batch_size, *config.clip_shape])
    rows = []
    for conv in disc.convs:
        x = tf.pad(x, disc.pad)

        @tf.function
        def forward_backward(inputs, conv=conv):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                loss = tf.reduce_sum(tf.square(conv(inputs, training=True)))
            return tape.gradient(loss, [inputs, *conv.trainable_variables])

        forward_backward(x)  # tracing and oneDNN primitive creation
        start = time.perf_counter()
        for _ in range(repeats):
            [g.numpy() for g in forward_backward(x)]
        seconds = (time.perf_counter() - start) / repeats
        out = conv(x)
        kernel = max(conv.trainable_variables, key=lambda v: v.shape.num_elements())
        flops = 3 * 2 * out.shape.num_elements() * kernel.shape[:-1].num_elements()  # fwd + 2 grads
        rows.append((f"{tuple(x.shape[1:])} -> {tuple(out.shape[1:])}", 1000 * seconds, flops / seconds / 1e9))
        x = out
    return rows


# -- 2. input pipeline -----------------------------------------------------------------------------


def write_benchmark_shards(directory, clip_shape) -> data.Shards:
    rng = np.random.default_rng(0)
    per_file = _PIPELINE_CLIPS.value // _PIPELINE_FILES.value
    names = []
    for i in range(_PIPELINE_FILES.value):
        names.append(shard_layout.shard_file_name("train", i, _PIPELINE_FILES.value, "none"))
        with tf.io.TFRecordWriter(f"{directory}/{names[-1]}") as writer:
            for j in range(per_file):
                frames = rng.integers(0, 256, clip_shape, dtype=np.uint8)
                clip = schema.Clip(frames=frames, label=-1, video_id=f"v{i}_{j}", start=0)
                writer.write(schema.encode_clip(clip))
    schema.write_manifest(directory, schema.Manifest(
        clip_shape=tuple(clip_shape), encoding="raw", compression="none", class_names=(),
        splits={"train": schema.SplitInfo(tuple(names), per_file * len(names), per_file * len(names))}))
    return data.resolve_shards(directory)


def clips_per_second(datasets: dict, batch_size: int, num_clips: int, rounds: int = 5) -> dict:
    """clips/s of each dataset reading num_clips in all. Each reads alone (an idle pipeline's
    prefetch threads would fill its buffers during the other's turn), in `rounds` turns with a
    fresh iterator each, so a shared machine's changing load falls on all alike."""
    seconds = dict.fromkeys(datasets, 0.0)
    batches = num_clips // (batch_size * rounds)
    for _ in range(rounds):
        for name, dataset in datasets.items():
            iterator = iter(dataset)
            next(iterator)  # start-up (threads, first file opens, shuffle fill) is not throughput
            start = time.perf_counter()
            for _ in range(batches):
                next(iterator)
            seconds[name] += time.perf_counter() - start
            del iterator  # stops its threads
    return {name: rounds * batches * batch_size / seconds[name] for name in datasets}


def pipeline_figures(clip_shape) -> tuple[float, float]:
    """(trainer.data clips/s, bare TFRecordDataset clips/s) on the same files."""
    with tempfile.TemporaryDirectory() as directory:
        shards = write_benchmark_shards(directory, clip_shape)
        num_clips = _PIPELINE_CLIPS.value * _PIPELINE_EPOCHS.value
        batch = _BATCH_SIZE.value
        rates = clips_per_second({
            "bare": data.bare_read(shards.files).repeat().batch(batch).prefetch(tf.data.AUTOTUNE),
            "ours": data.make_dataset(shards, batch, seed=0)}, batch, num_clips)
        return rates["ours"], rates["bare"]


# -- 3. the demo's step ----------------------------------------------------------------------------

# What `make demo` trained with before trainer/configs/demo.py: R1 on every step, D_V at 64x64,
# 16 frames for D_I.
DEMO_BEFORE = dict(r1_gamma=10.0, r1_every=1, video_disc_pool=1, image_disc_logits="patch",
                   image_batch_size=16, image_warmup_steps=0, instance_noise=0.0)


def demo_step_figures() -> dict:
    """clips/s of the demo recipe's iteration and of the recipe it replaced, interleaved. Lazy R1
    runs its penalty one step in k, so each timed call is k iterations of the recipe's own mix."""
    shape = (_NUM_FRAMES.value, _IMAGE_SIZE.value, _IMAGE_SIZE.value, 3)
    classes = dict(class_names=shape_drawing.SHAPES)  # the demo data's, for a conditional recipe
    now = recipe_config("demo", shape, model_dir=tempfile.mkdtemp(), image_warmup_steps=0, **classes)
    before = recipe_config("demo", shape, model_dir=tempfile.mkdtemp(), **DEMO_BEFORE, **classes)
    # Instance noise as in its annealing phase (sigma held at 0.1): the draw's own cost.
    noisy = dataclasses.replace(now, instance_noise=0.1, instance_noise_steps=0)
    runs = {"before": demo_run(before), "now": demo_run(now), "noisy": demo_run(noisy)}
    return time_interleaved(runs, _DEMO_STEPS.value, now.batch_size), now


def demo_run(config):
    """One call: as many iterations as the lazy-R1 period, phases as the training loop picks them."""
    train_step, iterator = compiled_step(config)

    def run():
        for step in range(config.r1_every):
            train_step(iterator, **train_lib.step_phases(config, step))["loss/generator"].numpy()
    return run


def print_demo_figures() -> None:
    rates, now = demo_step_figures()
    # time_interleaved counts a call as one step; a call of the new recipe is r1_every steps.
    before, after = rates["before"], rates["now"] * now.r1_every
    noisy = rates["noisy"] * now.r1_every
    print(f"Demo step, small preset, batch {now.batch_size} clips, {_DEMO_STEPS.value} timed calls each")
    print(f"  before: R1 every step, full-size D_V, 16 D_I frames:     {before:7.2f} clips/s "
          f"({now.batch_size / before:.3f} s/step)")
    print(f"  now: trainer/configs/demo.py:                           {after:7.2f} clips/s "
          f"({now.batch_size / after:.3f} s/step)  {after / before:.2f}x")
    print(f"  now, while instance noise 0.1 lasts:                    {noisy:7.2f} clips/s "
          f"({now.batch_size / noisy:.3f} s/step)  {noisy / after:.2f}x of now")


# -- report ----------------------------------------------------------------------------------------


def main(argv):
    del argv
    if _ONLY_DEMO.value:
        print_demo_figures()
        return
    config = benchmark_config()
    print(f"MoCoGAN training step, mocogan preset, batch {config.batch_size} clips of "
          f"{config.clip_shape}, {_WARMUP_STEPS.value} warm-up + {_STEPS.value} timed steps each, "
          "the variants taking turns step by step")
    runs = {"naive": naive_run(config), "fp32": trainer_run(config)}
    with_bf16 = _BF16.value == "on" or (_BF16.value == "auto" and strategy_lib.native_bf16())
    if with_bf16:
        runs["bf16"] = trainer_run(benchmark_config("bf16"))
    rates = time_interleaved(runs, _STEPS.value, config.batch_size)
    naive = rates["naive"]
    print(f"  naive loop (frame by frame, fakes per phase, fp32): {naive:8.2f} clips/s")
    print(f"  trainer.step fp32:                                  {rates['fp32']:8.2f} clips/s  "
          f"{rates['fp32'] / naive:.2f}x naive")
    best = max(v for k, v in rates.items() if k != "naive")
    if with_bf16:
        print(f"  trainer.step mixed bf16:                            {rates['bf16']:8.2f} clips/s  "
              f"{rates['bf16'] / naive:.2f}x naive")
    elif _BF16.value == "auto":
        print("  trainer.step mixed bf16: not run, this CPU has no native bfloat16 (--bf16=on forces it)")
    print(f"  where the time goes: the video discriminator's Conv3D layers, forward and both "
          f"gradients, batch {2 * config.batch_size} (real and fake):")
    for shape, ms, gflops in video_disc_layer_rates(config):
        print(f"    {shape:42s} {ms:7.0f} ms {gflops:6.0f} GFLOP/s")
    ours, bare = pipeline_figures(config.clip_shape)
    print(f"Input pipeline, {_PIPELINE_CLIPS.value} raw clips in {_PIPELINE_FILES.value} shards, "
          f"batches of {config.batch_size}")
    print(f"  bare TFRecordDataset read (limit): {bare:9.1f} clips/s")
    print(f"  trainer.data (shuffle, parse):     {ours:9.1f} clips/s  {ours / bare:.2f}x the limit, "
          f"{ours / best:.0f}x the fastest training step")
    print_demo_figures()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Peak resident memory of this process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    app.run(main)
