"""The techniques the recipe family shares: written once, used by `video64` (full size) and `demo`.

A technique is anything that changes what is learnt: a loss, a regulariser, an architecture
option, an augmentation, an EMA. The family's recipes differ only in SIZES_AND_SCHEDULE; the
test tests/trainer/test_configs.py compares their configs field by field and fails on any other
difference. To try a technique in both recipes, edit TECHNIQUES here.

Class-conditional techniques (CLASS_TECHNIQUES) apply only to a shard set with class names: on
unlabelled footage a recipe trains unconditionally (`WITHOUT_CLASSES`), never fails.
"""

TECHNIQUES = dict(
    loss="bce",                 # the paper's non-saturating loss
    gen_upsample="resize",      # nearest 2x + 3x3 conv: no checkerboard (Odena et al. 2016)
    gen_norm="content",         # batch norm whose scale and shift the content code sets (BigGAN)
    r1_gamma=10.0,              # R1 on real inputs (Mescheder et al. 2018)...
    r1_every=16,                # ...lazily, every 16 steps with weight x16 (StyleGAN2)
    video_disc_pool=2,          # D_V on clips pooled 2x in space (DVD-GAN); D_I sees full frames
    ema_decay=0.99,             # an EMA of G's weights for samples, evaluation and export
    conditional=True,           # the class into the GRU and the content code...
    conditioning="projection",  # ...with projection discriminators (Miyato & Koyama 2018)
    image_class_head="adc",     # and an ADC class network on D_I (Hou et al. 2022)
)

# The fields in which the family's recipes may differ: sizes (the preset's widths, batches) and
# the schedule (steps, learning rates, precision, cadences).
SIZES_AND_SCHEDULE = (
    "preset", "gen_channels", "image_disc_channels", "video_disc_channels",
    "batch_size", "image_batch_size", "train_steps", "more_steps",
    "learning_rate", "d_learning_rate", "mixed_precision", "instance_noise_steps",
    "image_warmup_steps", "grow_steps", "grow_fade_steps", "checkpoint_every", "summary_every", "sample_every", "eval_every",
    "eval_videos", "max_to_keep",
)

CLASS_TECHNIQUES = ("conditional", "image_class_head")
# What the class-conditional techniques become on a shard set without class names.
WITHOUT_CLASSES = dict(conditional=False, image_class_head="none")
