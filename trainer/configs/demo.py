"""The `make demo` recipe: MoCoGAN's networks, narrow, sized for a 2-core laptop CPU.

    python -m trainer.main --recipe=demo --tfrecords=demo/shards --model_dir=demo/run

About 7-10 minutes of training (1,800 steps) on a 2-core AVX2 machine, on the 1,000 Shape Motion
videos `make demo` writes; a rerun trains 1,800 more from the last checkpoint.

The generator is the paper's (content code, a GRU fed fresh noise at every step, a frame
generator), with the `small` preset's widths. Nothing in the recipe knows how its data were made:
the techniques are generic, and the same recipe trains on any shard set.
- The video discriminator judges clips pooled 2x in space (DVD-GAN's temporal discriminator does
  the same), and R1 runs lazily every 16 steps with weight 10 (StyleGAN2): a step costs about a
  third of what it did.
- 64 frames a step for the image discriminator.
- The class (Shape Motion's folders, circle and square) joins the content code, both
  discriminators are projection discriminators, and an ADC class network on the image
  discriminator learns real and generated frames by class.
- An EMA of the generator's weights for samples and evaluation.
"""

FLAGS = dict(
    preset="small",
    batch_size=8,
    image_batch_size=64,
    learning_rate=5e-4,
    r1_gamma=10.0,
    r1_every=16,
    video_disc_pool=2,
    conditional=True,
    conditioning="projection",
    image_class_head="adc",
    ema_decay=0.99,
    more_steps=1800,
    checkpoint_every=500,
    summary_every=100,
    sample_every=500,
)
