"""The MoCoGAN paper's setting (Tulyakov et al., CVPR 2018), for full-size data on a GPU or TPU.

    python -m trainer.main --recipe=mocogan --tfrecords=shards/ucf101 --model_dir=runs/ucf101

The paper's networks, batch 16 clips and 32 frames, the non-saturating loss, Adam 2e-4 with betas
(0.5, 0.999), no regulariser. On this project's 2-core CPU a step takes about 10 s, so this recipe
is for accelerators: 100,000 steps is the scale of the paper's runs.
"""

FLAGS = dict(
    preset="mocogan",
    batch_size=16,
    image_batch_size=32,
    learning_rate=2e-4,
    loss="bce",
    train_steps=100_000,
)
