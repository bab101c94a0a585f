"""The `make demo` recipe: the `small` MoCoGAN on Shape Motion, sized for a 2-core laptop CPU.

    python -m trainer.main --recipe=demo --tfrecords=demo/shards --model_dir=demo/run --more_steps=3000

Chosen from the probe table in BUILD.md (`python -m trainer.configs.demo_probes` reruns it).
"""

FLAGS = dict(
    preset="small",
    batch_size=8,
    image_batch_size=16,
    learning_rate=5e-4,
    r1_gamma=10.0,
    ema_decay=0.99,
    checkpoint_every=500,
    summary_every=50,
    sample_every=500,
)
