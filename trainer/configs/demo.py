"""The `make demo` recipe: the full-size recipe (trainer/configs/video64.py) scaled down for a
2-core laptop CPU, in sizes and schedule only; the techniques are the family's
(trainer/configs/techniques.py).

    python -m trainer.main --recipe=demo --tfrecords=demo/shards --model_dir=demo/run

3,000 steps at batch 8: about 12 minutes on 2 AMD EPYC Zen 4 cores in mixed bfloat16 (AVX-512
BF16; `mixed_precision="auto"`), twice that where bfloat16 is not native and the step runs in
float32. A rerun trains 3,000 more from the last checkpoint. Nothing in it knows how its data
were made: the same recipe trains on any shard set of 64x64 clips.

Steps are what this budget buys quality with: on the 1,000 Shape Motion videos `make demo`
writes, FVD (N = 256, real against real 22.5) fell from 145.5 at 1,800 steps to 90.0 at 2,400
and 63.0 at 3,000 (BUILD.md, "The demo", has the lever table).
"""

from trainer.configs.techniques import TECHNIQUES

SIZES_AND_SCHEDULE = dict(
    preset="small",             # the paper's structure, narrow layers...
    gen_channels=(128, 64, 32, 16),  # ...but a frame generator twice the preset's width
    batch_size=8,
    image_batch_size=64,
    learning_rate=5e-4,
    more_steps=3000,
    mixed_precision="auto",      # bf16 where the hardware computes it natively (GPU, TPU, CPU)
    checkpoint_every=500,
    summary_every=100,
    sample_every=500,
)

FLAGS = {**TECHNIQUES, **SIZES_AND_SCHEDULE}
