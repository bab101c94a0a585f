"""The `make demo` recipe: MoCoGAN on Shape Motion, sized for a 2-core laptop CPU.

    python -m trainer.main --recipe=demo --tfrecords=demo/shards --model_dir=demo/run

About 7-10 minutes of training (1,800 steps at 26-36 clips/s) on a 2-core AVX2 machine, and
`make demo` 7 min 47 s to 11 min 50 s in all from a fresh clone, on the 1,000 Shape Motion
videos `make demo` writes; a rerun trains 1,800 more from the last checkpoint.

What the generator is (seventeenth to nineteenth sessions; BUILD.md, "The demo", has the
probe tables):
- each video is one sprite over black: its outline a superellipse |x|^n + |y|^n <= r^n whose
  size r and exponent n the content code sets (`sprite_shape="superellipse"`; a disc at n = 2,
  a square as n grows), revealing one colour per video that the content code sets too;
- every outline starts as a disc (`sprite_start_exponent=3`), and the size and exponent read the
  content code (with the class) directly as well as through a hidden layer, the exponent
  clipped to its range with its gradient passed through (`sprite_code="direct"`). Through the
  hidden layer alone, which way the classes went was a coin per run: both classes settled on
  one shape together in six runs of ten and stayed there. With the direct reading, all seven
  probes (three seeds) drew discs in the circle class (box fill 0.79, a disc's pi/4) and squares in
  the square class (0.996);
- the GRU's first motion code sets where the sprite starts and its one velocity, and the path is
  mirrored at the frame's borders, the sprite's own size inside them
  (`motion_path="constant_velocity"`): straight tracks between bounces by construction. Per-frame
  velocities (`"bounce"`) wandered (fd_shapes 378-454), and offsets read off each frame's code
  (`"free"`, the recipe before) were what fd_shapes charged most after the shapes;
- a track head on the video discriminator (`track_head_units=64`): an MLP on where each clip's
  foreground starts and how fast and which way it moves over its first frames, with a logit and
  a loss of its own beside D_V's. On one feature net it lowered fd_shapes from 38.9 to 25.7,
  34.4 and 38.1 on seeds 0-2 (5.0x to 3.3x-4.9x real); it learnt the data's speeds, hardly
  their directions;
- an ADC class network on the image discriminator (`image_class_head="adc"`: it learns real
  frames as their class and generated frames as classes of their own), which is what makes the
  square class draw squares: without it, both classes settled on rounded squares.
Measured at 1,800 steps, a fresh-clone `make demo` (nineteenth session): fd_shapes 31.9 (4.1x
real), single blob 1.000, ACD 0.000, speed 19% slow, in 7 min 47 s; its probes scored 25.7,
34.4 and 38.1 (3.3x-4.9x; seed 2's speed 21% slow) on seeds 0-2, and the recipe before 38.9
(5.0x) on the same feature net.

What the recipe keeps from the sessions before (BUILD.md has their rows):
- the video discriminator judges clips pooled 2x in space (DVD-GAN's temporal discriminator
  does the same) and R1 runs lazily every 16 steps with weight 16 (StyleGAN2): a step costs
  about a third of what it did, so the same minutes train three times the steps;
- 64 frames a step for the image discriminator instead of 16: with 4x the frames D_I's signal
  is what darkened the backgrounds and gathered each video's colour into one blob;
- one colour per video under a mask over black (`gen_appearance="black"`), the mask soft in
  training, pushed towards 0 or 1 by a penalty on m * (1 - m) at 10 (`mask_penalty`), and 0/1
  when sampling (`gen_mask="hard_at_sampling"`): every blob is exactly its video's colour on
  exact black (ACD 0.000);
- the GRU takes its noise at the first frame only (`motion_noise="first_frame"`): the motion
  is fixed at the start, as Shape Motion's objects keep their velocity;
- one sprite per video that each frame moves (`gen_motion="translate"`), inside a window of
  0.22 of the frame (`sprite_radius`; 14 of 64 pixels, where the largest square's corner lies);
- the class (Shape Motion's folders, circle and square) joins the content code, and both
  discriminators are projection discriminators (`conditional`, `conditioning="projection"`).
Instance noise is not in it: it lowered fd_shapes on one feature net but not on the report's
stable one, and makes a step 1.25x as long. The Makefile's 1,000 videos instead of 300 keep D_V
from learning the clips by heart (its loss stays near 0.75 instead of falling to 0.15-0.5).
"""

FLAGS = dict(
    preset="small",
    batch_size=8,
    image_batch_size=64,
    learning_rate=5e-4,
    r1_gamma=10.0,
    r1_every=16,
    video_disc_pool=2,
    gen_appearance="black",
    gen_mask="hard_at_sampling",
    motion_noise="first_frame",
    gen_motion="translate",
    sprite_radius=0.22,
    sprite_shape="superellipse",
    sprite_start_exponent=3.0,
    sprite_code="direct",
    track_head_units=64,
    motion_path="constant_velocity",
    conditional=True,
    conditioning="projection",
    image_class_head="adc",
    mask_penalty=10.0,
    ema_decay=0.99,
    more_steps=1800,
    checkpoint_every=500,
    summary_every=100,
    sample_every=500,
)
