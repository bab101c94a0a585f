"""The full-size recipe for 64x64 video (UCF-101, BAIR, a folder of footage): MoCoGAN's networks
at the paper's widths with the family's techniques (trainer/configs/techniques.py).

    python -m trainer.main --recipe=video64 --tfrecords=shards/ucf101 --model_dir=runs/ucf101

The demo's recipe (trainer/configs/demo.py) is this one scaled down in sizes and schedule only.
On a class-labelled shard set (UCF-101's actions, a folder's sub-folders) it is class-conditional;
on unlabelled footage (BAIR) it trains unconditionally. 100,000 steps at batch 16 is the scale
of the paper's runs: a GPU or TPU job (a step of the paper-sized networks takes about 10 s on a
2-core CPU); mixed bf16 where the hardware computes it natively (--mixed_precision=auto).
"""

from trainer.configs.techniques import TECHNIQUES

SIZES_AND_SCHEDULE = dict(
    preset="mocogan",
    batch_size=16,
    image_batch_size=64,
    learning_rate=2e-4,
    train_steps=100_000,
    mixed_precision="auto",      # bf16 where the hardware computes it natively (GPU, TPU, CPU)
    checkpoint_every=1000,
    summary_every=100,
    sample_every=1000,
)

FLAGS = {**TECHNIQUES, **SIZES_AND_SCHEDULE}
