"""The MoCoGAN trainer.

TensorFlow turns oneDNN on by default only on CPUs with AVX-512/AMX; without it, Conv3D gradients
(the video discriminator) run several hundred times slower on AVX2 CPUs. The switch is read when
TensorFlow is imported, so it is set here, before any trainer module imports it; a value the user
set is kept.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
