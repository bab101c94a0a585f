"""The `make demo` recipe: the full-size recipe (trainer/configs/video64.py) scaled down for a
2-core laptop CPU, in sizes and schedule only; the techniques are the family's
(trainer/configs/techniques.py).

    python -m trainer.main --recipe=demo --tfrecords=demo/shards --model_dir=demo/run

About 7-10 minutes of training (1,800 steps) on a 2-core CPU, on the 1,000 Shape Motion videos
`make demo` writes; a rerun trains 1,800 more from the last checkpoint. Nothing in it knows how
its data were made: the same recipe trains on any shard set of 64x64 clips.
"""

from trainer.configs.techniques import TECHNIQUES

SIZES_AND_SCHEDULE = dict(
    preset="small",             # the paper's structure, narrow layers...
    gen_channels=(128, 64, 32, 16),  # ...but a frame generator twice the preset's width
    batch_size=8,
    image_batch_size=64,
    learning_rate=5e-4,
    more_steps=1800,
    mixed_precision="auto",      # bf16 where the hardware computes it natively (GPU, TPU, CPU)
    checkpoint_every=500,
    summary_every=100,
    sample_every=500,
)

FLAGS = {**TECHNIQUES, **SIZES_AND_SCHEDULE}
